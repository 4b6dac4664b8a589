"""Building a COCO subset dataset: pick classes, sample images per class, resize, split, commit.

The recipe follows the reference experiment (see ``sampling``): convert each sampled image to RGB,
resize it, and put the first ``train_per_class`` of each class into ``train/`` and the rest into
``val/`` as ``<class>_<coco file name>``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..cache import file_prefix
from ..checks import check_class_gaps, check_image_options, label_counts
from ..imaging import ConvertTask, Progress, convert_images
from ..stage import ConvertJob, DatasetStage, PackedSplits, check_target, pack_converted
from ..store import DatasetError
from .index import load_coco, locate_image
from .sampling import Selection, canonical_classes, check_counts, parse_class_list, select_images

REFERENCE_CLASSES = ("airplane", "bus", "cat", "dog", "pizza")


def build_coco(
    ann_file: str | os.PathLike,
    images_dir: str | os.PathLike,
    classes: Sequence[str] | str = REFERENCE_CLASSES,
    out_dir: str | os.PathLike = "data/coco5",
    *,
    per_class: int = 2000,
    train_per_class: int = 1500,
    size: int = 64,
    seed: int = 5,
    resize: str = "stretch",
    exclusive: bool = False,
    allow_fewer: bool = False,
    force: bool = False,
    workers: int | None = None,
    progress: Progress | None = None,
    allow_empty_classes: bool = False,
) -> Path:
    """Build a COCO subset dataset at ``out_dir`` and return its path.

    ``progress(done, total)`` follows the image conversion. What was dropped (``--exclusive``),
    shared between classes, or unreadable is recorded in the manifest's ``report``. Fewer images
    than asked (too few in the file, listed files missing or unreadable) are refused unless
    ``allow_fewer``, and a class left without train or val images unless ``allow_empty_classes``.
    """
    names = parse_class_list(classes)
    check_counts(per_class, train_per_class)
    check_image_options(size, resize)
    images_path = _image_folder(images_dir)
    check_target(Path(out_dir).absolute(), force, protect=[images_path])  # before the slow JSON load
    coco = load_coco(ann_file)
    # Stored as COCO spells them, so "Teddy Bear" and "teddy bear" make the same dataset.
    names, cat_ids = canonical_classes(coco, names)
    options = {
        "per_class": per_class,
        "train_per_class": train_per_class,
        "resize": resize,
        "exclusive": exclusive,
        "allow_fewer": allow_fewer,
        "allow_empty_classes": allow_empty_classes,
    }
    selection = select_images(
        coco, names, cat_ids, per_class=per_class, train_per_class=train_per_class, seed=seed,
        exclusive=exclusive, allow_fewer=allow_fewer,
    )
    with DatasetStage(out_dir, force=force, protect=[images_path]) as stage:
        jobs, missing = _conversion_jobs(coco, selection, names, images_path, stage)
        if not jobs:
            where = f"pass the folder holding {missing[0]}"
            raise DatasetError(images_path, f"none of the sampled images are here; {where}")
        decoded = convert_images([job.task for job in jobs], size, resize, workers=workers, progress=progress)
        packed, unreadable = pack_converted(jobs, decoded, size)
        report = {**_sampling_report(selection), "missing": missing, "unreadable": unreadable}
        report.update(_check_counts_kept(packed, names, options, report, images_path))
        source = {"kind": "coco", "annotations": str(Path(ann_file).absolute()), "images": str(images_path)}
        return stage.commit(
            classes=names, splits=packed, image_size=size, name=Path(out_dir).name, source=source,
            options=options, coco_ids=cat_ids, seed=seed, report=report,
        )


def _image_folder(images_dir: str | os.PathLike) -> Path:
    images_path = Path(images_dir).absolute()
    if not images_path.is_dir():
        raise DatasetError(images_path, "no such image folder; pass the folder holding the COCO images (train2014/)")
    return images_path


def _sampling_report(selection: Selection) -> dict[str, Any]:
    return {
        "multi_class": selection.multi_class,
        "dropped_multi_class": selection.dropped,
        "shared_between_classes": selection.shared,
        "fewer": selection.fewer,
    }


def _check_counts_kept(
    packed: PackedSplits, names: Sequence[str], options: dict[str, Any], report: dict[str, Any], images_path: Path
) -> dict[str, Any]:
    """The report's ``shortfall`` and ``empty_classes``; refused without ``--allow-fewer``/``--allow-empty-classes``."""
    shortfall = _shortfall(packed, names, options["per_class"], options["train_per_class"])
    if shortfall and not options["allow_fewer"]:
        message = _shortfall_message(shortfall, len(report["missing"]), len(report["unreadable"]))
        raise DatasetError(images_path, message)
    labels = {split: packed[split][1] for split in packed}
    hint = "restore the image files or lower --per-class"
    gaps = check_class_gaps("--classes", names, labels, options["allow_empty_classes"], hint)
    return {"shortfall": shortfall, "empty_classes": gaps}


def _conversion_jobs(
    coco: Any, selection: Selection, names: Sequence[str], images_dir: Path, stage: DatasetStage
) -> tuple[list[ConvertJob], list[str]]:
    jobs: list[ConvertJob] = []
    missing: list[str] = []
    for split, groups in (("train", selection.train), ("val", selection.val)):
        for label, ids in enumerate(groups):
            for image_id in ids:
                listed = str(coco.imgs[image_id]["file_name"])
                path = locate_image(images_dir, listed)
                if path is None:
                    missing.append(listed)
                    continue
                dst = stage.split_dir(split) / f"{file_prefix(names[label])}_{path.name}"
                jobs.append(ConvertJob(split, label, ConvertTask(str(path), str(dst.with_suffix(".jpg"))), path.name))
    return jobs, missing


def _shortfall(
    packed: PackedSplits, names: Sequence[str], per_class: int, train: int
) -> dict[str, dict[str, int]]:
    """Classes that got fewer images than asked: ``{name: {"asked", "got", "train", "val"}}``."""
    counts = {split: label_counts(packed[split][1], len(names)) for split in ("train", "val")}
    short = {}
    for label, name in enumerate(names):
        got_train, got_val = counts["train"][label], counts["val"][label]
        if got_train < train or got_val < per_class - train:
            short[name] = {"asked": per_class, "got": got_train + got_val, "train": got_train, "val": got_val}
    return short


def _shortfall_message(shortfall: dict[str, dict[str, int]], missing: int, unreadable: int) -> str:
    asked = next(iter(shortfall.values()))["asked"]
    per_class = ", ".join(f"{name} {c['got']} (train {c['train']}, val {c['val']})" for name, c in shortfall.items())
    return (
        f"{missing:,} sampled image file(s) missing and {unreadable:,} unreadable leave fewer than the "
        f"{asked:,} per class asked: {per_class}; restore the files or pass --allow-fewer"
    )
