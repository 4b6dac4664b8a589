"""COCO subsets: read an instances file, list its classes, sample images per class, build a dataset.

``index`` finds and loads the annotation file and locates its images, ``classes`` lists its
categories with image counts (cached per file), ``sampling`` picks the images of each class, and
``build`` converts them into a dataset folder. The names below are the package's public ones.
"""

from .build import REFERENCE_CLASSES, build_coco
from .classes import CLASS_CACHE_ENV, class_cache_path, coco_class_counts, coco_classes
from .index import find_coco, locate_image

__all__ = [
    "CLASS_CACHE_ENV",
    "REFERENCE_CLASSES",
    "build_coco",
    "class_cache_path",
    "coco_class_counts",
    "coco_classes",
    "find_coco",
    "locate_image",
]
