"""A run's figures: the confusion matrix heatmap (``confusion_matrix.png``) and the loss and
accuracy curves (``curves.png``); ``draw_confusion`` also draws the side-by-side comparisons.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...figures import epoch_axis, figure, save_figure


def draw_confusion(ax, confusion: np.ndarray, classes: Sequence[str], title: str) -> None:
    """An annotated heatmap: counts and row percentages; rows true, columns predicted."""
    confusion = np.asarray(confusion)
    rows = confusion.sum(axis=1, keepdims=True)
    share = np.divide(confusion, rows, out=np.zeros(confusion.shape, dtype=float), where=rows > 0)
    ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    n = len(classes)
    ax.set_xticks(range(n), labels=list(classes), rotation=45, ha="right")
    ax.set_yticks(range(n), labels=list(classes))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=10)
    small = n > 8
    for i in range(n):
        for j in range(n):
            text = f"{confusion[i, j]}" if small else f"{confusion[i, j]}\n{share[i, j]:.0%}"
            colour = "white" if share[i, j] > 0.5 else "black"
            ax.text(j, i, text, ha="center", va="center", color=colour, fontsize=7 if small else 9)


def plot_confusion(path: Path, confusion: np.ndarray, classes: Sequence[str], title: str) -> Path:
    """``confusion_matrix.png``."""
    side = max(5.0, 0.7 * len(classes) + 2.5)
    fig = figure(side, side)
    draw_confusion(fig.add_subplot(), confusion, classes, title)
    save_figure(fig, path)
    return path


def plot_curves(path: Path, history: list[dict[str, Any]], best_epoch: int, title: str) -> Path:
    """``curves.png``: loss and accuracy per epoch, train and validation, best epoch marked."""
    fig = figure(10, 4)
    loss_ax, acc_ax = fig.subplots(1, 2)
    epochs = [row["epoch"] for row in history]
    for ax, key, label in ((loss_ax, "loss", "loss"), (acc_ax, "acc", "accuracy")):
        ax.plot(epochs, [row[f"train_{key}"] for row in history], marker="o", label=f"train {label}")
        ax.plot(epochs, [row[f"val_{key}"] for row in history], marker="o", label=f"validation {label}")
        if best_epoch > 0:
            ax.axvline(best_epoch, color="grey", linestyle=":", label=f"best epoch ({best_epoch})")
        epoch_axis(ax)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    acc_ax.set_ylim(-0.02, 1.02)
    fig.suptitle(title)
    save_figure(fig, path)
    return path
