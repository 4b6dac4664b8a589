"""Writing a dataset folder: built in a temporary sibling (``.<name>.*.partial``), renamed into place.

An interrupted or failed build leaves nothing behind; one builder per folder holds its lock.
``DatasetStage`` is the folder being built (the COCO, folder-import and demo builders fill it),
``write_dataset`` writes arrays already in memory, and ``pack_converted`` turns the images that
``convert_images`` decoded into the per-split arrays ``DatasetStage.commit`` takes.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ..errors import UserError
from ..files import write_text
from ..locks import build_lock
from ..outputs import output_folder
from .cache import file_prefix, write_cache
from .imaging import ConvertTask, save_and_reload
from .store import MANIFEST_NAME, SCHEMA_VERSION, SPLITS, DatasetError, Manifest, read_manifest

PackedSplits = dict[str, tuple[np.ndarray, np.ndarray, list[str]]]
"""split -> (uint8 images (N, S, S, 3), int64 labels (N,), file names), as ``DatasetStage.commit`` takes."""


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


class ConvertJob(NamedTuple):
    """One source image to convert into the stage: its split, label, conversion and how a report names it."""

    split: str
    label: int
    task: ConvertTask
    source: str


def pack_converted(
    jobs: Sequence[ConvertJob], decoded: Sequence[np.ndarray | None], size: int
) -> tuple[PackedSplits, list[str]]:
    """The decoded images stacked per split, and the ``source`` of each job that could not be read."""
    unreadable = [job.source for job, image in zip(jobs, decoded) if image is None]
    packed = {}
    for split in SPLITS:
        keep = [(job, image) for job, image in zip(jobs, decoded) if job.split == split and image is not None]
        images = np.stack([image for _, image in keep]) if keep else np.zeros((0, size, size, 3), np.uint8)
        labels = np.asarray([job.label for job, _ in keep], dtype=np.int64)
        packed[split] = (images, labels, [Path(job.task.dst).name for job, _ in keep])
    return packed, unreadable
