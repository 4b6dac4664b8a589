"""A synthetic COCO instances file of any size, train2017's by default (118,287 images, 860,001 annotations).

Valid COCO JSON with every field pycocotools and the builder read: ``images`` (id, file_name,
width, height), ``annotations`` (id, image_id, category_id, bbox, area, iscrowd and a 7-point
polygon), and 80 ``categories`` with train2017's ids (1-90 with ten gaps). Categories are drawn
with a Zipf-like skew, as in COCO, where a few classes are in most images. The text is written
with string templates rather than ``json.dump``, so the full size takes seconds.

``write_coco_scale`` returns the number of images of each category id, counted here with numpy,
independently of the code under test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

TRAIN2017_IMAGES = 118_287
TRAIN2017_ANNOTATIONS = 860_001
MISSING_IDS = (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)
CATEGORY_IDS = tuple(i for i in range(1, 91) if i not in MISSING_IDS)
CHUNK = 50_000


def category_name(cat_id: int) -> str:
    return f"category {cat_id:02d}"


def write_coco_scale(
    path: Path, images: int = TRAIN2017_IMAGES, annotations: int = TRAIN2017_ANNOTATIONS, seed: int = 0
) -> dict[int, int]:
    """Write the file; returns {category id: images holding it}."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, len(CATEGORY_IDS) + 1) ** 0.8
    cat_index = rng.choice(len(CATEGORY_IDS), size=annotations, p=weights / weights.sum())
    image_ids = rng.integers(1, images + 1, size=annotations)
    boxes = rng.integers(0, 300, size=(annotations, 4)) + np.array([0, 0, 1, 1])
    with open(path, "w", encoding="utf-8") as out:
        out.write('{"info":{"description":"synthetic train2017-sized instances"},"licenses":[],"images":[')
        out.write(",".join(_image(i) for i in range(1, images + 1)))
        out.write('],"annotations":[')
        for start in range(0, annotations, CHUNK):
            stop = min(annotations, start + CHUNK)
            rows = (
                _annotation(k + 1, int(image_ids[k]), CATEGORY_IDS[cat_index[k]], *boxes[k].tolist())
                for k in range(start, stop)
            )
            out.write(("," if start else "") + ",".join(rows))
        out.write('],"categories":[')
        out.write(",".join(f'{{"supercategory":"thing","id":{c},"name":"{category_name(c)}"}}' for c in CATEGORY_IDS))
        out.write("]}")
    pairs = np.unique(np.stack([cat_index, image_ids]), axis=1)
    per_category = np.bincount(pairs[0], minlength=len(CATEGORY_IDS))
    return {cat_id: int(n) for cat_id, n in zip(CATEGORY_IDS, per_category)}


def _image(image_id: int) -> str:
    return f'{{"license":1,"file_name":"{image_id:012d}.jpg","height":480,"width":640,"id":{image_id}}}'


def _annotation(ann_id: int, image_id: int, cat_id: int, x: int, y: int, w: int, h: int) -> str:
    polygon = f"[[{x},{y},{x + w},{y},{x + w},{y + h / 2},{x + w},{y + h},{x},{y + h},{x},{y + h / 2},{x + w / 2},{y}]]"
    return (
        f'{{"segmentation":{polygon},"area":{w * h},"iscrowd":0,"image_id":{image_id},'
        f'"bbox":[{x},{y},{w},{h}],"category_id":{cat_id},"id":{ann_id}}}'
    )
