"""A plain training loop over tensors already in memory: the like-for-like baseline of the engine.

What a careful user writes by hand: the uint8 images resident on the device, a ``randperm`` per
epoch cut into full batches, the same model, augmentation, loss, schedule and clipping as the
run's config, the optimizer with torch's defaults (no fused kernels, weight decay on every
parameter), and a ``.item()`` host read every step for the running loss. Benchmarks only: the
package never imports this.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from vit_tui.config import RunConfig
from vit_tui.data.augment import augment_batch, to_model_input
from vit_tui.engine.train.optimizer import lr_factor
from vit_tui.model.build import build_model


@dataclass
class LoopEpoch:
    """One epoch of the plain loop: training seconds (validation excluded) and validation accuracy."""

    epoch: int
    seconds: float
    images: int
    train_loss: float
    val_acc: float | None


def _optimizer(model: torch.nn.Module, cfg: RunConfig) -> torch.optim.Optimizer:
    t = cfg.train
    if t.optimizer == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=t.lr, betas=t.betas, weight_decay=t.weight_decay)
    if t.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=t.lr, betas=t.betas, weight_decay=t.weight_decay)
    return torch.optim.SGD(model.parameters(), lr=t.lr, momentum=0.9, weight_decay=t.weight_decay)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def accuracy(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, precision: str) -> float:
    """Top-1 accuracy on uint8 NHWC ``images``, in batches of 512."""
    model.eval()
    correct = 0
    with torch.no_grad(), torch.autocast(images.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        for start in range(0, len(labels), 512):
            logits = model(to_model_input(images[start : start + 512]))
            correct += int((logits.argmax(1) == labels[start : start + 512]).sum())
    model.train()
    return correct / len(labels)


def plain_train(
    cfg: RunConfig,
    train_images: torch.Tensor,
    train_labels: torch.Tensor,
    num_classes: int,
    *,
    precision: str = "fp32",
    val: tuple[torch.Tensor, torch.Tensor] | None = None,
    epochs: int | None = None,
    on_epoch: Callable[[LoopEpoch], None] = lambda e: None,
) -> list[LoopEpoch]:
    """Train ``cfg``'s model and recipe on resident uint8 NHWC images; validate each epoch when ``val`` is given."""
    t = cfg.train
    device = train_images.device
    torch.manual_seed(t.seed)
    model = build_model(cfg.model, num_classes).to(device)
    optimizer = _optimizer(model, cfg)
    epochs = epochs or t.epochs
    steps_per_epoch = len(train_labels) // t.batch_size
    total = max(1, t.epochs * steps_per_epoch)
    warmup = min(total, round(t.warmup_epochs * steps_per_epoch))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, warmup, total, t.schedule))
    results = []
    for epoch in range(1, epochs + 1):
        _sync(device)
        start = time.perf_counter()
        order = torch.randperm(len(train_labels), device=device)
        running = 0.0
        for step in range(steps_per_epoch):
            index = order[step * t.batch_size : (step + 1) * t.batch_size]
            images = augment_batch(train_images[index], t.augment)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
                logits = model(to_model_input(images))
            loss = F.cross_entropy(logits.float(), train_labels[index], label_smoothing=t.label_smoothing)
            optimizer.zero_grad()
            loss.backward()
            if t.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), t.grad_clip)
            optimizer.step()
            scheduler.step()
            running += loss.item()
        _sync(device)
        seconds = time.perf_counter() - start
        val_acc = accuracy(model, *val, precision) if val is not None else None
        record = LoopEpoch(epoch, seconds, steps_per_epoch * t.batch_size, running / max(1, steps_per_epoch), val_acc)
        results.append(record)
        on_epoch(record)
    return results
