"""Writing outputs safely: every file goes through a temp file + rename, and output
folders are probed before long work starts, so a crash or a bad path never loses a file
that was already written."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ccreid.errors import CCReIDError


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
        fd, probe = tempfile.mkstemp(prefix=".write-test.", dir=folder)  # unique per process
        os.close(fd)
        os.unlink(probe)
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


RUN_FILES = ("config.yaml", "metrics.json", "metrics.csv", "results.json", "results.md",
             "checkpoints", "tb")  # fmt: skip
LOCK_NAME = ".ccreid.lock"


def prepare_run_folder(run_dir: Path, resume: bool, overwrite: bool) -> None:
    """Refuse to write over an existing run unless asked: ``resume`` continues it,
    ``overwrite`` removes its files first (so TensorBoard never mixes two runs)."""
    import shutil

    run_dir = Path(run_dir)
    existing = [name for name in RUN_FILES if (run_dir / name).exists()]
    if not existing or resume:
        return
    if not overwrite:
        raise RunFolderError(
            f"{run_dir} already holds a run ({', '.join(existing)}): pass --resume to continue "
            "it, --overwrite to replace it, or choose another name= / output_dir="
        )
    for name in existing:
        target = run_dir / name
        shutil.rmtree(target) if target.is_dir() else target.unlink()


class RunLock:
    """An exclusive lock file held for a run's lifetime: two processes never write one run
    folder at once. A lock left by a process that no longer exists is taken over."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / LOCK_NAME
        self.held = False

    def __enter__(self) -> RunLock:
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._owner()
                if owner is not None and _alive(owner):
                    raise RunFolderError(
                        f"{self.path.parent} is being written by another ccreid process "
                        f"(pid {owner}); wait for it or choose another name="
                    ) from None
                self.path.unlink(missing_ok=True)  # stale: its process is gone
                continue
            with os.fdopen(fd, "w") as fh:
                fh.write(str(os.getpid()))
            self.held = True
            return self
        raise RunFolderError(f"cannot take the lock {self.path}")

    def _owner(self) -> int | None:
        try:
            return int(self.path.read_text().strip())
        except (OSError, ValueError):
            return None

    def __exit__(self, *exc: object) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunFolderError(CCReIDError):
    """A run folder that already holds a run, or that another process is writing."""


def refuse_nested_folders(source: Path, out: Path) -> None:
    """An output folder must not be the input folder, inside it, or around it: writing
    masks there would overwrite a dataset's PNG images or parse its own output."""
    src, dst = Path(source).resolve(), Path(out).resolve()
    if dst == src or dst.is_relative_to(src) or src.is_relative_to(dst):
        raise RunFolderError(
            f"output folder {out} and image folder {source} overlap: write the masks to a "
            "folder outside the dataset (e.g. data/prcc-masks)"
        )


def check_output_file(path: Path, *suffixes: str) -> None:
    """Before long work: ``path`` is a file name ending in one of ``suffixes``, in a folder
    we can write."""
    from ccreid.errors import InputError

    path = Path(path)
    endings = " or ".join(suffixes)
    if path.is_dir():
        raise InputError(f"output {path} is a folder: give a file name ending in {endings}")
    if path.suffix.lower() not in suffixes:
        raise InputError(f"output {path} must end in {endings}")
    ensure_writable(path.parent)
