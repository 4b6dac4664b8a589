"""Small on-disk inputs for the dataset tests: a COCO-format annotation file with real JPEGs.

Every image of a class is filled with that class's colour, so a test can tell from the pixels of
a built file which class it came from. Images holding two classes are split half and half.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
COCO128 = SHARED_DATA / "coco128"
CIFAR10_5 = SHARED_DATA / "cifar10-5.tar.gz"

# name -> (category id, colour); ids follow COCO's.
TINY_CATEGORIES = {
    "person": (1, (250, 250, 250)),
    "airplane": (5, (220, 30, 30)),
    "bus": (6, (30, 200, 30)),
    "cat": (17, (30, 30, 220)),
    "dog": (18, (220, 220, 30)),
    "pizza": (59, (30, 210, 210)),
    "traffic light": (10, (200, 30, 200)),
}


@dataclass
class TinyCoco:
    """Paths and ground truth of a generated COCO-format set."""

    ann_file: Path
    images_dir: Path
    images_of: dict[str, list[str]] = field(default_factory=dict)
    """class name -> file names (as the JSON lists them) of images holding it."""
    multi: list[str] = field(default_factory=list)
    """file names of images holding two classes."""


def coco_file_name(image_id: int, year: str) -> str:
    """``000000000009.jpg`` (2017) or ``COCO_train2014_000000000009.jpg`` (2014)."""
    return f"{image_id:012d}.jpg" if year == "2017" else f"COCO_train{year}_{image_id:012d}.jpg"


def make_tiny_coco(
    root: Path,
    per_class: dict[str, int] | None = None,
    multi_pairs: int = 2,
    year: str = "2017",
    image_size: tuple[int, int] = (48, 36),
) -> TinyCoco:
    """Write ``annotations/instances_train<year>.json`` and ``train<year>/*.jpg`` under ``root``.

    ``multi_pairs`` images hold both cat and dog.
    """
    per_class = per_class or {"airplane": 5, "bus": 5, "cat": 4, "dog": 6, "pizza": 5, "traffic light": 3}
    images_dir = root / f"train{year}"
    images_dir.mkdir(parents=True)
    (root / "annotations").mkdir()
    images, annotations = [], []
    tiny = TinyCoco(root / "annotations" / f"instances_train{year}.json", images_dir)
    next_id = 9

    def add_image(classes: list[str]) -> None:
        nonlocal next_id
        name = coco_file_name(next_id, year)
        _draw(images_dir / name, classes, image_size)
        images.append({"id": next_id, "file_name": name, "width": image_size[0], "height": image_size[1]})
        for cls in classes:
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": next_id,
                    "category_id": TINY_CATEGORIES[cls][0],
                    "bbox": [0, 0, 4, 4],
                    "area": 16,
                    "iscrowd": 0,
                }
            )
            tiny.images_of.setdefault(cls, []).append(name)
        if len(classes) > 1:
            tiny.multi.append(name)
        next_id += 7

    for cls, count in per_class.items():
        for _ in range(count):
            add_image([cls])
    for _ in range(multi_pairs):
        add_image(["cat", "dog"])
    categories = [{"id": cid, "name": name, "supercategory": "x"} for name, (cid, _) in TINY_CATEGORIES.items()]
    raw = {"info": {}, "licenses": [], "images": images, "annotations": annotations, "categories": categories}
    tiny.ann_file.write_text(json.dumps(raw))
    return tiny


def _draw(path: Path, classes: list[str], size: tuple[int, int]) -> None:
    width, height = size
    pixels = np.zeros((height, width, 3), np.uint8)
    bands = np.array_split(np.arange(width), len(classes))
    for cls, cols in zip(classes, bands):
        pixels[:, cols] = TINY_CATEGORIES[cls][1]
    Image.fromarray(pixels).save(path, quality=95)


def class_of_colour(image: np.ndarray) -> str:
    """The tiny category whose colour is closest to the mean colour of ``image``."""
    mean = image.reshape(-1, 3).mean(axis=0)
    return min(TINY_CATEGORIES, key=lambda name: np.abs(mean - TINY_CATEGORIES[name][1]).sum())


def corrupt_file(path: Path, keep_bytes: int = 200) -> None:
    """Cut a file short, as an interrupted download leaves it."""
    data = path.read_bytes()
    path.write_bytes(data[:keep_bytes])


def tree_entries(folder: Path) -> list[str]:
    """Every name directly under ``folder`` (hidden ones too), sorted."""
    return sorted(os.listdir(folder)) if folder.exists() else []


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Torch on one thread for a module (import it into the module to apply it there).

    Tiny models run fastest on one thread, other test processes share the cores, and the
    ``vit-tui`` subprocesses run the same way, so in-process runs match them bit for bit.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def restore_determinism():
    """Runs seed as they train, which switches process-wide flags: put them back after each test
    (import it into the module to apply it there)."""
    import torch

    saved = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    yield
    torch.use_deterministic_algorithms(saved[0])
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = saved[1], saved[2]
