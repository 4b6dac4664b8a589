"""Every file the program writes whole goes through here: all-or-nothing, durable, one permission policy.

A write goes to a uniquely named temp file in the target's folder (so two writers of the same
file never share a temp name), is flushed and ``fsync``-ed, renamed onto the target with
``os.replace`` and the folder is ``fsync``-ed, so a crash at any point leaves either the old file
or the new one, and a failed write leaves no temp file behind. New files get the mode a plain
``open()`` would give them under the umask read once at import: the process umask is never
changed afterwards (flipping it from worker threads would race with other threads' writes).

A full disk or an unwritable place becomes ``WriteError`` (a ``UserError``): one line naming
the file and what to do. Headless: no torch, textual or rich here.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

from .errors import UserError


def _read_umask() -> int:
    # The only way to read the umask is to set it; done once, before any worker thread exists.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


UMASK = _read_umask()
FILE_MODE = 0o666 & ~UMASK


class WriteError(UserError, OSError):
    """A file could not be written (full disk, no permission, not a folder).

    Also an ``OSError`` carrying the original ``errno``, so code that already tolerates a failed
    write (a read-only dataset's cache, the app's settings) keeps tolerating it.
    """

    def __init__(self, subject: str, why: str, code: int | None = None) -> None:
        super().__init__(subject, why)
        self.errno = code
        self.strerror = why

    def __str__(self) -> str:
        return f"{self.subject}: {self.why}"  # OSError's own form would put "[Errno N]" first


def _free_bytes(folder: Path) -> int | None:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"


def write_error(path: str | os.PathLike, exc: OSError, needed: int | None = None) -> WriteError:
    """The one-line ``WriteError`` for an ``OSError`` met while writing ``path``."""
    path = Path(path)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        free = _free_bytes(path.parent if path.parent.exists() else Path("."))
        detail = ""
        if needed is not None:
            detail = f" ({_size(needed)} needed" + (f", {_size(free)} free)" if free is not None else ")")
        return WriteError(str(path), f"the disk is full{detail}; free some space and try again", exc.errno)
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        why = "cannot write here (permission denied or read-only); choose a writable place"
        return WriteError(str(path), why, exc.errno)
    if exc.errno in (errno.ENOTDIR, errno.EEXIST):
        return WriteError(str(path), "a file is in the way where a folder is needed; choose another place", exc.errno)
    return WriteError(str(path), f"cannot write ({exc.strerror or exc}); check the place and try again", exc.errno)


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable; some file systems refuse fsync on a folder, which is fine.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class _Recorder:
    """A file object that remembers the first ``OSError`` of its writes.

    Some writers (``torch.save``) turn a failed write into their own error type; the recorded
    one tells that the cause was the disk, and which errno it had.
    """

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self.error: OSError | None = None

    def write(self, data) -> int:
        try:
            return self._handle.write(data)
        except OSError as exc:
            self.error = self.error or exc
            raise

    def __getattr__(self, name: str):
        return getattr(self._handle, name)


def _temp_file(path: Path, write: Callable[[BinaryIO], object], mkdir: bool) -> str:
    """A new file beside ``path`` holding what ``write`` wrote, flushed to disk; its name.

    On failure the temp file is removed before the error goes on, so the free space a disk-full
    message quotes is the space there really is.
    """
    if mkdir:
        path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), FILE_MODE)  # mkstemp makes owner-only files
            recorder = _Recorder(handle)
            try:
                write(recorder)
            except Exception as exc:
                if recorder.error is None or isinstance(exc, OSError):
                    raise
                raise recorder.error from exc
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return tmp


def write_with(
    path: str | os.PathLike, write: Callable[[BinaryIO], object], *, mkdir: bool = True, size: int | None = None
) -> Path:
    """Write ``path`` by calling ``write(binary file object)``; all or nothing. Returns the path.

    ``size`` (when known) is the number of bytes it takes, quoted when the disk is full.
    """
    path = Path(path)
    try:
        tmp = _temp_file(path, write, mkdir)
        try:
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        _fsync_dir(path.parent)
    except WriteError:
        raise
    except OSError as exc:
        raise write_error(path, exc, size) from None
    return path


def write_together(contents: Mapping[str | os.PathLike, bytes], *, mkdir: bool = True) -> list[Path]:
    """Write several files as one: all the new ones, or all the old ones left as they were.

    Every new file is written whole beside its target first (a full disk stops here, before any
    target is touched); only then are they renamed into place. Should a rename fail, the files
    already replaced get their old versions back. Returns the paths, in order.
    """
    paths = [Path(p) for p in contents]
    sizes = {path: len(data) for path, data in zip(paths, contents.values())}
    temps: list[str] = []
    backups: dict[Path, str | None] = {}
    current = paths[0]
    try:
        for path, data in zip(paths, contents.values()):
            current = path
            temps.append(_temp_file(path, lambda handle, data=data: handle.write(data), mkdir))
        for path, tmp in zip(paths, temps):
            current = path
            backups[path] = _hard_link_backup(path)
            os.replace(tmp, path)
            _fsync_dir(path.parent)
    except BaseException as exc:
        _put_back(backups)
        for tmp in temps:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        _drop_backups(backups)
        if isinstance(exc, OSError) and not isinstance(exc, WriteError):
            raise write_error(current, exc, sizes[current]) from None
        raise
    _drop_backups(backups)
    return paths


def _hard_link_backup(path: Path) -> str | None:
    """A second name for ``path``'s current file, so it can be put back; None when there is none."""
    if not path.is_file():
        return None
    backup = f"{path.parent}/.{path.name}.{os.getpid()}.{id(path)}.old"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(backup)
    os.link(path, backup)
    return backup


