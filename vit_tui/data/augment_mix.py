"""Mixup, CutMix and random erasing on the model's float input, with timm's semantics.

``Mixing`` is timm's ``Mixup`` in batch mode with probability 1 and area-corrected CutMix
lambda: each image is mixed with the batch flipped (image ``i`` with image ``N - 1 - i``) by one
lambda drawn from Beta(alpha, alpha); when both mixup and CutMix are on, each batch uses CutMix
with probability ``SWITCH_PROB``. The targets are timm's ``mixup_target``: one-hot smoothed by
the label smoothing, then mixed by the same lambda. Both branches are computed and one is
selected on the device, so nothing is read back to the host and the step stays capturable.

``random_erase`` is timm's ``RandomErasing`` in ``pixel`` mode (area 0.02-1/3 of the image,
log-uniform aspect 0.3-3.3, up to 10 tries for a box that fits, one box per image) drawn for the
whole batch at once and applied through masks. Every random number comes from the generator
passed in (see :mod:`.augment_draws`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from . import augment_draws as draws

SWITCH_PROB = 0.5
ERASE_AREA = (0.02, 1 / 3)
ERASE_ASPECT = (0.3, 1 / 0.3)
ERASE_TRIES = 10


@dataclass(frozen=True)
class Mixing:
    """Mixup and/or CutMix of a batch (alphas of 0 turn each off) and the soft targets that go with it."""

    mixup: float = 0.0
    cutmix: float = 0.0
    label_smoothing: float = 0.0

    @property
    def enabled(self) -> bool:
        return self.mixup > 0 or self.cutmix > 0

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(mixed float ``(N, C, H, W)`` batch, lambda as a 0-dim tensor); ``targets`` turns the lambda into targets.

        Draws, in order: the switch, the mixup lambda, the CutMix lambda and box centre (those on).
        """
        device = x.device
        switch = draws.uniform((), generator, device)
        mixed, lam = x, torch.ones((), device=device)
        if self.mixup > 0:
            lam = draws.beta(self.mixup, generator, device)
            mixed = _mixup(x, lam)
        if self.cutmix > 0:
            cut, box_lam = _cutmix(x, draws.beta(self.cutmix, generator, device), generator)
            # With both on, timm's switch picks one per batch; the choice stays on the device.
            use_cutmix = switch < SWITCH_PROB if self.mixup > 0 else torch.ones((), dtype=torch.bool, device=device)
            mixed = torch.where(use_cutmix, cut, mixed)
            lam = torch.where(use_cutmix, box_lam, lam)
        return mixed, lam

    def targets(self, labels: torch.Tensor, num_classes: int, lam: torch.Tensor) -> torch.Tensor:
        """The soft targets ``(N, K)`` of a batch mixed by ``lam``."""
        return mixup_target(labels, num_classes, lam, self.label_smoothing)


def _mixup(x: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    return x * lam + x.flip(0) * (1.0 - lam)


def _cutmix(x: torch.Tensor, lam: torch.Tensor, generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    """timm's ``rand_bbox`` pasted from the flipped batch, and the lambda corrected to the box's real area."""
    height, width = x.shape[-2:]
    ratio = torch.sqrt(1.0 - lam)
    cut_h, cut_w = (height * ratio).floor(), (width * ratio).floor()
    centre = draws.uniform(2, generator, x.device)
    cy, cx = (centre[0] * height).floor(), (centre[1] * width).floor()
    # timm 1.0's box: half the cut (rounded down) above the centre, the rest (rounded up) below.
    top, bottom = (cy - (cut_h / 2).floor()).clamp(0, height), (cy + (cut_h / 2).ceil()).clamp(0, height)
    left, right = (cx - (cut_w / 2).floor()).clamp(0, width), (cx + (cut_w / 2).ceil()).clamp(0, width)
    rows = torch.arange(height, device=x.device)
    cols = torch.arange(width, device=x.device)
    inside = ((rows >= top) & (rows < bottom))[:, None] & ((cols >= left) & (cols < right))[None, :]
    box_lam = 1.0 - (bottom - top) * (right - left) / float(height * width)
    return torch.where(inside, x.flip(0), x), box_lam


def mixup_target(labels: torch.Tensor, num_classes: int, lam: torch.Tensor | float = 1.0,
                 smoothing: float = 0.0) -> torch.Tensor:  # fmt: skip
    """timm's ``mixup_target``: smoothed one-hot targets mixed with those of the flipped batch."""
    off = smoothing / num_classes
    on = 1.0 - smoothing + off
    # A comparison, not F.one_hot: that one checks the label range with a host read on CUDA.
    hot = (labels[:, None] == torch.arange(num_classes, device=labels.device)[None, :]).float()
    smoothed = hot * (on - off) + off
    return smoothed * lam + smoothed.flip(0) * (1.0 - lam)


def soft_target_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """timm's ``SoftTargetCrossEntropy``: the batch mean of ``-sum(target * log_softmax(logits))``."""
    return torch.sum(-target * F.log_softmax(logits, dim=-1), dim=-1).mean()


def dominant_labels(labels: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """The label holding the larger share of each mixed image (its own at lambda >= 1/2, else its partner's)."""
    return torch.where(lam >= 0.5, labels, labels.flip(0))


def random_erase(x: torch.Tensor, probability: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each image of float ``(N, C, H, W)`` ``x`` gets, with ``probability``, one box of standard normal noise."""
    n, channels, height, width = x.shape
    device = x.device
    apply = draws.uniform(n, generator, device) < probability
    tries = draws.uniform((4, n, ERASE_TRIES), generator, device)
    area = (ERASE_AREA[0] + (ERASE_AREA[1] - ERASE_AREA[0]) * tries[0]) * (height * width)
    log_low, log_high = math.log(ERASE_ASPECT[0]), math.log(ERASE_ASPECT[1])
    aspect = torch.exp(log_low + (log_high - log_low) * tries[1])
    h = torch.sqrt(area * aspect).round()
    w = torch.sqrt(area / aspect).round()
    fits = (w < width) & (h < height)
    first = fits.int().argmax(dim=1, keepdim=True)  # the first try that fits, as timm's loop keeps it
    h, w = h.gather(1, first)[:, 0], w.gather(1, first)[:, 0]
    top = (tries[2].gather(1, first)[:, 0] * (height - h + 1)).floor()
    left = (tries[3].gather(1, first)[:, 0] * (width - w + 1)).floor()
    rows = torch.arange(height, device=device)[None, :]
    cols = torch.arange(width, device=device)[None, :]
    in_rows = (rows >= top[:, None]) & (rows < (top + h)[:, None])  # (N, H)
    in_cols = (cols >= left[:, None]) & (cols < (left + w)[:, None])  # (N, W)
    erase = (apply & fits.any(dim=1))[:, None, None] & in_rows[:, :, None] & in_cols[:, None, :]
    noise = draws.normal((n, channels, height, width), generator, device).to(x.dtype)
    return torch.where(erase[:, None], noise, x)
