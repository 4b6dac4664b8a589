"""Reading, resizing and re-encoding images, one at a time or through a process pool.

Every builder funnels its pictures through :func:`convert_images`: decode (JPEG draft mode, so a
640x480 photo is decoded at 1/4 scale by libjpeg), convert to RGB, resize to a square, encode as
JPEG into the dataset folder, and decode those bytes back. The array handed back is therefore
exactly what reading the saved file later gives, which lets a dataset's packed cache be rebuilt
from its files bit for bit. JPEGs are written at quality 95 without chroma subsampling: at 64x64
pixels, halving the colour resolution costs visibly more than it saves.
"""

from __future__ import annotations

import functools
import io
import multiprocessing
import os
import sys
import threading
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np
from PIL import ExifTags, Image, ImageOps

from ..errors import UserError

if TYPE_CHECKING:
    import torch

RESIZE_MODES = ("stretch", "center-crop")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".pbm")
JPEG_QUALITY = 95
# Below this many images a pool costs more to start than it saves.
POOL_MIN_IMAGES = 48
_CHUNK = 16

Progress = Callable[[int, int], None]
T = TypeVar("T")
R = TypeVar("R")


class ImageReadError(Exception):
    """An image file that cannot be decoded (corrupt, truncated, not an image)."""


def is_image_name(name: str) -> bool:
    """True for a visible file name with a known image suffix."""
    return not name.startswith(".") and name.lower().endswith(IMAGE_SUFFIXES)


def default_workers() -> int:
    """The CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def read_image(path: str | os.PathLike, size: int, resize: str = "stretch") -> np.ndarray:
    """Decode ``path`` as RGB uint8 ``(size, size, 3)``; ``resize`` is stretch or center-crop.

    Raises :class:`ImageReadError` when the file is not a readable image.
    """
    return _decode(path, size, resize)[0]


def _decode(source: str | os.PathLike | io.BytesIO, size: int, resize: str) -> tuple[np.ndarray, bool]:
    """The RGB array, and whether the source already is an RGB JPEG of exactly that size."""
    if resize not in RESIZE_MODES:
        raise ValueError(f"resize must be one of {RESIZE_MODES}, got {resize!r}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # EXIF and palette warnings say nothing useful here
            with Image.open(source) as img:
                final = img.format == "JPEG" and img.mode == "RGB" and img.size == (size, size)
                # Draft mode lets libjpeg scale down by 1/2, 1/4 or 1/8 while decoding, never below `size`.
                img.draft("RGB", (size, size))
                upright = _upright(img)
                rgb = _to_rgb(upright)
                return np.asarray(_fit(rgb, size, resize), dtype=np.uint8), final and upright is img
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError, EOFError) as exc:
        name = Path(source).name if isinstance(source, (str, os.PathLike)) else "image"
        raise ImageReadError(f"{name}: {exc}") from None


def _upright(img: Image.Image) -> Image.Image:
    """The picture as it is meant to be seen: cameras store rotated pixels plus an EXIF orientation tag."""
    if img.getexif().get(ExifTags.Base.Orientation, 1) in (None, 1):
        return img
    return ImageOps.exif_transpose(img)


def _to_rgb(img: Image.Image) -> Image.Image:
    """RGB version of any mode; transparent pixels become white, 16/32-bit grey is rescaled."""
    if img.mode == "RGB":
        img.load()
        return img
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        values = np.asarray(img, dtype=np.float64)
        top = values.max() if values.size else 0.0
        grey = (values * (255.0 / top) if top > 0 else values).clip(0, 255).astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    has_alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info
    if has_alpha:
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def _fit(img: Image.Image, size: int, resize: str) -> Image.Image:
    width, height = img.size
    if resize == "center-crop" and width != height:
        side = min(width, height)
        left, top = (width - side) // 2, (height - side) // 2
        img = img.crop((left, top, left + side, top + side))
    if img.size == (size, size):
        return img
    return img.resize((size, size), Image.Resampling.BICUBIC)


def encode_jpeg(image: np.ndarray) -> bytes:
    """JPEG bytes (quality 95, no chroma subsampling) of an RGB uint8 array."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image), "RGB").save(buffer, "JPEG", quality=JPEG_QUALITY, subsampling=0)
    return buffer.getvalue()


def decode_jpeg(data: bytes) -> np.ndarray:
    """RGB uint8 array of JPEG bytes."""
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB"), dtype=np.uint8)


