"""The packed per-split cache of a dataset folder, and how files get their labels.

``cache/<split>.npy`` holds the split's images as uint8 (N, H, W, 3), exactly as decoding the
split's files gives them; ``cache/<split>.json`` holds the file names in that order, their labels,
the class list they index, a CRC-32 of the array's bytes and a fingerprint of the split folder
(names, sizes and modification times of its images). A cache whose fingerprint, size or checksum
no longer matches is rebuilt from the files; labels of files the index knows are kept, so class
names holding "_" never depend on how a file name splits.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..files import write_with
from .imaging import ConvertTask, convert_images, is_image_name

CACHE_DIR = "cache"
CACHE_VERSION = 1


def file_prefix(class_name: str) -> str:
    """The file-name prefix of a class: its name with spaces and slashes turned into ``_``."""
    return "_".join(class_name.replace("/", " ").replace("\\", " ").split())


def label_from_name(file_name: str, classes: Sequence[str]) -> int | None:
    """Label of ``<class>_<anything>`` by the longest matching class prefix; None when none match."""
    best, best_len = None, -1
    for label, name in enumerate(classes):
        prefix = file_prefix(name) + "_"
        if file_name.startswith(prefix) and len(prefix) > best_len:
            best, best_len = label, len(prefix)
    return best


def split_fingerprint(split_dir: Path, image_size: int) -> str:
    """A hash of the split folder's image names, sizes and modification times."""
    digest = hashlib.sha1(f"{CACHE_VERSION}:{image_size}\n".encode())
    entries = []
    with os.scandir(split_dir) as scan:
        for entry in scan:
            if is_image_name(entry.name) and entry.is_file():
                stat = entry.stat()
                entries.append(f"{entry.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n")
    for line in sorted(entries):
        digest.update(line.encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


Cached = tuple[np.ndarray, np.ndarray, list[str], list[str]]
"""images (N, H, W, 3), labels (N,), file names, skipped file names."""


def _cache_paths(folder: Path, split: str) -> tuple[Path, Path]:
    return folder / CACHE_DIR / f"{split}.npy", folder / CACHE_DIR / f"{split}.json"


def read_index(folder: Path, split: str) -> dict | None:
    """The parsed ``cache/<split>.json``, or None when it is missing or damaged."""
    return _read_index(_cache_paths(folder, split)[1])


def _read_index(index_path: Path) -> dict | None:
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    ok = isinstance(index, dict) and isinstance(index.get("files"), list) and isinstance(index.get("labels"), list)
    return index if ok and len(index["files"]) == len(index["labels"]) else None


def read_cache(
    folder: Path, split: str, fingerprint: str, image_size: int, num_classes: int, *, mmap: bool = False
) -> Cached | None:
    """The cached split when its fingerprint and shapes match, else None.

    With ``mmap`` the images stay in the file, mapped copy-on-write: rows are read from disk (or
    the page cache) only when indexed, so a split larger than memory can still be trained on.
    """
    array_path, index_path = _cache_paths(folder, split)
    index = _read_index(index_path)
    if index is None or index.get("fingerprint") != fingerprint:
        return None
    labels = np.asarray(index["labels"], dtype=np.int64)
    images = _load_array(array_path, (len(labels), image_size, image_size, 3), mmap)
    if images is None:
        return None
    crc = index.get("crc32")
    # A damaged cache is rebuilt from the files; caches written before checksums skip the check.
    if crc is not None and crc != _crc32(images):
        return None
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        return None
    return images, labels, list(index["files"]), list(index.get("skipped", []))


def _load_array(path: Path, shape: tuple[int, ...], mmap: bool = False) -> np.ndarray | None:
    """The uint8 array of ``path`` when its header says ``shape`` and the file is exactly that long (mapped if ``mmap``)."""
    try:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            fmt = np.lib.format
            read_header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
            got_shape, fortran, dtype = read_header(handle)
            if dtype != np.uint8 or fortran or tuple(got_shape) != shape:
                return None
            expected = int(np.prod(shape))
            if os.fstat(handle.fileno()).st_size != handle.tell() + expected:
                return None  # cut short or grown: not what was written
            if mmap and expected:
                # Copy-on-write keeps the array writable for torch.from_numpy; nothing ever writes to it.
                return np.memmap(path, dtype=np.uint8, mode="c", offset=handle.tell(), shape=shape)
            return np.fromfile(handle, dtype=np.uint8, count=expected).reshape(shape)
    except (OSError, ValueError, EOFError):  # EOFError: a zero-byte file (a crash before its data reached disk)
        return None


def _crc32(images: np.ndarray) -> int:
    return zlib.crc32(memoryview(np.ascontiguousarray(images).reshape(-1)).cast("B")) if images.size else 0


def rebuild_cache(
    folder: Path, split: str, fingerprint: str, classes: Sequence[str], image_size: int, resize: str
) -> Cached:
    """Decode the split's files into a fresh cache (written back when the folder is writable)."""
    split_dir = folder / split
    old = _read_index(_cache_paths(folder, split)[1]) or {"files": [], "labels": []}
    known = dict(zip(old["files"], old["labels"]))
    present = sorted(name for name in os.listdir(split_dir) if is_image_name(name) and (split_dir / name).is_file())
    present_set = set(present)
    # Keep the previous order for files the index knows, so a refreshed cache matches the old one.
    ordered = [name for name in old["files"] if name in present_set]
    ordered += [name for name in present if name not in known]
    files, labels, skipped = [], [], []
    for name in ordered:
        label = known.get(name)
        label = label_from_name(name, classes) if label is None else label
        if label is None or not 0 <= int(label) < len(classes):
            skipped.append(name)
        else:
            files.append(name)
            labels.append(int(label))
    tasks = [ConvertTask(str(split_dir / name), "") for name in files]
    decoded = convert_images(tasks, image_size, resize)
    keep = [i for i, image in enumerate(decoded) if image is not None]
    skipped += [files[i] for i, image in enumerate(decoded) if image is None]
    empty = np.zeros((0, image_size, image_size, 3), np.uint8)
    images = np.stack([decoded[i] for i in keep]) if keep else empty
    label_array = np.asarray([labels[i] for i in keep], dtype=np.int64)
    kept_files = [files[i] for i in keep]
    with contextlib.suppress(OSError):  # a read-only dataset still loads; it just rebuilds each time
        write_cache(folder, split, images, label_array, kept_files, fingerprint, skipped, classes)
    return images, label_array, kept_files, skipped


def write_cache(
    folder: Path,
    split: str,
    images: np.ndarray,
    labels: np.ndarray,
    files: Sequence[str],
    fingerprint: str | None = None,
    skipped: Sequence[str] = (),
    classes: Sequence[str] | None = None,
) -> None:
    """Write the packed cache of one split (atomically: temp files, then rename)."""
    array_path, index_path = _cache_paths(folder, split)
    array_path.parent.mkdir(exist_ok=True)
    if fingerprint is None:
        fingerprint = split_fingerprint(folder / split, int(images.shape[1]) if images.ndim == 4 else 0)
    index = {
        "fingerprint": fingerprint,
        "files": list(files),
        "labels": [int(x) for x in labels],
        "skipped": list(skipped),
        "crc32": _crc32(images),
    }
    if classes is not None:
        index["classes"] = list(classes)
    atomic_write(array_path, lambda handle: _write_npy(handle, images), size=int(images.nbytes) + 128)
    atomic_write(index_path, lambda handle: handle.write(json.dumps(index).encode()))


def _write_npy(handle: BinaryIO, array: np.ndarray) -> None:
    """``np.save`` through Python's file writes, so a full disk raises OSError with its errno."""
    array = np.ascontiguousarray(array)
    header = {"descr": np.lib.format.dtype_to_descr(array.dtype), "fortran_order": False, "shape": array.shape}
    np.lib.format.write_array_header_1_0(handle, header)
    if array.size:
        handle.write(memoryview(array.reshape(-1)).cast("B"))


def atomic_write(path: Path, write: Callable[[BinaryIO], object], size: int | None = None) -> None:
    """Write ``path`` all or nothing (see ``vit_tui.files``)."""
    write_with(path, write, mkdir=False, size=size)
