"""The optimizer and learning-rate schedule of a run: Adam, AdamW or SGD without weight decay on
biases, norms, the class token and positions; a constant lr or linear warm-up then cosine decay,
written each step into the lr (a device tensor for a captured step); and which optimizer settings
a resumed run keeps from its own build rather than from the file.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from ...config import RunConfig
from .graph_step import optimizer_options

NO_DECAY_NAMES = ("cls_token", "pos_embed")


def make_optimizer(
    model: torch.nn.Module, cfg: RunConfig, device: torch.device, streamed: bool = False
) -> torch.optim.Optimizer:
    """Adam, AdamW or SGD (momentum 0.9); no weight decay on biases, norms, class token, positions."""
    t = cfg.train
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        skip = param.ndim <= 1 or name.split(".")[-1] in NO_DECAY_NAMES
        (no_decay if skip else decay).append(param)
    groups = [
        {"params": decay, "weight_decay": t.weight_decay, "decay": True},
        {"params": no_decay, "weight_decay": 0.0, "decay": False},
    ]
    groups = [g for g in groups if g["params"]]
    extra = optimizer_options(cfg, device, streamed)
    lr = extra.pop("lr", t.lr)
    if t.optimizer == "adam":
        return torch.optim.Adam(groups, lr=lr, betas=t.betas, **extra)
    if t.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=lr, betas=t.betas, **extra)
    return torch.optim.SGD(groups, lr=lr, momentum=0.9, **extra)


def lr_factor(step: int, warmup_steps: int, total_steps: int, schedule: str) -> float:
    """Multiplier of the peak learning rate before optimizer step ``step`` (0-based)."""
    if schedule != "cosine":
        return 1.0
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


class PeakTimesFactor(torch.optim.lr_scheduler.LambdaLR):
    """``LambdaLR`` whose lr is the peak lr times ``lr_factor(step)``, written in place into a tensor lr.

    A captured graph reads the lr from the device tensor the optimizer was built with, so that
    very tensor is filled each step (never replaced), from the float peak directly: nothing
    depends on how a torch release copies ``initial_lr`` from a tensor lr (pytorch#126854).
    """

    def __init__(self, optimizer: torch.optim.Optimizer, peak: float, factor: Callable[[int], float]) -> None:
        for group in optimizer.param_groups:
            group["initial_lr"] = float(peak)  # a float, never an alias of the tensor lr
        super().__init__(optimizer, factor, last_epoch=-1)

    def step(self, epoch: int | None = None) -> None:
        self._step_count += 1
        self.last_epoch += 1
        values = [float(base) * fn(self.last_epoch) for base, fn in zip(self.base_lrs, self.lr_lambdas)]
        for group, value in zip(self.optimizer.param_groups, values):
            if torch.is_tensor(group["lr"]):
                group["lr"].fill_(value)
            else:
                group["lr"] = value
        self._last_lr = values


def make_scheduler(optimizer: torch.optim.Optimizer, cfg: RunConfig, steps_per_epoch: int) -> PeakTimesFactor:
    """Per-step schedule: constant, or linear warm-up then cosine decay to zero."""
    t = cfg.train
    total = max(1, t.epochs * steps_per_epoch)
    warmup = min(total, round(t.warmup_epochs * steps_per_epoch))
    return PeakTimesFactor(optimizer, t.lr, lambda s: lr_factor(s, warmup, total, t.schedule))


OWN_OPTIMIZER_SETTINGS = ("capturable", "fused", "foreach", "differentiable")
"""How an optimizer runs, not what it learned: a resume keeps the ones this run built, not the saved ones."""


def optimizer_settings_after_resume(saved: dict[str, Any], optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """``saved`` (an optimizer state dict) with this optimizer's own run settings in its groups.

    ``load_state_dict`` takes every group setting from the file: an eager checkpoint would bring
    ``capturable=False`` into a step about to be captured (and capture fails), a captured one
    ``capturable=True`` into an eager CPU run. The settings also decide where the loaded step
    counters go (on the device for a capturable or fused step), so they are set before loading.
    """
    groups = []
    for saved_group, own in zip(saved["param_groups"], optimizer.param_groups):
        group = dict(saved_group)
        for key in OWN_OPTIMIZER_SETTINGS:
            if key in own:
                group[key] = own[key]
            else:
                group.pop(key, None)
        groups.append(group)
    return {**saved, "param_groups": groups + list(saved["param_groups"][len(groups) :])}
