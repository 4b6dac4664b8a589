"""A picture of a dataset: a grid of random images, one row per class (``samples.png``)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..figures import FIGURE_DPI
from ..files import write_with
from .store import DatasetError, load_split_arrays, read_manifest


def sample_indices(labels: np.ndarray, num_classes: int, per_class: int, seed: int) -> list[list[int]]:
    """Up to ``per_class`` random indices of each class (seeded), in class order."""
    rng = np.random.default_rng(seed)
    rows = []
    for label in range(num_classes):
        members = np.flatnonzero(labels == label)
        take = min(per_class, len(members))
        rows.append(sorted(int(i) for i in rng.choice(members, take, replace=False)) if take else [])
    return rows


def write_samples(
    dataset_dir: str | os.PathLike,
    out_path: str | os.PathLike | None = None,
    *,
    per_class: int = 5,
    split: str = "train",
    seed: int = 0,
) -> Path:
    """Draw ``per_class`` random images of every class as a grid PNG; returns its path.

    The default path is ``<dataset>/samples.png``.
    """
    from matplotlib.figure import Figure

    if per_class < 1:
        raise DatasetError("--per-class", f"must be 1 or more, got {per_class}")
    folder = Path(dataset_dir)
    manifest = read_manifest(folder)
    data = load_split_arrays(folder, split)
    rows = sample_indices(data.labels, len(manifest.classes), per_class, seed)
    columns = max(1, max(len(indices) for indices in rows))
    figure = Figure(figsize=(1.25 * columns + 1.2, 1.25 * len(rows) + 0.6), dpi=100)
    axes = figure.subplots(len(rows), columns, squeeze=False)
    for row, (name, indices) in enumerate(zip(manifest.classes, rows)):
        for col in range(columns):
            ax = axes[row][col]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if col < len(indices):
                ax.imshow(data.images[indices[col]], interpolation="nearest")
        axes[row][0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=10)
    figure.suptitle(f"{manifest.name}: {split}, up to {per_class} random images per class", fontsize=11)
    figure.tight_layout()
    target = Path(out_path) if out_path is not None else folder / "samples.png"
    write_with(target, lambda handle: figure.savefig(handle, format="png", dpi=FIGURE_DPI), mkdir=False)
    return target