def _put_back(backups: dict[Path, str | None]) -> None:
    for path, backup in backups.items():
        with contextlib.suppress(OSError):
            if backup is None:
                path.unlink(missing_ok=True)
            else:
                os.replace(backup, path)


def _drop_backups(backups: dict[Path, str | None]) -> None:
    for backup in backups.values():
        if backup is not None:
            with contextlib.suppress(OSError):
                os.unlink(backup)


def write_bytes(path: str | os.PathLike, data: bytes, *, mkdir: bool = True) -> Path:
    """Write ``data`` to ``path``; all or nothing."""
    return write_with(path, lambda handle: handle.write(data), mkdir=mkdir, size=len(data))


def write_text(path: str | os.PathLike, text: str, *, mkdir: bool = True) -> Path:
    """Write ``text`` (UTF-8) to ``path``; all or nothing."""
    return write_bytes(path, text.encode("utf-8"), mkdir=mkdir)


def check_writable_dir(folder: str | os.PathLike, what: str) -> Path:
    """Create ``folder`` if needed and prove a file can be made in it; else a one-line ``WriteError``.

    ``what`` names the option (e.g. ``--out``) so the message points at what to change.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe(folder)
    except OSError as exc:
        err = write_error(folder, exc)
        raise WriteError(f"{what} {folder}", err.why, err.errno) from None
    return folder


def probe(folder: str | os.PathLike) -> None:
    """Prove a file can be made in the existing ``folder`` by making one and removing it; else OSError."""
    if not Path(folder).is_dir():
        raise OSError(errno.ENOTDIR, "Not a directory")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".probe.", suffix=".tmp")
    os.close(fd)
    os.unlink(tmp)


@contextlib.contextmanager
def staged_folder(path: str | os.PathLike) -> Iterator[Path]:
    """A folder filled in a temporary sibling of ``path`` and renamed into place only when all went well.

    An existing ``path`` (the caller has checked it may be replaced) is swapped out whole and
    removed afterwards; an error or Ctrl+C while filling removes the temporary folder and leaves
    ``path`` as it was.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        stage = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    except OSError as exc:
        raise write_error(path, exc) from None
    try:
        yield stage
        os.chmod(stage, 0o777 & ~UMASK)  # mkdtemp made it private
        _swap_into_place(stage, path)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def _swap_into_place(stage: Path, path: Path) -> None:
    if not os.path.lexists(path):
        os.rename(stage, path)
        _fsync_dir(path.parent)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
    os.replace(path, old / "previous")
    try:
        os.rename(stage, path)
    except OSError:
        os.replace(old / "previous", path)  # put the old folder back
        old.rmdir()
        raise
    _fsync_dir(path.parent)
    shutil.rmtree(old, ignore_errors=True)
