"""The offline demo dataset: five procedurally drawn shape classes, no download needed.

Classes: circle, square, triangle, cross, stripes. Each picture has a noisy two-colour gradient
background, a few small clutter marks (dots and short strokes) and one shape of random colour,
size, position and rotation. Colours are drawn independently of the class, so no single pixel or
colour gives the answer: a model has to see the outline. Everything is drawn from a seed, image by
image, so the same seed always gives the same dataset.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from ..config import MAX_IMAGE_SIZE
from .imaging import Progress, run_parallel, save_and_reload
from .stage import DatasetStage
from .store import SPLITS, DatasetError

DEMO_CLASSES = ("circle", "square", "triangle", "cross", "stripes")
DEMO_DIR = Path("data") / "demo"
_SUPERSAMPLE = 2  # drawn at twice the size and shrunk, for smooth edges
_NOISE = 8.0  # standard deviation of the pixel noise, in grey levels


def demo_dir(home: str | os.PathLike = ".") -> Path:
    """Where the demo set lives under a home folder (``<home>/data/demo``)."""
    return Path(home) / DEMO_DIR


def ensure_demo(home: str | os.PathLike = ".", **options: Any) -> Path:
    """The demo set under ``home``, drawn first (with ``make_demo`` ``options``) if it is not there yet."""
    folder = demo_dir(home)
    if (folder / "manifest.json").is_file():
        return folder
    return make_demo(folder, **options)


def make_demo(
    out_dir: str | os.PathLike,
    *,
    per_class_train: int = 600,
    per_class_val: int = 150,
    size: int = 64,
    seed: int = 0,
    force: bool = False,
    workers: int | None = None,
    progress: Progress | None = None,
) -> Path:
    """Draw the demo set into ``out_dir`` (train and val) and return its path.

    Image ``k`` of a class in a split depends only on (seed, split, class, k), so a larger set
    starts with the pictures of a smaller one.
    """
    for option, count in (("--per-class-train", per_class_train), ("--per-class-val", per_class_val)):
        if count < 1:
            raise DatasetError(option, f"needs at least 1 image per class, got {count}")
    if not 16 <= size <= MAX_IMAGE_SIZE:
        raise DatasetError(
            "--size", f"must be 16 or more (for shapes to be drawable) and at most {MAX_IMAGE_SIZE} pixels, got {size}"
        )
    per_split = {"train": per_class_train, "val": per_class_val}
    with DatasetStage(out_dir, force=force) as stage:
        jobs = [
            _DemoJob(str(stage.split_dir(split)), seed, split_index, label, k, size)
            for split_index, split in enumerate(SPLITS)
            for label in range(len(DEMO_CLASSES))
            for k in range(per_split[split])
        ]
        images = run_parallel(_draw_and_save, jobs, workers=workers, progress=progress)
        packed = {}
        for split_index, split in enumerate(SPLITS):
            chosen = [i for i, job in enumerate(jobs) if job.split_index == split_index]
            packed[split] = (
                np.stack([images[i] for i in chosen]),
                np.asarray([jobs[i].label for i in chosen], dtype=np.int64),
                [jobs[i].file_name for i in chosen],
            )
        return stage.commit(
            classes=list(DEMO_CLASSES),
            splits=packed,
            image_size=size,
            name="demo",
            source={"kind": "demo", "generator": "vit_tui.data.demo", "version": 1},
            options={"per_class_train": per_class_train, "per_class_val": per_class_val, "resize": "stretch"},
            seed=seed,
        )


@dataclass(frozen=True)
class _DemoJob:
    folder: str
    seed: int
    split_index: int
    label: int
    index: int
    size: int

    @property
    def file_name(self) -> str:
        return f"{DEMO_CLASSES[self.label]}_{self.index:05d}.jpg"


def _draw_and_save(job: _DemoJob) -> np.ndarray:
    rng = np.random.default_rng([job.seed, job.split_index, job.label, job.index])
    return save_and_reload(draw_shape(job.label, rng, job.size), Path(job.folder) / job.file_name)


def draw_shape(label: int, rng: np.random.Generator, size: int = 64) -> np.ndarray:
    """One RGB uint8 ``(size, size, 3)`` picture of class ``DEMO_CLASSES[label]``."""
    big = size * _SUPERSAMPLE
    background_mean = rng.uniform(30, 225, size=3)
    # Shape and clutter are drawn on a transparent layer at twice the size, then laid on the
    # background at the final size: smooth edges without drawing the background twice as large.
    layer = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    _clutter(draw, rng, big)
    colour = _contrasting_colour(rng, background_mean)
    radius = rng.uniform(0.24, 0.4) * big
    margin = radius * 0.8
    centre = rng.uniform(margin, big - margin, size=2)
    angle = rng.uniform(0, 2 * math.pi)
    _DRAWERS[DEMO_CLASSES[label]](draw, rng, centre, radius, angle, (*colour, 255))
    background = Image.fromarray(_background(rng, size, background_mean), "RGB").convert("RGBA")
    picture = Image.alpha_composite(background, layer.resize((size, size), Image.Resampling.BOX))
    noise = rng.standard_normal((size, size, 3), dtype=np.float32) * _NOISE
    return (np.asarray(picture.convert("RGB"), dtype=np.float32) + noise).clip(0, 255).astype(np.uint8)


def _background(rng: np.random.Generator, size: int, mean: np.ndarray) -> np.ndarray:
    """A linear gradient between two colours in a random direction."""
    other = (mean + rng.uniform(-50, 50, size=3)).clip(0, 255).astype(np.float32)
    direction = rng.uniform(0, 2 * math.pi)
    xs, ys = _unit_grid(size)
    ramp = (math.cos(direction) * xs + math.sin(direction) * ys + 0.5).clip(0, 1)[..., None]
    image = mean.astype(np.float32) + (other - mean.astype(np.float32)) * ramp
    return image.clip(0, 255).astype(np.uint8)


@functools.lru_cache(maxsize=4)
def _unit_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / size - 0.5
    return xs, ys


def _contrasting_colour(rng: np.random.Generator, background: np.ndarray) -> tuple[int, int, int]:
    for _ in range(50):
        colour = rng.uniform(0, 255, size=3)
        if np.abs(colour - background).sum() > 150:
            break
    return tuple(int(c) for c in colour)


def _clutter(draw: ImageDraw.ImageDraw, rng: np.random.Generator, big: int) -> None:
    for _ in range(int(rng.integers(2, 6))):
        colour = (*(int(c) for c in rng.uniform(0, 255, size=3)), 255)
        x, y = rng.uniform(0, big, size=2)
        if rng.random() < 0.5:
            r = rng.uniform(1.5, 4) * _SUPERSAMPLE
            draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
        else:
            length = rng.uniform(4, 10) * _SUPERSAMPLE
            turn = rng.uniform(0, 2 * math.pi)
            end = (x + length * math.cos(turn), y + length * math.sin(turn))
            draw.line((x, y, *end), fill=colour, width=_SUPERSAMPLE * int(rng.integers(1, 3)))


def _rotated(points: list[tuple[float, float]], centre: np.ndarray, angle: float) -> list[tuple[float, float]]:
    cos, sin = math.cos(angle), math.sin(angle)
    return [(centre[0] + x * cos - y * sin, centre[1] + x * sin + y * cos) for x, y in points]


def _circle(draw, rng, centre, radius, angle, colour) -> None:
    r = radius * 0.85
    draw.ellipse((centre[0] - r, centre[1] - r, centre[0] + r, centre[1] + r), fill=colour)


def _square(draw, rng, centre, radius, angle, colour) -> None:
    half = radius * 0.75
    corners = [(-half, -half), (half, -half), (half, half), (-half, half)]
    draw.polygon(_rotated(corners, centre, angle), fill=colour)


def _triangle(draw, rng, centre, radius, angle, colour) -> None:
    corners = []
    for k in range(3):
        turn = 2 * math.pi * k / 3 + rng.uniform(-0.15, 0.15)
        reach = radius * rng.uniform(0.9, 1.1)
        corners.append((reach * math.cos(turn), reach * math.sin(turn)))
    draw.polygon(_rotated(corners, centre, angle), fill=colour)


def _cross(draw, rng, centre, radius, angle, colour) -> None:
    arm = radius * rng.uniform(0.22, 0.32)
    for bar in (
        [(-radius, -arm), (radius, -arm), (radius, arm), (-radius, arm)],
        [(-arm, -radius), (arm, -radius), (arm, radius), (-arm, radius)],
    ):
        draw.polygon(_rotated(bar, centre, angle), fill=colour)


def _stripes(draw, rng, centre, radius, angle, colour) -> None:
    count = int(rng.integers(3, 5))
    half = radius * 0.8
    pitch = 2 * half / (2 * count - 1)
    for k in range(count):
        top = -half + 2 * k * pitch
        band = [(-half, top), (half, top), (half, top + pitch), (-half, top + pitch)]
        draw.polygon(_rotated(band, centre, angle), fill=colour)


_DRAWERS = {"circle": _circle, "square": _square, "triangle": _triangle, "cross": _cross, "stripes": _stripes}
