"""Evaluation: validation passes, confusion matrix, per-class metrics, mistakes, predictions.

``run_inference`` is the batched no-grad pass the trainer uses every epoch (one host sync);
``evaluate_run`` loads a run's checkpoint and scores it on a dataset's validation split;
``open_run`` loads a run's checkpoint for inference (``RunModel``), which ``predict_images``
(and ``engine.infer.predict``, ``engine.infer.attention_maps``) classify and inspect image files with.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ...config import RunConfig
from ...errors import UserError
from ..device.placement import autocast, eval_mode, resolve_device, resolve_precision
from ..runs.checkpoint import (
    RESUME_FORMAT,
    WEIGHTS_FORMAT,
    checkpoint_config,
    load_checkpoint,
    load_model_state,
    weights_path,
)
from .metrics import Evaluation, Mistake, load_evaluation, save_evaluation, summarize_predictions

__all__ = [
    "Evaluation",
    "EvaluationStopped",
    "Inference",
    "Mistake",
    "RunModel",
    "evaluate_run",
    "fit_images",
    "image_files",
    "load_evaluation",
    "open_run",
    "predict_images",
    "run_inference",
    "save_evaluation",
    "summarize_predictions",
]


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


def fit_images(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 NHWC images resized to ``size`` (antialiased bilinear) when they differ; else as is."""
    if images.shape[1] == size and images.shape[2] == size:
        return images
    out = []
    for chunk in images.split(1024):
        x = chunk.permute(0, 3, 1, 2).float()
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out.append(x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous())
    return torch.cat(out) if out else images[:, :size, :size]


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


# --- loading a run's model -------------------------------------------------------------------


def load_run_model(
    run_dir: str | os.PathLike, checkpoint: str = "best", device: torch.device | None = None
) -> tuple[torch.nn.Module, RunConfig, list[str], dict[str, Any]]:
    """The model of a run's checkpoint (eval mode), its config, classes and checkpoint metadata."""
    from ...model.vit import build_model

    if checkpoint not in ("best", "last"):
        raise UserError("--checkpoint", f"unknown checkpoint {checkpoint!r}; use best or last")
    path = weights_path(Path(run_dir), checkpoint)
    resume = weights_path(Path(run_dir), "resume")
    if checkpoint == "last" and not path.exists() and resume.exists():
        # An unfinished run's latest weights live in its resumable checkpoint.
        path = resume
        data = load_checkpoint(path, RESUME_FORMAT)
        data["epoch"] = len(data["history"])
        data["val_acc"] = data["history"][-1]["val_acc"] if data["history"] else 0.0
    else:
        data = load_checkpoint(path, WEIGHTS_FORMAT)
    cfg = checkpoint_config(data, path)
    classes = list(data["classes"])
    model = build_model(cfg.model, len(classes))
    load_model_state(model, data["model"], str(path))
    model.to(device or torch.device("cpu")).eval()
    meta = {"epoch": int(data["epoch"]), "val_acc": float(data["val_acc"]), "path": str(path)}
    return model, cfg, classes, meta


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


def image_files(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """The image files ``paths`` name: files as given, folders searched recursively, in order, each once.

    A missing path or a folder holding no image is a ``UserError``; a file that is not an image
    is found out when it is read.
    """
    from ...data.imaging import IMAGE_SUFFIXES, is_image_name

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


@dataclass(frozen=True)
class RunModel:
    """A run's checkpoint loaded for inference: the model (eval mode) and what reading images takes."""

    model: torch.nn.Module
    cfg: RunConfig
    classes: list[str]
    meta: dict[str, Any]
    device: torch.device
    resize: str

    def read_images(self, paths: Sequence[str | os.PathLike]) -> torch.Tensor:
        """uint8 (N, S, S, 3) on the model's device, each file read as the run's dataset was built.

        A file that cannot be read is a ``UserError`` naming it."""
        images, _, unreadable = self.read_readable(paths)
        if unreadable:
            path, why = unreadable[0]
            raise UserError(str(path), f"cannot read this image ({why})")
        return images

    def read_readable(
        self, paths: Sequence[str | os.PathLike]
    ) -> tuple[torch.Tensor, list[Path], list[tuple[Path, str]]]:
        """The images of ``paths`` that can be read (as ``read_images``), their paths, and the
        unreadable ones with the reason."""
        from ...data.imaging import ImageReadError, read_image

        size = self.cfg.model.image_size
        arrays, read, unreadable = [], [], []
        for path in map(Path, paths):
            try:
                arrays.append(read_image(path, size, self.resize))
                read.append(path)
            except ImageReadError as exc:
                unreadable.append((path, str(exc)))
        if not arrays:
            return torch.zeros((0, size, size, 3), dtype=torch.uint8, device=self.device), read, unreadable
        return torch.from_numpy(np.stack(arrays)).to(self.device), read, unreadable


def open_run(run_dir: str | os.PathLike, checkpoint: str = "best", device: str = "cpu") -> RunModel:
    """Load a run's ``best`` or ``last`` weights on ``device`` for predictions and attention maps."""
    torch_device = resolve_device(device)
    model, cfg, classes, meta = load_run_model(run_dir, checkpoint, torch_device)
    return RunModel(model, cfg, classes, meta, torch_device, resize_mode(cfg))


def predict_images(
    run_dir: str | os.PathLike,
    image_paths: Sequence[str | os.PathLike],
    checkpoint: str = "best",
    top_k: int = 3,
    device: str = "cpu",
) -> list[list[tuple[str, float]]]:
    """Top-k (class, probability) for each image file, most likely first."""
    from .predict import predict_paths

    predictions = predict_paths(run_dir, image_paths, top_k, checkpoint=checkpoint, device=device)
    return [list(p.top) for p in predictions]


def resize_mode(cfg: RunConfig) -> str:
    """How the run's dataset resized its pictures (stretch unless its manifest says otherwise)."""
    try:
        from ...data.store import read_manifest

        manifest = read_manifest(Path(cfg.data.dataset))
    except Exception:  # noqa: BLE001 - the dataset may be gone; stretching is the builders' default
        return "stretch"
    options = manifest.get("options", {}) if isinstance(manifest, dict) else getattr(manifest, "options", {})
    resize = options.get("resize", "stretch") if isinstance(options, dict) else "stretch"
    return resize if resize in ("stretch", "center-crop") else "stretch"


def _user_error_on_data(load, dataset: Path):
    """Run a dataset load, turning the data package's errors into a ``UserError``."""
    from ...data.store import DatasetError

    try:
        return load()
    except UserError:
        raise
    except DatasetError as exc:
        raise UserError(str(dataset), str(exc)) from None
