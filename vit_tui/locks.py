"""One writer per folder: an ``fcntl.flock`` lock file holding the writer's pid.

A training run holds ``runs/<name>/.lock`` for its whole life (``RunFolder.lock``) and a dataset build holds
``data/.<name>.lock`` next to the folder it builds. The kernel drops the lock when the holder
dies however it dies, so "is someone writing here?" is answered by the lock, never by guessing
from a pid that may have been reused. Headless: no textual, no rich.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from pathlib import Path

from .errors import UserError

PID_WAIT_TRIES = 50


class BusyError(UserError):
    """Another process holds the lock on this folder."""

    def __init__(self, subject: str, pid: int, what: str) -> None:
        who = f"pid {pid}" if pid > 0 else "another process"
        super().__init__(subject, f"is {what} ({who}); wait for it to end or stop it first")
        self.pid = pid


class FolderLock:
    """An exclusive, non-blocking lock on ``path``; ``subject`` names the folder in errors.

    ``remove`` deletes the lock file on release (for lock files beside a folder, so they do not
    pile up); a holder checks after locking that the file it locked is still the one at ``path``.
    """

    def __init__(self, path: str | os.PathLike, subject: str, what: str = "running", remove: bool = False) -> None:
        self.path = Path(path)
        self.subject = subject
        self.what = what
        self.remove = remove
        self._fd: int | None = None

    def acquire(self) -> FolderLock:
        """Take the lock or raise ``BusyError`` naming the holder's pid."""
        while self._fd is None:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pid = _read_pid(fd)
                os.close(fd)
                raise BusyError(self.subject, pid, self.what) from None
            if _same_file(fd, self.path):
                # Write before cutting, so a reader never finds the file empty once a pid was in it.
                text = f"{os.getpid()}\n".encode()
                os.pwrite(fd, text, 0)
                os.ftruncate(fd, len(text))
                self._fd = fd
            else:  # the previous holder removed it between our open and lock; lock the new one
                os.close(fd)
        return self

    def release(self) -> None:
        """Let go (removing the file first when asked, while still holding it)."""
        if self._fd is None:
            return
        if self.remove:
            with contextlib.suppress(OSError):
                self.path.unlink()
        else:  # an old pid left in the file would be read as the next holder's before it writes its own
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
        os.close(self._fd)
        self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def holder(path: str | os.PathLike) -> int | None:
    """The pid holding the lock at ``path`` (0 when unreadable), or None when nobody holds it.

    A lock this very process holds counts as held, so a process asking about its own run is
    told it is running.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_pid(fd)
        return None
    finally:
        os.close(fd)  # also drops the shared lock taken to look


def build_lock(target: str | os.PathLike) -> FolderLock:
    """The lock of a dataset folder being built: ``.<name>.lock`` beside it."""
    target = Path(target)
    return FolderLock(target.parent / f".{target.name}.lock", str(target), "being built", remove=True)


def _read_pid(fd: int) -> int:
    """The pid in a held lock file; a holder that has just locked gets a moment to write it.

    A pid of a process that no longer exists is a killed holder's, not yet overwritten.
    """
    for _ in range(PID_WAIT_TRIES):
        try:
            words = os.pread(fd, 32, 0).decode("ascii", "replace").split()
            if words and pid_alive(int(words[0])):
                return int(words[0])
        except (OSError, ValueError):
            return 0
        time.sleep(0.01)
    return 0


def pid_alive(pid: int) -> bool:
    """True when a process with this id exists (and is not a zombie)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():
        try:
            return stat.read_text().split(") ", 1)[1][:1] != "Z"
        except (OSError, IndexError):
            return True
    return True


def _same_file(fd: int, path: Path) -> bool:
    try:
        here = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (here.st_dev, here.st_ino) == (mine.st_dev, mine.st_ino)
