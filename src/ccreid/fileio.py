"""Writing outputs safely: every file goes through a temp file + rename, and output
folders are probed before long work starts, so a crash or a bad path never loses a file
that was already written."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def ensure_writable(folder: Path, create: bool = True) -> None:
    """Fail before any long work when ``folder`` cannot be created or written.

    ``create=False`` checks without leaving a folder behind (for checks that precede
    other checks which may still refuse the run).
    """
    folder = Path(folder)
    if not create:
        existing = next(p for p in (folder, *folder.parents) if p.exists())
        if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            why = "not a folder" if not existing.is_dir() else "not writable"
            raise PermissionError(f"cannot write to output folder {folder}: {existing} is {why}")
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise PermissionError(
            f"cannot write to output folder {folder}: {exc.strerror or exc}"
        ) from None


def atomic_write(
    path: Path, write: Callable[[Path], Any], suffix: str = ".tmp", fsync: bool = True
) -> None:
    """Call ``write(tmp_path)`` then rename onto ``path``; the old file survives a crash.

    ``fsync`` also protects against power loss; per-image outputs skip it for speed.
    """
    path = Path(path)
    ensure_parent(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:40]}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(
            tmp, 0o666 & ~current_umask()
        )  # mkstemp makes 0600; a user's file honours the umask
        if fsync:
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
        if fsync:
            _fsync_folder(path.parent)  # the rename itself survives a power loss
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def current_umask() -> int:
    """The process umask (read by setting and restoring it; there is no getter)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some platforms cannot open folders; the file itself is synced
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text))


def ensure_parent(path: Path) -> None:
    """Create the folder of an output file, naming the file when that is impossible."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PermissionError(
            f"cannot write {path}: its folder {path.parent} cannot be created "
            f"({exc.strerror or exc})"
        ) from None
