"""Checks shared by the builders, ``data show`` and training: what a dataset holds per class, and image options.

A class without training images cannot be learnt, and one without validation images makes the
validation accuracy describe the other classes only (two classes, one of them empty, reads as
100%). Builders refuse both unless ``--allow-empty-classes`` is given; every later use warns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .imaging import RESIZE_MODES
from .store import SPLITS, DatasetError

ALLOW_FLAG = "--allow-empty-classes"
SIZE_RANGE = (8, 1024)
"""The square image sides (pixels) a builder accepts."""


def check_image_options(size: int, resize: str) -> None:
    """An image side within ``SIZE_RANGE`` and a known resize mode."""
    low, high = SIZE_RANGE
    if not low <= size <= high:
        raise DatasetError("--size", f"must be between {low} and {high} pixels, got {size}")
    if resize not in RESIZE_MODES:
        raise DatasetError("--resize", f"must be one of {', '.join(RESIZE_MODES)}, got {resize!r}")


def class_gaps(classes: Sequence[str], counts: Mapping[str, Sequence[int]]) -> list[str]:
    """``"'cat' has no val image"`` for each class lacking images in a split; ``counts[split][label]``."""
    gaps = []
    for label, name in enumerate(classes):
        missing = [split for split in SPLITS if label >= len(counts.get(split, ())) or not counts[split][label]]
        if missing:
            gaps.append(f"{name!r} has no {' and no '.join(missing)} image")
    return gaps


def label_counts(labels: np.ndarray, num_classes: int) -> list[int]:
    """Images per label."""
    return np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_classes).tolist()


def check_class_gaps(
    subject: str, classes: Sequence[str], labels: Mapping[str, np.ndarray], allow: bool, hint: str = "add images"
) -> list[str]:
    """The gaps of freshly built splits; a DatasetError naming them unless ``allow``."""
    counts = {split: label_counts(labels.get(split, np.zeros(0, np.int64)), len(classes)) for split in SPLITS}
    gaps = class_gaps(classes, counts)
    if gaps and not allow:
        raise DatasetError(subject, f"{'; '.join(gaps)}; {hint}, or pass {ALLOW_FLAG} to keep such classes")
    return gaps


def gaps_warning(gaps: Sequence[str]) -> str:
    """The one-line warning shown wherever a dataset with empty classes is used."""
    return f"warning: {'; '.join(gaps)}: validation accuracy leaves such classes out (built with {ALLOW_FLAG})"


def skipped_warning(split: str, skipped: Sequence[str], limit: int = 5) -> str:
    """The one-line warning about files of a split left out when it was loaded."""
    shown = ", ".join(skipped[:limit]) + (f" and {len(skipped) - limit} more" if len(skipped) > limit else "")
    return (
        f"warning: {len(skipped):,} file(s) in {split}/ left out (unreadable, or named after no class): {shown}; "
        "remove or replace them"
    )
