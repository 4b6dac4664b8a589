"""Import a folder of images as a dataset.

Accepted layouts (split folder names are matched without regard to case):

- class subfolders inside split folders: ``train/<class>/*`` with ``val/<class>/*`` (or
  ``test/``, ``valid/``, ``validation/``);
- class subfolders only: ``<class>/*``, split into train and val by a seeded per-class ratio;
- flat files named ``<class>_<name>`` inside split folders, as the reference experiment wrote
  them: ``train_data/`` and ``val_data/`` (``train/`` and ``val/`` work too), or directly in the
  folder (then split by ratio).

Any image mode (L, RGBA, CMYK, P, 16-bit) becomes RGB; every image is resized to a square.
Unreadable files are skipped and counted in the manifest's ``report``.
"""

from __future__ import annotations

import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .cache import file_prefix
from .checks import check_class_gaps, check_image_options
from .imaging import ConvertTask, Progress, convert_images, is_image_name
from .stage import ConvertJob, DatasetStage, check_classes, pack_converted, unique_name
from .store import DatasetError

TRAIN_NAMES = ("train", "train_data", "training")
VAL_NAMES = ("val", "val_data", "valid", "validation", "test", "test_data")
# <class>_<coco name>: keeps class names holding "_" whole when the rest is a COCO file name.
_COCO_TAIL = re.compile(r"^(?P<cls>.+?)_(?P<rest>(?:COCO_[A-Za-z]+\d{4}_)?\d{6,}\.\w+)$")


@dataclass
class FolderScan:
    """What an image folder holds: files per split and class, and how they were found."""

    layout: str
    files: dict[str, dict[str, list[Path]]]
    """split ("train", "val", or "all" before a ratio split) -> class -> image paths."""
    unlabelled: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    @property
    def classes(self) -> list[str]:
        return sorted({name for per_class in self.files.values() for name in per_class})


def scan_folder(src: str | os.PathLike) -> FolderScan:
    """Find the layout, classes and image files of ``src``."""
    root = Path(src)
    if not root.exists():
        raise DatasetError(root, "no such folder; pass the folder holding your images")
    if not root.is_dir():
        raise DatasetError(root, "is not a folder; pass the folder holding your images")
    try:
        children = {p.name.lower(): p for p in root.iterdir() if p.is_dir()}
    except OSError as exc:
        raise DatasetError(root, f"cannot read ({exc.strerror}); check its permissions") from None
    train = next((children[n] for n in TRAIN_NAMES if n in children), None)
    val_dirs = [children[n] for n in VAL_NAMES if n in children]
    if train is not None:
        scan = FolderScan("splits", {})
        scan.files["train"] = _scan_split(train, scan)
        if val_dirs:
            scan.files["val"] = _scan_split(val_dirs[0], scan)
            scan.ignored += [str(p) for p in val_dirs[1:]]
        else:
            scan.files = {"all": scan.files["train"]}
            scan.layout = "train only, split by ratio"
        return scan
    scan = FolderScan("one folder, split by ratio", {})
    scan.files["all"] = _scan_split(root, scan)
    return scan


def _scan_split(folder: Path, scan: FolderScan) -> dict[str, list[Path]]:
    """class -> files of one split folder: class subfolders, else flat ``<class>_*`` files."""
    try:
        entries = sorted(folder.iterdir())
    except OSError as exc:
        raise DatasetError(folder, f"cannot read ({exc.strerror}); check its permissions") from None
    per_class: dict[str, list[Path]] = defaultdict(list)
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            images = _images_under(entry)
            if images:
                per_class[entry.name].extend(images)
        elif is_image_name(entry.name):
            name = flat_class_name(entry.name)
            if name is None:
                scan.unlabelled.append(str(entry))
            else:
                per_class[name].append(entry)
    return dict(per_class)


def _images_under(folder: Path) -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        found += [Path(dirpath) / name for name in sorted(filenames) if is_image_name(name)]
    return found


def flat_class_name(file_name: str) -> str | None:
    """The class of a flat ``<class>_<name>`` file; None without a prefix."""
    match = _COCO_TAIL.match(file_name)
    if match:
        return match.group("cls")
    head, sep, rest = file_name.partition("_")
    return head if sep and head and rest else None


