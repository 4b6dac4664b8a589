"""The dataset folder: image files, ``manifest.json`` and a packed uint8 cache per split.

Layout of a dataset ``<dataset>/``::

    manifest.json            schema, source, options, classes, counts, image size, seed, created
    train/<class>_<name>.jpg  the images (class names with spaces or slashes use "_" in file names)
    val/<class>_<name>.jpg
    cache/train.npy          uint8 (N, H, W, 3), equal to decoding the split's files
    cache/train.json         file names, labels and a fingerprint (names, sizes, mtimes) of the split

``load_split`` reads the cache when its fingerprint matches the split folder and rebuilds it from
the files otherwise. A file's label comes from the cache index; a file the index does not know
(added by hand) is labelled by the longest class prefix of its name.

Folders are built in a temporary sibling (``.<name>.*.partial``) and renamed into place at the
end, so an interrupted or failed build leaves nothing behind.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .. import schemas
from ..errors import UserError
from ..files import write_text
from ..locks import build_lock
from ..outputs import output_folder
from .cache import (
    file_prefix,
    label_from_name,
    read_cache,
    read_index,
    rebuild_cache,
    split_fingerprint,
    write_cache,
)
from .imaging import read_image, save_and_reload

if TYPE_CHECKING:  # torch is imported when a split is loaded, so building stays light
    import torch

__all__ = [
    "SCHEMA_VERSION",
    "SPLITS",
    "DatasetError",
    "DatasetStage",
    "Manifest",
    "Split",
    "file_prefix",
    "label_from_name",
    "list_datasets",
    "load_split",
    "load_split_arrays",
    "read_image",
    "read_manifest",
    "split_fingerprint",
    "write_cache",
    "write_dataset",
]

SCHEMA_VERSION = schemas.NEWEST_MANIFEST
SPLITS = ("train", "val")
MANIFEST_NAME = "manifest.json"


class DatasetError(UserError):
    """A dataset problem: ``subject`` is the path, ``why`` what to do about it."""

    def __init__(self, subject: str | os.PathLike, why: str) -> None:
        super().__init__(str(subject), why)


@dataclass(frozen=True)
class Manifest:
    """What a dataset holds and how it was made (``<dataset>/manifest.json``)."""

    schema: int
    name: str
    source: dict
    options: dict
    classes: list[str]
    coco_ids: list[int | None]
    counts: dict[str, dict[str, int]]
    image_size: int
    seed: int | None
    created: str
    report: dict = field(default_factory=dict)
    """What the build skipped or dropped, e.g. ``{"unreadable": [...], "multi_class": 3}``."""

    def total(self, split: str) -> int:
        """Images in one split."""
        return sum(self.counts.get(split, {}).values())

    def to_json(self) -> str:
        """The manifest as indented JSON."""
        return json.dumps(dataclasses.asdict(self), indent=2) + "\n"


def read_manifest(dataset_dir: str | os.PathLike) -> Manifest:
    """The manifest of ``dataset_dir``; DatasetError when missing or unreadable."""
    folder = Path(dataset_dir)
    path = folder / MANIFEST_NAME
    if not folder.is_dir():
        raise DatasetError(folder, "no such dataset folder; make one with vit-tui data build, import or demo")
    if not path.is_file():
        raise DatasetError(
            folder, f"no {MANIFEST_NAME}: not a vit-tui dataset (make one with vit-tui data build, import or demo)"
        )
    try:
        checked = schemas.load(path, schemas.Manifest)
    except schemas.SchemaError as exc:
        # A whole-file problem says the manifest cannot be read; a field problem names the field.
        why = exc.why if exc.field else f"cannot read the manifest: {exc.why}"
        raise DatasetError(path, why) from None
    manifest = Manifest(**{f.name: getattr(checked, f.name) for f in dataclasses.fields(Manifest)})
    seen: dict[str, str] = {}
    for name in manifest.classes:
        # Two names with one file prefix would share every image file.
        if file_prefix(name) in seen or not file_prefix(name):
            first = seen.get(file_prefix(name), name)
            raise DatasetError(
                path, f"lists class {name!r} twice (as {first!r}); restore the original manifest or rebuild the dataset"
            )
        seen[file_prefix(name)] = name
    return manifest


def list_datasets(root: str | os.PathLike) -> list[Path]:
    """Dataset folders (holding a manifest) directly under ``root``, sorted by name."""
    folder = Path(root)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and (p / MANIFEST_NAME).is_file())


# --- loading --------------------------------------------------------------------------------


@dataclass
class Split:
    """One split in memory: images as uint8 (N, H, W, 3) and labels as int64 (N,)."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    files: list[str]
    """File names relative to the split folder, in the order of ``images``."""
    skipped: list[str] = field(default_factory=list)
    """Files in the split folder left out: unreadable, or named after no class."""

    def __len__(self) -> int:
        return len(self.files)