def save_and_reload(image: np.ndarray, dst: str | os.PathLike) -> np.ndarray:
    """Write ``image`` as a JPEG file and return what decoding that file gives."""
    data = encode_jpeg(image)
    with open(dst, "wb") as handle:
        handle.write(data)
    return decode_jpeg(data)


@dataclass(frozen=True)
class ConvertTask:
    """One picture to convert: read ``src``, write the JPEG to ``dst`` (an empty ``dst``: only read)."""

    src: str
    dst: str


def convert_one(task: ConvertTask, size: int, resize: str) -> np.ndarray | None:
    """Convert one picture; None when the source cannot be read. Write errors propagate.

    A source that already is an RGB JPEG of the target size is copied as it is: re-encoding
    would only lose quality, and its decoded pixels are what the copy decodes to.
    """
    try:
        data = Path(task.src).read_bytes()
        image, final = _decode(io.BytesIO(data), size, resize)
    except (OSError, ImageReadError):
        return None
    if not task.dst:
        return image
    if final:
        with open(task.dst, "wb") as handle:
            handle.write(data)
        return image
    return save_and_reload(image, task.dst)


def convert_images(
    tasks: Sequence[ConvertTask],
    size: int,
    resize: str = "stretch",
    *,
    workers: int | None = None,
    progress: Progress | None = None,
) -> list[np.ndarray | None]:
    """Convert every task (in order); None marks an unreadable source.

    Runs on ``workers`` processes (default: every CPU); small jobs run in this process.
    ``progress(done, total)`` is called as pictures finish.
    """
    convert = functools.partial(convert_one, size=size, resize=resize)
    return run_parallel(convert, tasks, workers=workers, progress=progress)


def run_parallel(
    fn: Callable[[T], R],
    items: Sequence[T],
    *,
    workers: int | None = None,
    progress: Progress | None = None,
) -> list[R]:
    """``[fn(item) for item in items]`` on a process pool, in order, reporting ``progress(done, total)``.

    ``fn`` must be picklable (a module-level function or a ``functools.partial`` of one).
    """
    total = len(items)
    workers = default_workers() if workers is None else max(1, workers)
    report = progress or (lambda done, total: None)
    report(0, total)
    results: list[R] = []
    if workers == 1 or total < POOL_MIN_IMAGES:
        for item in items:
            results.append(fn(item))
            report(len(results), total)
        return results
    chunks = [items[start : start + _CHUNK] for start in range(0, total, _CHUNK)]
    with ProcessPoolExecutor(max_workers=min(workers, len(chunks)), mp_context=_pool_context()) as pool:
        try:
            for chunk_result in pool.map(_apply_chunk, [fn] * len(chunks), chunks):
                results.extend(chunk_result)
                report(len(results), total)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return results


def _apply_chunk(fn: Callable[[T], R], chunk: Sequence[T]) -> list[R]:
    return [fn(item) for item in chunk]


def _pool_context() -> multiprocessing.context.BaseContext:
    """``fork`` while this process runs a single Python thread (fast start), else ``forkserver``/``spawn``.

    Forking while other Python threads run (the app's workers) can copy a lock some thread holds
    into the child, so those cases start clean interpreters instead. Native pools (BLAS, OpenMP)
    sit idle here and the workers never call into them.
    """
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and sys.platform.startswith("linux") and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


# --- finding image files and fitting image tensors ---------------------------------------------


def image_files(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """The image files ``paths`` name: files as given, folders searched recursively, in order, each once.

    A missing path or a folder holding no image is a ``UserError``; a file that is not an image
    is found out when it is read.
    """
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if is_image_name(p.name) and p.is_file())
            if not found:
                kinds = ", ".join(IMAGE_SUFFIXES[:4])
                raise UserError(str(path), f"holds no image files ({kinds}, ...); pick a folder of images")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise UserError(str(path), "image file not found; check the path")
    return list(dict.fromkeys(files))  # a file named and also inside a named folder counts once


def fit_images(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 NHWC images resized to ``size`` (antialiased bilinear) when they differ; else as is.

    torch is imported here, not with the module: building a dataset needs none.
    """
    import torch
    import torch.nn.functional as F

    if images.shape[1] == size and images.shape[2] == size:
        return images
    out = []
    for chunk in images.split(1024):
        x = chunk.permute(0, 3, 1, 2).float()
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out.append(x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous())
    return torch.cat(out) if out else images[:, :size, :size]
