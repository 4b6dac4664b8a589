"""Predictions on image files: the top-k classes of each, and their CSV export.

``predict_paths`` takes files and folders (searched recursively for images), reads each as the
run's dataset was built, and returns one ``Prediction`` per file: its path (which the app's
thumbnails read as they are) and the k most likely classes with their softmax probabilities.
``write_predictions_csv`` / ``read_predictions_csv`` store and reload such a list.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from ...data.imaging import image_files
from ...errors import UserError
from ...files import write_text
from .model import RunModel, open_run

# Bounds memory on a large folder; a batch of 64 small images costs little on any device.
PREDICT_BATCH = 64


@dataclass(frozen=True)
class Prediction:
    """One image's k most likely classes, most likely first, with their probabilities."""

    path: Path
    top: tuple[tuple[str, float], ...]

    @property
    def best(self) -> str:
        return self.top[0][0]


def predict_paths(
    run: RunModel | str | os.PathLike,
    paths: Sequence[str | os.PathLike],
    top_k: int = 5,
    *,
    checkpoint: str = "best",
    device: str = "cpu",
    skipped: list[Path] | None = None,
) -> list[Prediction]:
    """The top-k predictions for each image file under ``paths`` (files, or folders searched recursively).

    ``run`` is a run folder (loaded here with ``checkpoint`` on ``device``) or a ``RunModel``
    already loaded, which the app keeps between requests. Bad paths and unreadable images are
    ``UserError``s naming the file; nothing is returned then. Given a ``skipped`` list, an
    unreadable file found inside a named folder is left out and added to that list instead (a file
    named itself stays an error); should no image be readable at all, that is a ``UserError``.
    """
    if top_k < 1:
        raise UserError("--top-k", f"must be at least 1, got {top_k}")
    files = image_files(paths)
    named = {Path(p) for p in paths if not Path(p).is_dir()}
    model = run if isinstance(run, RunModel) else open_run(run, checkpoint, device)
    k = min(top_k, len(model.classes))
    predictions: list[Prediction] = []
    left_out: list[Path] = []
    for start in range(0, len(files), PREDICT_BATCH):
        images, batch, unreadable = model.read_readable(files[start : start + PREDICT_BATCH])
        for path, why in unreadable:
            if skipped is None or path in named:
                raise UserError(str(path), f"cannot read this image ({why})")
            left_out.append(path)
        if not batch:
            continue
        values, indices = class_probabilities(model, images).topk(k, dim=1)
        for path, row_values, row_indices in zip(batch, values.tolist(), indices.tolist()):
            top = tuple((model.classes[i], float(p)) for p, i in zip(row_values, row_indices))
            predictions.append(Prediction(path, top))
    if left_out and not predictions:
        subject = ", ".join(str(p) for p in paths)
        subject = subject if len(subject) <= 200 else subject[:200] + "..."
        raise UserError(subject, f"none of the {len(left_out):,} image file(s) found can be read ({_names(left_out)})")
    if skipped is not None:
        skipped += left_out
    return predictions


def skipped_warning(skipped: Sequence[Path], limit: int = 5) -> str:
    """The one-line warning naming the unreadable images a prediction left out."""
    return f"vit-tui: warning: {len(skipped):,} unreadable image(s) skipped: {_names(skipped, limit)}"


def _names(paths: Sequence[Path], limit: int = 5) -> str:
    shown = ", ".join(str(p) for p in paths[:limit])
    return shown + (f" and {len(paths) - limit:,} more" if len(paths) > limit else "")


def class_probabilities(run: RunModel, images: torch.Tensor) -> torch.Tensor:
    """Softmax probabilities (N, C) on the CPU for uint8 (N, S, S, 3) images, in fp32."""
    from ...data.augment import to_model_input
    from ..device.precision import eval_mode

    with eval_mode(run.model):
        return run.model(to_model_input(images)).float().softmax(dim=1).cpu()


def write_predictions_csv(path: str | os.PathLike, predictions: Sequence[Prediction]) -> Path:
    """One row per image: ``file``, then ``class_i`` and ``probability_i`` for each rank i."""
    k = max((len(p.top) for p in predictions), default=0)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["file", *(f"{field}_{i}" for i in range(1, k + 1) for field in ("class", "probability"))])
    for prediction in predictions:
        cells = [cell for name, prob in prediction.top for cell in (name, f"{prob:.6f}")]
        writer.writerow([str(prediction.path), *cells])
    return write_text(path, out.getvalue())


def read_predictions_csv(path: str | os.PathLike) -> list[Prediction]:
    """The predictions a ``write_predictions_csv`` file holds (probabilities to six decimals)."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    predictions = []
    for row in rows[1:]:
        ranked = [(row[i], float(row[i + 1])) for i in range(1, len(row) - 1, 2) if row[i]]
        predictions.append(Prediction(Path(row[0]), tuple(ranked)))
    return predictions
