"""A run's trained model loaded from its checkpoint: ``load_run_model`` (the model, config, classes and
checkpoint facts) and ``open_run`` (a ``RunModel`` that also reads image files as the run's dataset
was built), which predictions, attention maps, evaluation and model export start from.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ...config import RunConfig
from ...errors import UserError
from ..device.placement import resolve_device
from ..runs.checkpoint import RESUME_FORMAT, WEIGHTS_FORMAT, checkpoint_config, load_checkpoint, load_model_state
from ..runs.folder import RunFolder


def load_run_model(
    run_dir: str | os.PathLike, checkpoint: str = "best", device: torch.device | None = None
) -> tuple[torch.nn.Module, RunConfig, list[str], dict[str, Any]]:
    """The model of a run's checkpoint (eval mode), its config, classes and checkpoint metadata."""
    from ...model.build import build_model

    if checkpoint not in ("best", "last"):
        raise UserError("--checkpoint", f"unknown checkpoint {checkpoint!r}; use best or last")
    folder = RunFolder(run_dir)
    path, resume = folder.weights(checkpoint), folder.weights("resume")
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
