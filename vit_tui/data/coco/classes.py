"""The categories of a COCO instances file with their image counts, cached per file.

Reading a train2017-sized instances file (118k images, 860k annotations) takes seconds, so the
per-class image counts that ``data classes`` and the app's class picker show are kept in a small
cache file (``coco-classes.json`` in the user's cache folder), keyed by the annotation file's
path, size and modification time: an unchanged file is listed again without being parsed.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...files import write_text
from .index import annotation_path, load_coco

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
    path = annotation_path(ann_file)
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
