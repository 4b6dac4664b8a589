"""vit-tui: build COCO subsets, train and study Vision Transformers from a terminal."""

__version__ = "0.1.0"
