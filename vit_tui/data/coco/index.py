"""A COCO instances file: finding it under a COCO root, loading its index, locating its images.

Both the 2014 and 2017 namings are accepted: ``COCO_train2014_000000000009.jpg`` and
``000000000009.jpg`` name the same image, whichever of the two the annotation file lists.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import os
from pathlib import Path
from typing import Any

from ..store import DatasetError

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
    path = annotation_path(ann_file)
    stat = path.stat()
    return _load_coco_cached(str(path), stat.st_size, stat.st_mtime_ns)


def annotation_path(ann_file: str | os.PathLike) -> Path:
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
