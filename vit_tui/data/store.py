"""The dataset folder read back: its ``manifest.json``, and each split loaded from the packed uint8 cache.

Layout of a dataset ``<dataset>/``::

    manifest.json            schema, source, options, classes, counts, image size, seed, created
    train/<class>_<name>.jpg  the images (class names with spaces or slashes use "_" in file names)
    val/<class>_<name>.jpg
    cache/train.npy          uint8 (N, H, W, 3), equal to decoding the split's files
    cache/train.json         file names, labels and a fingerprint (names, sizes, mtimes) of the split

``load_split`` reads the cache when its fingerprint matches the split folder and rebuilds it from
the files otherwise. A file's label comes from the cache index; a file the index does not know
(added by hand) is labelled by the longest class prefix of its name.

Writing a dataset folder (atomically, through a temporary sibling) is ``vit_tui.data.stage``'s job.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .. import schemas
from ..errors import UserError
from .cache import file_prefix, read_cache, read_index, rebuild_cache, split_fingerprint

if TYPE_CHECKING:  # torch is imported when a split is loaded, so building stays light
    import torch

__all__ = [
    "MANIFEST_NAME",
    "SCHEMA_VERSION",
    "SPLITS",
    "DatasetError",
    "Manifest",
    "Split",
    "SplitArrays",
    "file_prefix",
    "list_datasets",
    "load_split",
    "load_split_arrays",
    "read_manifest",
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
