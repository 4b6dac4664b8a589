"""Evaluation: validation passes, confusion matrix, per-class metrics and mistakes.

``run_inference`` is the batched no-grad pass the trainer uses every epoch (one host sync);
``evaluate_run`` loads a run's checkpoint and scores it on a dataset's validation split.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ...config import RunConfig
from ...data.imaging import fit_images
from ...errors import UserError
from ..device.placement import resolve_device
from ..device.precision import autocast, eval_mode, resolve_precision
from .metrics import Evaluation, summarize_predictions
from .model import load_run_model


class EvaluationStopped(Exception):
    """A pass over a split was asked to stop (a signal during a run's final evaluation)."""


@dataclass(frozen=True)
class Inference:
    """Totals of a pass over a split; ``probs`` (N, C) on the CPU when asked for."""

    loss: float
    correct: int
    count: int
    probs: torch.Tensor | None

    @property
    def accuracy(self) -> float:
        return self.correct / max(1, self.count)


def run_inference(
    model: torch.nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    batch_size: int,
    precision: str,
    keep_probs: bool = False,
    stop: Callable[[], bool] | None = None,
) -> Inference:
    """Mean cross-entropy and correct count over a split, in batches, without gradients.

    ``stop`` is asked before every batch; when it says yes the pass ends with ``EvaluationStopped``.
    """
    from ...data.augment import to_model_input

    device = images.device
    loss_sum = torch.zeros((), dtype=torch.float32, device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    probs = []
    with eval_mode(model):
        for start in range(0, labels.shape[0], batch_size):
            if stop is not None and stop():
                raise EvaluationStopped
            x = to_model_input(images[start : start + batch_size])
            y = labels[start : start + batch_size]
            with autocast(precision, device):
                logits = model(x)
            logits = logits.float()
            loss_sum += F.cross_entropy(logits, y, reduction="sum")
            correct += (logits.argmax(dim=1) == y).sum()
            if keep_probs:
                probs.append(logits.softmax(dim=1))
    loss_total, correct_total = torch.stack([loss_sum, correct.to(torch.float32)]).tolist()
    count = int(labels.shape[0])
    return Inference(
        loss=loss_total / max(1, count),
        correct=round(correct_total),
        count=count,
        probs=torch.cat(probs).cpu() if keep_probs and probs else None,
    )


def load_val_split(
    cfg: RunConfig, classes: list[str], data_dir: str | os.PathLike | None, device: torch.device
) -> tuple[Any, torch.Tensor]:
    """The validation split of the run's dataset (or of ``data_dir``) and its images at the model's size.

    A dataset with other classes than the run's is a ``UserError``.
    """
    from ...data.store import load_split

    dataset = Path(data_dir) if data_dir is not None else Path(cfg.data.dataset)
    split = _user_error_on_data(lambda: load_split(dataset, "val", device), dataset)
    if list(split.classes) != classes:
        raise UserError(str(dataset), f"classes {', '.join(split.classes)} differ from the run's {', '.join(classes)}")
    return split, fit_images(split.images, cfg.model.image_size)


def evaluate_run(
    run_dir: str | os.PathLike,
    data_dir: str | os.PathLike | None = None,
    checkpoint: str = "best",
    device: str = "auto",
) -> Evaluation:
    """Score a run's checkpoint on the validation split of its dataset (or of ``data_dir``)."""
    torch_device = resolve_device(device)
    model, cfg, classes, _ = load_run_model(run_dir, checkpoint, torch_device)
    split, images = load_val_split(cfg, classes, data_dir, torch_device)
    result = run_inference(
        model,
        images,
        split.labels,
        batch_size=cfg.train.eval_batch_size,
        precision=resolve_precision(cfg.train.precision, torch_device),
        keep_probs=True,
    )
    probs = result.probs.numpy() if result.probs is not None else np.zeros((0, len(classes)))
    return summarize_predictions(split.labels.cpu().numpy(), probs, result.loss, classes, list(split.files))


def _user_error_on_data(load, dataset: Path):
    """Run a dataset load, turning the data package's errors into a ``UserError``."""
    from ...data.store import DatasetError

    try:
        return load()
    except UserError:
        raise
    except DatasetError as exc:
        raise UserError(str(dataset), str(exc)) from None
