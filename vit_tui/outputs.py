"""Where the program may write: the one check every command runs on an output path it is given.

An output path is a new path, or an existing regular file or folder of the kind the command
expects. It is never a device, a FIFO, a socket, a link to one of those or to nothing, and never a
file that belongs to a run or a dataset (weights, summary, config, events, metrics, manifest,
caches): those are written only by the code that owns them (the trainer, the dataset builder),
through ``vit_tui.files``, never through an output option.

``--force`` replaces, or writes into, only what vit-tui made: a dataset folder (recognised by its
manifest, see ``vit_tui.data.store``) or an output folder carrying the marker file ``.vit-tui``
that ``claim_folder`` writes when it makes one (compare, export, sweep, reproduce, report folders).

Nothing here creates a folder: a refused command leaves no trace. Headless: no torch, textual or
rich here.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from .errors import UserError
from .files import WriteError, probe, write_error, write_text
from .run_layout import OWN_FILES, SIGNS, WEIGHTS_DIR

MARKER = ".vit-tui"
"""The file that marks an output folder as made by vit-tui; its one line names the folder's kind."""

DATASET_SIGN = "manifest.json"


class OutputError(UserError):
    """An output path the program must not write: one line naming the option, the path and why."""


def _subject(option: str, path: Path) -> str:
    return f"{option} {path}"


def _kind_of(mode: int) -> str:
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def is_run_folder(folder: Path) -> bool:
    """Whether ``folder`` is a run folder (it holds a run's config, summary or reservation)."""
    return any((folder / name).is_file() for name in SIGNS)


def is_dataset_folder(folder: Path) -> bool:
    """Whether ``folder`` is a dataset folder (it holds a manifest)."""
    return (folder / DATASET_SIGN).is_file()


def owner_of(path: Path) -> str | None:
    """What ``path`` belongs to when it is a run's or a dataset's own file, as words; else None."""
    path = Path(os.path.abspath(path))
    parent = path.parent
    if path.name in OWN_FILES and is_run_folder(parent):
        return f"run {parent.name} (its {path.name})"
    if parent.name == WEIGHTS_DIR and is_run_folder(parent.parent):
        return f"run {parent.parent.name} (its weights)"
    if path.name == DATASET_SIGN and is_dataset_folder(parent):
        return f"dataset {parent.name} (its {path.name})"
    if is_dataset_folder(parent.parent):
        return f"dataset {parent.parent.name} (its {parent.name} files)"
    return None


def _existing_ancestor(path: Path) -> Path:
    folder = Path(os.path.abspath(path)).parent
    while not os.path.lexists(folder) and folder != folder.parent:
        folder = folder.parent
    return folder


def check_place(path: Path, option: str) -> None:
    """Prove that ``path``'s folder exists or can be made, without making it: a probe file in the
    nearest existing folder above it, removed at once."""
    folder = _existing_ancestor(path)
    try:
        probe(folder)
    except OSError as exc:
        err = write_error(folder, exc)
        raise WriteError(_subject(option, path), err.why, err.errno) from None


def output_file(path: str | os.PathLike, option: str, *, example: str = "out.csv") -> Path:
    """The file to write for ``option``: a new path, or an existing regular file that is nobody's own.

    A link to a regular file is followed (the file it names is written, the link kept); a link to
    anything else, or to nothing, is refused. Returns the path to write; raises ``OutputError``.
    """
    path = Path(path).expanduser()
    target = path
    if path.is_symlink():
        if not path.exists():
            raise OutputError(_subject(option, path), "is a link to nothing; name a regular file instead")
        target = Path(os.path.realpath(path))
    if os.path.lexists(target):
        mode = os.stat(target).st_mode
        if stat.S_ISDIR(mode):
            raise OutputError(_subject(option, path), f"is a folder; name a file, e.g. {example}")
        if not stat.S_ISREG(mode):
            raise OutputError(_subject(option, path), f"is {_kind_of(mode)}; name a regular file")
    owner = owner_of(target)
    if owner is not None:
        raise OutputError(_subject(option, path), f"belongs to {owner}; choose a path outside it")
    check_place(target, option)
    return target


def marker_kind(folder: Path) -> str | None:
    """The kind written in ``folder``'s marker, or None when vit-tui did not make the folder."""
    marker = folder / MARKER
    try:
        if not marker.is_file() or marker.stat().st_size > 256:
            return None
        words = marker.read_text(encoding="utf-8", errors="replace").split()
    except OSError:
        return None
    return words[1] if len(words) >= 2 and words[0] == "vit-tui" else None


def output_folder(
    path: str | os.PathLike,
    option: str,
    *,
    kind: str,
    force: bool = False,
    reuse: bool = False,
    made_by_us: Callable[[Path], str | None] = marker_kind,
) -> Path:
    """The folder ``option`` fills: a new path, an empty folder, or one vit-tui made.

    An existing folder with files in it is written into only when ``made_by_us`` (by default its
    marker; for datasets, their manifest) says vit-tui made it as a ``kind`` folder, and either
    ``force`` (the user asked to replace it) or ``reuse`` (the command continues its own folder,
    as a sweep does) allows it. Nothing is created here.
    """
    path = Path(path).expanduser()
    if path.is_symlink() and not path.exists():
        raise OutputError(_subject(option, path), "is a link to nothing; name a folder instead")
    if not os.path.lexists(path):
        check_place(path / "x", option)
        return path
    mode = os.stat(path).st_mode
    if not stat.S_ISDIR(mode):
        what = "a file" if stat.S_ISREG(mode) else _kind_of(mode)
        raise OutputError(_subject(option, path), f"is {what}, not a folder; choose another {option}")
    if is_run_folder(path):
        raise OutputError(_subject(option, path), f"is a run; choose another {option}")
    if is_dataset_folder(path) and kind != "dataset":
        raise OutputError(_subject(option, path), f"is a dataset; choose another {option}")
    if any(path.iterdir()):
        if made_by_us(path) != kind:
            what = "a vit-tui dataset" if kind == "dataset" else f"a {kind} folder vit-tui made"
            raise OutputError(_subject(option, path), f"is not {what}; refusing to replace it, choose another {option}")
        if not (force or reuse):
            raise OutputError(
                _subject(option, path), f"already exists; pass --force to replace it or choose another {option}"
            )
    check_place(path / "x", option)
    return path


def claim_folder(path: str | os.PathLike, kind: str) -> Path:
    """Make ``path`` (and its parents) and mark it as vit-tui's ``kind`` folder; returns it."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(path, exc) from None
    if marker_kind(path) != kind:
        write_text(path / MARKER, f"vit-tui {kind}\n")
    return path
