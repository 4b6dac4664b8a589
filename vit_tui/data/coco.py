"""COCO subset builder on pycocotools: pick classes, sample images per class, resize, split.

The recipe follows the reference experiment: for each class (in the order given) take the ids of
the images holding that category (``getImgIds(catIds=...)``), draw ``per_class`` of them without
replacement from one ``numpy.random.RandomState(seed)``, convert to RGB, resize, and put the first
``train_per_class`` into ``train/`` and the rest into ``val/`` as ``<class>_<coco file name>``.

Both the 2014 and 2017 namings are accepted: ``COCO_train2014_000000000009.jpg`` and
``000000000009.jpg`` name the same image, whichever of the two the annotation file lists.

Reading a train2017-sized instances file (118k images, 860k annotations) takes seconds, so the
per-class image counts that ``data classes`` and the app's class picker show are kept in a small
cache file (``coco-classes.json`` in the user's cache folder), keyed by the annotation file's
path, size and modification time: an unchanged file is listed again without being parsed.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import io
import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..files import write_text
from .checks import check_class_gaps, label_counts
from .imaging import RESIZE_MODES, ConvertTask, Progress, convert_images
from .store import DatasetError, DatasetStage, check_classes, check_target, file_prefix

REFERENCE_CLASSES = ("airplane", "bus", "cat", "dog", "pizza")
# (year, annotation file, image folder) under a COCO root, in order of preference.
COCO_LAYOUTS = (
    ("2014", "annotations/instances_train2014.json", "train2014"),
    ("2017", "annotations/instances_train2017.json", "train2017"),
)


def find_coco(root: str | os.PathLike) -> tuple[Path, Path]:
    """The (annotation file, image folder) of a COCO root in the 2014 or 2017 layout."""
    folder = Path(root)
    if not folder.is_dir():
        raise DatasetError(folder, "no such folder; pass the COCO root holding annotations/ and train2014/")
    for _, ann, images in COCO_LAYOUTS:
        if (folder / ann).is_file() and (folder / images).is_dir():
            return folder / ann, folder / images
    looked = " or ".join(f"{ann} + {images}/" for _, ann, images in COCO_LAYOUTS)
    raise DatasetError(folder, f"no COCO layout found (looked for {looked}); use --coco-ann and --coco-images")


def load_coco(ann_file: str | os.PathLike) -> Any:
    """A pycocotools ``COCO`` index of an instances file; DatasetError when it is not one."""
    path = _annotation_path(ann_file)
    stat = path.stat()
    return _load_coco_cached(str(path), stat.st_size, stat.st_mtime_ns)


def _annotation_path(ann_file: str | os.PathLike) -> Path:
    """The absolute path of an annotation file that exists and is no folder."""
    path = Path(ann_file).absolute()
    if not path.exists():
        raise DatasetError(path, "no such file; pass the instances JSON, e.g. annotations/instances_train2014.json")
    if path.is_dir():
        raise DatasetError(path, "is a folder; pass the instances JSON file inside annotations/")
    return path


@functools.lru_cache(maxsize=1)  # a picker then a build reads the (large) file once
def _load_coco_cached(path: str, size: int, mtime_ns: int) -> Any:
    from pycocotools.coco import COCO

    try:
        with open(path, encoding="utf-8") as handle:
            raw = json.load(handle)
    except OSError as exc:
        raise DatasetError(path, f"cannot read ({exc.strerror}); check its permissions") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(path, f"is not valid JSON ({exc}); pass a COCO instances file") from None
    _check_instances(raw, path)
    coco = COCO()
    coco.dataset = raw
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress lines
            coco.createIndex()
    except (KeyError, TypeError) as exc:
        raise DatasetError(path, f"is not a COCO instances file (entry without {exc}); pass instances_*.json") from None
    return coco


def _check_instances(raw: Any, path: str) -> None:
    if not isinstance(raw, dict):
        raise DatasetError(path, "is not a COCO instances file (not a JSON object); pass instances_*.json")
    for key in ("images", "annotations", "categories"):
        if not isinstance(raw.get(key), list):
            raise DatasetError(path, f"is not a COCO instances file (no {key!r} list); pass instances_*.json")
    fields = {"images": ("id", "file_name"), "annotations": ("image_id", "category_id"), "categories": ("id", "name")}
    for key, needed in fields.items():
        for entry in raw[key]:
            if not isinstance(entry, dict) or any(name not in entry for name in needed):
                wanted = " and ".join(repr(name) for name in needed)
                raise DatasetError(path, f"is not a COCO instances file ({key} need {wanted}); pass instances_*.json")


ClassRow = tuple[str, int, int]
"""(category name, category id, number of images holding it)."""
CLASS_CACHE_ENV = "VIT_TUI_CACHE_DIR"
CLASS_CACHE_FILE = "coco-classes.json"
CLASS_CACHE_VERSION = 1
CLASS_CACHE_ENTRIES = 16
"""Annotation files remembered; the one parsed longest ago is forgotten first."""


@dataclass(frozen=True)
class ClassCounts:
    """The categories of an instances file and whether they came from the cache (the file unparsed)."""

    rows: list[ClassRow]
    cached: bool


def coco_classes(ann_file: str | os.PathLike) -> list[ClassRow]:
    """Every category of an instances file as (name, category id, number of images), by id."""
    return coco_class_counts(ann_file).rows


def coco_class_counts(ann_file: str | os.PathLike) -> ClassCounts:
    """:func:`coco_classes`, served from the cache when the file's path, size and mtime are unchanged."""
    path = _annotation_path(ann_file)
    stat = path.stat()
    key = {"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    entries = _read_class_cache()
    # An unreadable file is parsed (and refused) as before rather than listed from memory.
    hit = next((e for e in entries if _same_file(e, key)), None) if os.access(path, os.R_OK) else None
    if hit is not None:
        return ClassCounts([(str(n), int(i), int(c)) for n, i, c in hit["rows"]], cached=True)
    rows = _count_classes(load_coco(path))
    _write_class_cache([{**key, "rows": rows}, *(e for e in entries if e["path"] != key["path"])])
    return ClassCounts(rows, cached=False)


def _count_classes(coco: Any) -> list[ClassRow]:
    rows = []
    for cat_id in sorted(coco.cats):
        images = {i for i in coco.catToImgs.get(cat_id, []) if i in coco.imgs}
        rows.append((str(coco.cats[cat_id]["name"]), int(cat_id), len(images)))
    return rows


def class_cache_path() -> Path:
    """``$VIT_TUI_CACHE_DIR``, else ``$XDG_CACHE_HOME/vit-tui``, else ``~/.cache/vit-tui``; plus the file name."""
    explicit = os.environ.get(CLASS_CACHE_ENV)
    if explicit:
        return Path(explicit) / CLASS_CACHE_FILE
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "vit-tui" / CLASS_CACHE_FILE


def _same_file(entry: dict, key: dict) -> bool:
    return all(entry.get(name) == value for name, value in key.items())


def _read_class_cache() -> list[dict]:
    """The cache's entries; a missing, damaged or older cache counts as empty."""
    try:
        raw = json.loads(class_cache_path().read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return []
    if not isinstance(raw, dict) or raw.get("version") != CLASS_CACHE_VERSION or not isinstance(raw.get("files"), list):
        return []
    return [e for e in raw["files"] if _entry_ok(e)]


def _entry_ok(entry: Any) -> bool:
    if not isinstance(entry, dict) or not isinstance(entry.get("path"), str) or not isinstance(entry.get("rows"), list):
        return False
    numbers_ok = all(isinstance(entry.get(k), int) for k in ("size", "mtime_ns"))
    rows_ok = all(
        isinstance(r, list) and len(r) == 3 and isinstance(r[0], str) and all(isinstance(v, int) for v in r[1:])
        for r in entry["rows"]
    )
    return numbers_ok and rows_ok


def _write_class_cache(entries: list[dict]) -> None:
    """Keep the newest entries; a cache that cannot be written only costs the next open a parse."""
    body = {"version": CLASS_CACHE_VERSION, "files": entries[:CLASS_CACHE_ENTRIES]}
    with contextlib.suppress(OSError):  # WriteError is an OSError too
        write_text(class_cache_path(), json.dumps(body) + "\n")


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


def check_counts(per_class: int, train_per_class: int, size: int) -> None:
    """Per-class counts and image size that make sense together."""
    if per_class < 2:
        raise DatasetError("--per-class", f"must be 2 or more (one train and one val image), got {per_class}")
    if train_per_class < 1:
        raise DatasetError("--train-per-class", f"must be 1 or more, got {train_per_class}")
    if train_per_class >= per_class:
        raise DatasetError(
            "--train-per-class",
            f"must be smaller than --per-class ({per_class}) so some images go to validation, got {train_per_class}",
        )
    if not 8 <= size <= 1024:
        raise DatasetError("--size", f"must be between 8 and 1024 pixels, got {size}")


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


def locate_image(images_dir: Path, file_name: str) -> Path | None:
    """The file of a COCO image under either naming (2014 ``COCO_train2014_<id>.jpg`` or 2017 ``<id>.jpg``)."""
    candidates = [file_name]
    if file_name.startswith("COCO_"):
        candidates.append(file_name.rsplit("_", 1)[-1])
    else:
        candidates.append(f"COCO_{images_dir.name}_{file_name}")
    for name in candidates:
        path = images_dir / name
        if path.is_file():
            return path
    return None


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
    check_counts(per_class, train_per_class, size)
    if resize not in RESIZE_MODES:
        raise DatasetError("--resize", f"must be one of {', '.join(RESIZE_MODES)}, got {resize!r}")
    images_path = Path(images_dir).absolute()
    if not images_path.is_dir():
        raise DatasetError(images_path, "no such image folder; pass the folder holding the COCO images (train2014/)")
    check_target(Path(out_dir).absolute(), force, protect=[images_path])  # before the slow JSON load
    coco = load_coco(ann_file)
    # Stored as COCO spells them, so "Teddy Bear" and "teddy bear" make the same dataset.
    names, cat_ids = canonical_classes(coco, names)
    selection = select_images(
        coco,
        names,
        cat_ids,
        per_class=per_class,
        train_per_class=train_per_class,
        seed=seed,
        exclusive=exclusive,
        allow_fewer=allow_fewer,
    )
    with DatasetStage(out_dir, force=force, protect=[images_path]) as stage:
        jobs, missing = _conversion_jobs(coco, selection, names, images_path, stage)
        if not jobs:
            raise DatasetError(
                images_path, f"none of the sampled images are here; pass the folder holding {missing[0]}"
            )
        decoded = convert_images([job[2] for job in jobs], size, resize, workers=workers, progress=progress)
        packed, unreadable = _pack(jobs, decoded, size, names)
        shortfall = _shortfall(packed, names, per_class, train_per_class)
        if shortfall and not allow_fewer:
            raise DatasetError(images_path, _shortfall_message(shortfall, len(missing), len(unreadable)))
        labels = {split: packed[split][1] for split in packed}
        hint = "restore the image files or lower --per-class"
        gaps = check_class_gaps("--classes", names, labels, allow_empty_classes, hint)
        report = {
            "multi_class": selection.multi_class,
            "dropped_multi_class": selection.dropped,
            "shared_between_classes": selection.shared,
            "fewer": selection.fewer,
            "missing": missing,
            "unreadable": unreadable,
            "shortfall": shortfall,
            "empty_classes": gaps,
        }
        options = {
            "per_class": per_class,
            "train_per_class": train_per_class,
            "resize": resize,
            "exclusive": exclusive,
            "allow_fewer": allow_fewer,
            "allow_empty_classes": allow_empty_classes,
        }
        source = {"kind": "coco", "annotations": str(Path(ann_file).absolute()), "images": str(images_path)}
        name = Path(out_dir).name
        return stage.commit(
            classes=names,
            splits=packed,
            image_size=size,
            name=name,
            source=source,
            options=options,
            coco_ids=cat_ids,
            seed=seed,
            report=report,
        )


_Job = tuple[str, int, ConvertTask]  # (split, label, task)


def _conversion_jobs(
    coco: Any, selection: Selection, names: Sequence[str], images_dir: Path, stage: DatasetStage
) -> tuple[list[_Job], list[str]]:
    jobs: list[_Job] = []
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
                jobs.append((split, label, ConvertTask(str(path), str(dst.with_suffix(".jpg")))))
    return jobs, missing


def _pack(
    jobs: list[_Job], decoded: list[np.ndarray | None], size: int, names: Sequence[str]
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray, list[str]]], list[str]]:
    packed = {}
    unreadable = [Path(job[2].src).name for job, image in zip(jobs, decoded) if image is None]
    for split in ("train", "val"):
        keep = [(job, image) for job, image in zip(jobs, decoded) if job[0] == split and image is not None]
        images = np.stack([image for _, image in keep]) if keep else np.zeros((0, size, size, 3), np.uint8)
        labels = np.asarray([job[1] for job, _ in keep], dtype=np.int64)
        packed[split] = (images, labels, [Path(job[2].dst).name for job, _ in keep])
    return packed, unreadable


def _shortfall(
    packed: dict[str, tuple[np.ndarray, np.ndarray, list[str]]], names: Sequence[str], per_class: int, train: int
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
