"""Which COCO images a subset takes: the classes named, the counts asked, and a seeded sample per class.

For each class (in the order given) take the ids of the images holding that category
(``getImgIds(catIds=...)``) and draw ``per_class`` of them without replacement from one
``numpy.random.RandomState(seed)``: the first ``train_per_class`` train, the rest val.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..stage import check_classes
from ..store import DatasetError


def parse_class_list(text: str | Sequence[str]) -> list[str]:
    """Class names from ``"a,b,c"`` (or a list), stripped; checks for empties, duplicates, fewer than 2."""
    names = [part.strip() for part in text.split(",")] if isinstance(text, str) else [str(t).strip() for t in text]
    if any(not name for name in names):
        raise DatasetError("--classes", "has an empty class name; separate names with single commas")
    return check_classes(names, "--classes")


def canonical_classes(coco: Any, names: Sequence[str]) -> tuple[list[str], list[int]]:
    """COCO's own spelling and the category id of each of ``names``; one category named twice is refused."""
    ids = category_ids(coco, names)
    seen: dict[int, str] = {}
    for name, cat_id in zip(names, ids):
        if cat_id in seen:
            raise DatasetError("--classes", f"{seen[cat_id]!r} and {name!r} name one category; list it once")
        seen[cat_id] = name
    return [str(coco.cats[cat_id]["name"]) for cat_id in ids], ids


def category_ids(coco: Any, names: Sequence[str]) -> list[int]:
    """Category ids of ``names``; an unknown name suggests the closest real ones."""
    by_name = {str(cat["name"]): int(cat_id) for cat_id, cat in coco.cats.items()}
    by_folded = {name.casefold(): cat_id for name, cat_id in by_name.items()}
    ids = []
    for name in names:
        cat_id = by_name.get(name, by_folded.get(name.casefold()))
        if cat_id is None:
            close = difflib.get_close_matches(name, list(by_name), n=3, cutoff=0.6)
            hint = f"did you mean {' or '.join(close)}?" if close else "no close match"
            raise DatasetError("--classes", f"unknown class {name!r} ({hint}); vit-tui data classes lists them all")
        ids.append(cat_id)
    return ids


@dataclass
class Selection:
    """The sampled image ids of each class and what sampling dropped or shared."""

    train: list[list[int]]
    val: list[list[int]]
    available: list[int]
    multi_class: int = 0
    """Images holding two or more of the chosen classes."""
    dropped: int = 0
    """Of those, how many --exclusive left out (counted once per class they were dropped from)."""
    shared: int = 0
    """Sampled images that appear under two or more classes (without --exclusive)."""
    fewer: dict[str, int] = field(default_factory=dict)


def check_counts(per_class: int, train_per_class: int) -> None:
    """Per-class counts that make sense together."""
    if per_class < 2:
        raise DatasetError("--per-class", f"must be 2 or more (one train and one val image), got {per_class}")
    if train_per_class < 1:
        raise DatasetError("--train-per-class", f"must be 1 or more, got {train_per_class}")
    if train_per_class >= per_class:
        raise DatasetError(
            "--train-per-class",
            f"must be smaller than --per-class ({per_class}) so some images go to validation, got {train_per_class}",
        )


def select_images(
    coco: Any,
    classes: Sequence[str],
    cat_ids: Sequence[int],
    *,
    per_class: int,
    train_per_class: int,
    seed: int,
    exclusive: bool = False,
    allow_fewer: bool = False,
) -> Selection:
    """Sample the image ids of each class (seeded), split into train and val."""
    holders = [[i for i in coco.getImgIds(catIds=[cat_id]) if i in coco.imgs] for cat_id in cat_ids]
    class_count = Counter(i for ids in holders for i in set(ids))
    multi = {i for i, n in class_count.items() if n >= 2}
    rng = np.random.RandomState(seed)
    selection = Selection([], [], [], multi_class=len(multi))
    for name, ids in zip(classes, holders):
        candidates = [i for i in ids if i not in multi] if exclusive else ids
        selection.dropped += len(ids) - len(candidates)
        selection.available.append(len(candidates))
        take, n_train = per_class, train_per_class
        if len(candidates) < per_class:
            take, n_train = _fewer(name, len(candidates), per_class, train_per_class, exclusive, allow_fewer)
            selection.fewer[name] = take
        chosen = [int(i) for i in rng.choice(candidates, take, replace=False)] if take else []
        selection.train.append(chosen[:n_train])
        selection.val.append(chosen[n_train:])
    sampled = Counter(i for group in (*selection.train, *selection.val) for i in group)
    selection.shared = sum(1 for n in sampled.values() if n >= 2)
    return selection


def _fewer(name: str, available: int, per_class: int, train: int, exclusive: bool, allow: bool) -> tuple[int, int]:
    which = "images holding no other chosen class" if exclusive else "images"
    if available == 0:
        raise DatasetError("--classes", f"class {name!r} has no {which} in this annotation file")
    if not allow:
        raise DatasetError(
            "--per-class",
            f"class {name!r} has only {available} {which}, fewer than {per_class}; "
            f"lower --per-class or pass --allow-fewer",
        )
    if available == 1:
        return 1, 1
    return available, min(max(1, round(available * train / per_class)), available - 1)