def split_by_ratio(
    per_class: dict[str, list[Path]], val_fraction: float, seed: int
) -> dict[str, dict[str, list[Path]]]:
    """Seeded per-class split: about ``val_fraction`` of each class to val, at least one each way."""
    rng = np.random.default_rng(seed)
    train: dict[str, list[Path]] = {}
    val: dict[str, list[Path]] = {}
    for name in sorted(per_class):
        files = per_class[name]
        order = rng.permutation(len(files))
        n_val = round(len(files) * val_fraction)
        n_val = min(max(n_val, 1), len(files) - 1) if len(files) >= 2 else 0
        val[name] = [files[i] for i in sorted(order[:n_val])]
        train[name] = [files[i] for i in sorted(order[n_val:])]
    return {"train": train, "val": val}


def import_folder(
    src: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    size: int = 64,
    val_fraction: float = 0.2,
    seed: int = 0,
    force: bool = False,
    progress: Progress | None = None,
    resize: str = "stretch",
    workers: int | None = None,
    allow_empty_classes: bool = False,
) -> Path:
    """Import the images under ``src`` as a dataset at ``out_dir`` and return its path.

    A class left without a readable train or val image is refused unless ``allow_empty_classes``.
    """
    if not 0 < val_fraction < 1:
        raise DatasetError("--val-fraction", f"must be between 0 and 1 (exclusive), got {val_fraction}")
    check_image_options(size, resize)
    root = Path(src).absolute()
    scan = scan_folder(root)
    classes = _checked_classes(scan, root)
    splits = scan.files if "all" not in scan.files else split_by_ratio(scan.files["all"], val_fraction, seed)
    flat = {name for per_class in scan.files.values() for name, files in per_class.items() if _all_flat(files, name)}
    options = {
        "val_fraction": val_fraction if "all" in scan.files else None,
        "resize": resize,
        "allow_empty_classes": allow_empty_classes,
    }
    with DatasetStage(out_dir, force=force, protect=[root]) as stage:
        jobs = _jobs(splits, classes, flat, root, stage)
        decoded = convert_images([job.task for job in jobs], size, resize, workers=workers, progress=progress)
        packed, unreadable = pack_converted(jobs, decoded, size)
        if not len(packed["train"][0]):
            raise DatasetError(root, "none of the images could be read; check the files")
        labels = {split: packed[split][1] for split in packed}
        gaps = check_class_gaps(str(root), classes, labels, allow_empty_classes, "add readable images")
        report = {"unreadable": unreadable, "unlabelled": scan.unlabelled, "ignored": scan.ignored}
        report["empty_classes"] = gaps
        source = {"kind": "folder", "path": str(root), "layout": scan.layout}
        return stage.commit(
            classes=classes, splits=packed, image_size=size, name=Path(out_dir).name, source=source,
            options=options, seed=seed, report=report,
        )


def _checked_classes(scan: FolderScan, root: Path) -> list[str]:
    """The classes found: two or more, each with its own file prefix."""
    classes = scan.classes
    if not classes:
        raise DatasetError(
            root, "no images found; expected class folders, train/ and val/ splits, or train_data/ with <class>_*.jpg"
        )
    if len(classes) == 1:
        raise DatasetError(root, f"found only one class ({classes[0]}); a classifier needs 2 or more")
    return check_classes(classes, str(root))


def _all_flat(files: list[Path], name: str) -> bool:
    return all(f.name.startswith(f"{name}_") for f in files)


def _jobs(
    splits: dict[str, dict[str, list[Path]]], classes: list[str], flat: set[str], root: Path, stage: DatasetStage
) -> list[ConvertJob]:
    jobs: list[ConvertJob] = []
    for split in ("train", "val"):
        used: set[str] = set()
        for label, name in enumerate(classes):
            for path in splits.get(split, {}).get(name, []):
                out_name = _output_name(path, name, name in flat)
                dst = stage.split_dir(split) / unique_name(out_name, used)
                jobs.append(ConvertJob(split, label, ConvertTask(str(path), str(dst)), str(path.relative_to(root))))
    return jobs


def _output_name(path: Path, class_name: str, flat: bool) -> str:
    """``<class>_<file>.jpg``; a flat file already starts with its class, nested names keep their folders."""
    stem = path.stem
    if flat:
        stem = stem[len(class_name) + 1 :]
    else:
        parents = path.parent.parts
        index = len(parents) - 1 - parents[::-1].index(class_name) if class_name in parents else len(parents)
        stem = "_".join((*parents[index + 1 :], stem))
    return f"{file_prefix(class_name)}_{stem}.jpg"
