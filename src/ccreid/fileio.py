"""Writing outputs safely: every file goes through a temp file + rename, output folders
are probed before long work starts, and a folder lock (`FolderLock`) keeps two
processes from writing one folder at once, so a crash, a bad path or a second process
never loses a file that was already written."""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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


LOCK_NAME = ".ccreid.lock"
LOCK_POLL_S = 0.2


@dataclass(frozen=True)
class LockHolder:
    """Who holds a folder lock: the lock file's lines are pid, host name and command."""

    pid: int
    host: str = ""
    command: str = ""

    @classmethod
    def me(cls) -> LockHolder:
        argv = [Path(sys.argv[0]).name if sys.argv else "python", *sys.argv[1:]]
        return cls(os.getpid(), socket.gethostname(), " ".join(argv)[:300])

    @classmethod
    def read(cls, path: Path) -> LockHolder | None:
        """None when the file is missing or holds no pid (a writer killed mid-write)."""
        try:
            lines = path.read_text(errors="replace").splitlines()
            return cls(int(lines[0].strip()), *(line.strip() for line in lines[1:3]))
        except (OSError, ValueError, IndexError):
            return None

    def text(self) -> str:
        return f"{self.pid}\n{self.host}\n{' '.join(self.command.split())}\n"

    def alive(self) -> bool:
        """A process on another host cannot be checked: its lock counts as held."""
        return (self.host not in ("", socket.gethostname())) or _alive(self.pid)

    def describe(self) -> str:
        where = f" on {self.host}" if self.host not in ("", socket.gethostname()) else ""
        return f"(pid {self.pid}){where}" + (f" running `{self.command}`" if self.command else "")


class FolderLock:
    """An exclusive lock file (``.ccreid.lock``) held while a process writes a folder (a
    training run, a gallery index): two processes never write one folder at once.

    The file names its holder (pid, host, command) for the refusal message. A lock whose
    process no longer exists is taken over; the check-and-take runs under an OS lock
    (``flock`` on the folder, released by the kernel if the process dies) so two processes
    can never both take over one stale lock. ``wait`` seconds: how long to wait for a live
    holder before refusing (``on_wait`` hears once that we are waiting).
    """

    def __init__(self, folder: Path, hint: str = "wait for it", wait: float = 0.0,
                 on_wait: Callable[[str], None] | None = None) -> None:  # fmt: skip
        self.path = Path(folder) / LOCK_NAME
        self.hint, self.wait, self.on_wait = hint, wait, on_wait
        self.held = False

    def __enter__(self) -> FolderLock:
        deadline = time.monotonic() + self.wait
        while (holder := self._try_take()) is not None:
            if time.monotonic() >= deadline:
                raise RunFolderError(self._busy(holder))
            if self.on_wait is not None:
                self.on_wait(f"{self.path.parent} is being written by another ccreid process "
                             f"{holder.describe()}: waiting up to {self.wait:.0f} s")  # fmt: skip
                self.on_wait = None
            time.sleep(LOCK_POLL_S)
        self.held = True
        return self

    def _try_take(self) -> LockHolder | None:
        """Take the lock, or return its live holder."""
        with _folder_guard(self.path.parent):
            holder = LockHolder.read(self.path)
            if holder is not None and holder.alive():
                return holder
            self.path.unlink(missing_ok=True)  # stale (its process is gone) or unreadable
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:  # only without flock: another process won the race
                return LockHolder.read(self.path) or LockHolder(-1, "", "unknown")
            with os.fdopen(fd, "w", errors="backslashreplace") as fh:
                fh.write(LockHolder.me().text())
        return None

    def _busy(self, holder: LockHolder) -> str:
        waited = f" (waited {self.wait:.0f} s)" if self.wait else ""
        return (f"{self.path.parent} is being written by another ccreid process "
                f"{holder.describe()}{waited}; {self.hint}")  # fmt: skip

    def __exit__(self, *exc: object) -> None:
        if not self.held:
            return
        with _folder_guard(self.path.parent):
            holder = LockHolder.read(self.path)
            if holder is None or holder.pid == os.getpid():
                self.path.unlink(missing_ok=True)
        self.held = False


class RunLock(FolderLock):
    """The lock of a training run folder, held for the run's lifetime."""

    def __init__(self, run_dir: Path) -> None:
        super().__init__(run_dir, hint="wait for it or choose another name=")


@contextlib.contextmanager
def _folder_guard(folder: Path) -> Iterator[None]:
    """An exclusive ``flock`` on the folder itself for a few file operations; a no-op where
    ``fcntl`` does not exist (there ``O_EXCL`` alone protects the lock file)."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the flock


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
    """An output folder (a run, an index) that already holds results, overlaps its input,
    or that another process is writing."""


def refuse_nested_folders(source: Path, out: Path, what: str = "the masks",
                          example: str = "data/prcc-masks") -> None:  # fmt: skip
    """An output folder must not be the input folder, inside it, or around it: writing
    masks (or an index) there would overwrite a dataset's own files or read its own
    output back as input."""
    src, dst = Path(source).resolve(), Path(out).resolve()
    if dst == src or dst.is_relative_to(src) or src.is_relative_to(dst):
        raise RunFolderError(
            f"output folder {out} and image folder {source} overlap: write {what} to a "
            f"folder outside the dataset (e.g. {example})"
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


def read_json(path: Path, expected: type[dict] | type[list], what: str) -> Any:
    """A JSON file that ccreid wrote (a run's results.json, metrics.json...) as a JSON
    object (``dict``) or array (``list``). A missing, truncated or mis-shaped file is one
    InputError naming it; ``what`` says which program writes the file and when."""
    import json

    from ccreid.errors import InputError

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path} does not exist ({what})")
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 JSON text ({what})") from None
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            f"truncated or edited? ({what})"
        ) from None
    if not isinstance(value, expected):
        raise InputError(
            f"{path}: expected a JSON {json_kind(expected())}, found {json_kind(value)} ({what})"
        )
    return value


def json_kind(value: Any) -> str:
    """A parsed JSON value's kind as JSON names it (for error messages)."""
    kinds = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return kinds.get(type(value), "number")