def load_split(
    dataset_dir: str | os.PathLike, split: str, device: str | torch.device | None = None, *, mmap: bool = False
) -> Split:
    """Load ``split`` from the packed cache, rebuilding the cache first when it is stale or missing.

    With ``mmap`` (and no ``device``) the images are a CPU tensor over the memory-mapped cache:
    nothing is read until rows are indexed.
    """
    import torch

    arrays = load_split_arrays(dataset_dir, split, mmap=mmap)
    images = torch.from_numpy(arrays.images)
    labels = torch.from_numpy(arrays.labels)
    if device is not None:
        images, labels = images.to(device), labels.to(device)
    return Split(images, labels, arrays.classes, arrays.files, arrays.skipped)


@dataclass
class SplitArrays:
    """One split as numpy arrays: uint8 (N, H, W, 3) images and int64 (N,) labels."""

    images: np.ndarray
    labels: np.ndarray
    classes: list[str]
    files: list[str]
    skipped: list[str] = field(default_factory=list)


def load_split_arrays(dataset_dir: str | os.PathLike, split: str, *, mmap: bool = False) -> SplitArrays:
    """:func:`load_split` without torch: the cached split as numpy arrays (cache refreshed if stale).

    ``mmap`` maps the images instead of reading them (see ``cache.read_cache``).
    """
    folder = Path(dataset_dir)
    manifest = read_manifest(folder)
    if split not in SPLITS:
        raise DatasetError(folder, f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    split_dir = folder / split
    if not split_dir.is_dir():
        raise DatasetError(split_dir, "the split folder is missing; rebuild the dataset")
    fingerprint = split_fingerprint(split_dir, manifest.image_size)
    _check_index_classes(folder, split, manifest)
    cached = read_cache(folder, split, fingerprint, manifest.image_size, len(manifest.classes), mmap=mmap)
    if cached is None:
        resize = str(manifest.options.get("resize", "stretch"))
        cached = rebuild_cache(folder, split, fingerprint, manifest.classes, manifest.image_size, resize)
        if mmap:  # map the fresh cache rather than keep the decoded split in memory (when it could be written)
            fresh = read_cache(folder, split, fingerprint, manifest.image_size, len(manifest.classes), mmap=True)
            cached = fresh or cached
    images, labels, files, skipped = cached
    _check_labels(folder, split, manifest.classes, files, labels)
    return SplitArrays(images, labels.astype(np.int64, copy=False), list(manifest.classes), files, skipped)


def _check_index_classes(folder: Path, split: str, manifest: Manifest) -> None:
    """Refuse a manifest whose class list differs from the one the packed index was written with."""
    index = read_index(folder, split)
    indexed = index.get("classes") if index else None
    if isinstance(indexed, list) and indexed != list(manifest.classes):
        raise DatasetError(
            folder / MANIFEST_NAME,
            f"its classes {manifest.classes} differ from cache/{split}.json's {indexed} (edited by hand?); "
            "restore the original class list or rebuild the dataset",
        )


def _check_labels(folder: Path, split: str, classes: Sequence[str], files: Sequence[str], labels: np.ndarray) -> None:
    """Refuse labels that contradict the file names: a reordered class list would relabel every image."""
    prefixes = [file_prefix(name) + "_" for name in classes]
    for name, label in zip(files, labels.tolist()):
        if not name.startswith(prefixes[label]):
            raise DatasetError(
                folder / MANIFEST_NAME,
                f"its class list does not match the files ({split}/{name} would be labelled {classes[label]!r}); "
                "restore the original class order or rebuild the dataset",
            )


# --- building -------------------------------------------------------------------------------


def check_target(target: Path, force: bool, protect: Sequence[Path] = ()) -> None:
    """Refuse an output folder that exists (without force), is not a vit-tui dataset, or holds a source."""
    target = target.absolute()
    for source in protect:
        source = Path(source).absolute()
        if target == source or target in source.parents:
            raise DatasetError(target, "would replace the source folder; choose another --out")
        if source in target.parents:
            raise DatasetError(target, "is inside the source folder; choose an --out outside it")
    try:
        output_folder(target, "--out", kind="dataset", force=force, made_by_us=_made_by_us)
    except UserError as exc:
        raise DatasetError(target, exc.why) from None


def _made_by_us(folder: Path) -> str | None:
    # Another program's manifest.json must not pass for ours: only a manifest vit-tui can read does.
    try:
        read_manifest(folder)
    except DatasetError:
        return None
    return "dataset"


class DatasetStage:
    """A dataset being built in a temporary sibling of ``target``; ``commit`` renames it into place.

    Leaving the ``with`` block without a commit removes the temporary folder; an OSError while
    writing (disk full, permission) becomes a DatasetError naming the target.
    """

    def __init__(self, target: str | os.PathLike, *, force: bool = False, protect: Sequence[Path] = ()) -> None:
        self.target = Path(target).expanduser().absolute()
        self.force = force
        self.protect = tuple(protect)
        check_target(self.target, force, protect)
        self.path = self.target
        self._committed = False
        self._lock = build_lock(self.target)

    def __enter__(self) -> DatasetStage:
        try:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            # One builder per folder: a second one stops here; the check above is redone under the lock.
            self._lock.acquire()
        except OSError as exc:
            raise _write_error(self.target, exc) from None
        try:
            check_target(self.target, self.force, self.protect)
            self.path = Path(
                tempfile.mkdtemp(prefix=f".{self.target.name}.", suffix=".partial", dir=self.target.parent)
            )
            for split in SPLITS:
                (self.path / split).mkdir()
        except BaseException as exc:
            if self.path != self.target:
                shutil.rmtree(self.path, ignore_errors=True)
            self._lock.release()
            if isinstance(exc, OSError):
                raise _write_error(self.target, exc) from None
            raise
        return self

    def __exit__(self, kind, exc, tb) -> bool:
        try:
            if not self._committed:
                shutil.rmtree(self.path, ignore_errors=True)
        finally:
            self._lock.release()
        if isinstance(exc, OSError):
            raise _write_error(self.target, exc) from None
        return False

    def split_dir(self, split: str) -> Path:
        """The temporary folder receiving ``split``'s images."""
        return self.path / split

    def commit(
        self,
        *,
        classes: Sequence[str],
        splits: Mapping[str, tuple[np.ndarray, np.ndarray, Sequence[str]]],
        image_size: int,
        name: str,
        source: dict,
        options: dict | None = None,
        coco_ids: Sequence[int | None] | None = None,
        seed: int | None = None,
        report: dict | None = None,
    ) -> Path:
        """Write caches and manifest, then move the folder into place; returns the target."""
        counts: dict[str, dict[str, int]] = {}
        for split in SPLITS:
            images, labels, files = splits.get(split, (np.zeros((0, image_size, image_size, 3), np.uint8), [], []))
            labels = np.asarray(labels, dtype=np.int64)
            write_cache(self.path, split, images, labels, files, classes=classes)
            counts[split] = {c: int((labels == i).sum()) for i, c in enumerate(classes)}
        manifest = Manifest(
            schema=SCHEMA_VERSION,
            name=name,
            source=dict(source),
            options=dict(options or {}),
            classes=list(classes),
            coco_ids=list(coco_ids) if coco_ids is not None else [None] * len(classes),
            counts=counts,
            image_size=int(image_size),
            seed=seed,
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            report=dict(report or {}),
        )
        write_text(self.path / MANIFEST_NAME, manifest.to_json(), mkdir=False)
        os.chmod(self.path, 0o755)  # mkdtemp made it private
        self._move_into_place()
        self._committed = True
        return self.target

    def _move_into_place(self) -> None:
        if not os.path.lexists(self.target):
            os.rename(self.path, self.target)
            return
        check_target(self.target, self.force)
        old = Path(tempfile.mkdtemp(prefix=f".{self.target.name}.", suffix=".old", dir=self.target.parent))
        os.replace(self.target, old / "previous")
        try:
            os.rename(self.path, self.target)
        except OSError:
            os.replace(old / "previous", self.target)  # put the old dataset back
            old.rmdir()
            raise
        shutil.rmtree(old, ignore_errors=True)


def _write_error(target: Path, exc: OSError) -> DatasetError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return DatasetError(target, "the disk is full; free some space or choose another --out (nothing was kept)")
    if exc.errno == errno.EFBIG:
        return DatasetError(target, "a file grew past the size limit; choose another --out (nothing was kept)")
    return DatasetError(target, f"cannot write here ({exc.strerror or exc}); choose another --out")


def check_classes(classes: Sequence[str], subject: str = "classes") -> list[str]:
    """Two or more distinct, non-empty class names, each with a distinct file prefix."""
    names = [str(c) for c in classes]
    if any(not file_prefix(c) for c in names):
        raise DatasetError(subject, "class names must not be empty")
    seen: dict[str, str] = {}
    for name in names:
        prefix = file_prefix(name)
        if prefix in seen:
            raise DatasetError(subject, f"duplicate class {name!r}; list each class once")
        seen[prefix] = name
    if len(names) < 2:
        raise DatasetError(subject, f"needs at least 2 classes, got {len(names)}")
    return names


def write_dataset(
    out_dir: str | os.PathLike,
    classes: list[str],
    splits: dict[str, tuple[np.ndarray, np.ndarray]],
    *,
    name: str,
    source: dict,
    options: dict | None = None,
    coco_ids: Sequence[int | None] | None = None,
    seed: int | None = None,
    force: bool = False,
    files: Mapping[str, Sequence[str]] | None = None,
    report: dict | None = None,
) -> Path:
    """Write uint8 (N, H, W, 3) arrays and int labels per split as a dataset folder, atomically.

    ``files`` optionally names each image (``<original name>``; the class prefix is added);
    by default images are called ``<class>_<split>_<index>.jpg``.
    """
    classes = check_classes(classes)
    image_size = _common_size(splits)
    unknown = sorted(set(splits) - set(SPLITS))
    if unknown:
        raise DatasetError(out_dir, f"unknown split(s) {', '.join(unknown)}; use {', '.join(SPLITS)}")
    with DatasetStage(out_dir, force=force) as stage:
        packed = {}
        for split, (images, labels) in splits.items():
            names = list(files[split]) if files and split in files else None
            packed[split] = _write_split_images(stage.split_dir(split), split, images, labels, classes, names)
        options = {"resize": "stretch", **(options or {})}
        return stage.commit(
            classes=classes,
            splits=packed,
            image_size=image_size,
            name=name,
            source=source,
            options=options,
            coco_ids=coco_ids,
            seed=seed,
            report=report,
        )


def _common_size(splits: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> int:
    sizes = set()
    for split, (images, labels) in splits.items():
        images = np.asarray(images)
        if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] != 3 or images.shape[1] != images.shape[2]:
            raise DatasetError(split, f"images must be uint8 (N, S, S, 3), got {images.dtype} {images.shape}")
        if len(labels) != len(images):
            raise DatasetError(split, f"{len(images)} images but {len(labels)} labels")
        sizes.add(images.shape[1])
    if len(sizes) != 1:
        raise DatasetError("splits", "every split needs images of one square size")
    return sizes.pop()


def _write_split_images(
    split_dir: Path,
    split: str,
    images: np.ndarray,
    labels: np.ndarray,
    classes: list[str],
    names: list[str] | None,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    images = np.asarray(images)
    labels = np.asarray(labels, dtype=np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= len(classes)):
        raise DatasetError(split, f"labels must lie in [0, {len(classes)})")
    if names is not None and len(names) != len(images):
        raise DatasetError(split, f"{len(images)} images but {len(names)} file names")
    files, decoded = [], []
    used: set[str] = set()
    for index, (image, label) in enumerate(zip(images, labels)):
        stem = names[index] if names is not None else f"{split}_{index:06d}.jpg"
        file_name = unique_name(f"{file_prefix(classes[label])}_{Path(stem).stem}.jpg", used)
        decoded.append(save_and_reload(image, split_dir / file_name))
        files.append(file_name)
    size = images.shape[1]
    stacked = np.stack(decoded) if decoded else np.zeros((0, size, size, 3), np.uint8)
    return stacked, labels, files


def unique_name(name: str, used: set[str]) -> str:
    """``name``, or ``<stem>-2<suffix>``, ``-3``... when taken; records the result in ``used``."""
    candidate, number = name, 1
    stem, suffix = os.path.splitext(name)
    while candidate in used:
        number += 1
        candidate = f"{stem}-{number}{suffix}"
    used.add(candidate)
    return candidate
