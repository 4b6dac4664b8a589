"""One training step: gather, augment, forward, backward, optimizer and schedule step.

``TrainStep(...)(batch_indices)`` runs a step without reading anything back to the host: the
loss and the number of correct predictions accumulate in device tensors, and the trainer
reads them once per log point with ``totals()``. ``path`` names how steps run ("eager",
"compiled").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ...config import RunConfig
from ...data.augment import augment_batch, to_model_input
from ...data.augment_mix import Mixing, dominant_labels, random_erase, soft_target_cross_entropy
from ...data.augment_policy import apply_policy
from ..device.placement import is_out_of_memory
from ..device.precision import autocast
from .batches import StreamedTrainData, TrainData

__all__ = ["TrainData", "TrainStep", "compile_forward"]


class TrainStep:
    """Runs training steps and keeps the running sums on the device.

    Only the model's forward may be compiled; everything else is plain tensor code, so the
    same object drives both paths.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LRScheduler,
        data: TrainData | StreamedTrainData,
        cfg: RunConfig,
        device: torch.device,
        *,
        precision: str = "fp32",
        generator: torch.Generator | None = None,
        forward: torch.nn.Module | None = None,
    ) -> None:
        self.model = model
        self.forward = forward if forward is not None else model
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.data = data
        self.device = device
        self.precision = precision
        self.generator = generator
        self.augment = cfg.train.augment
        self.policy = cfg.train.policy
        self.policy_magnitude = cfg.train.policy_magnitude
        self.random_erasing = cfg.train.random_erasing
        self.mixing = Mixing(cfg.train.mixup, cfg.train.cutmix, cfg.train.label_smoothing)
        self.label_smoothing = cfg.train.label_smoothing
        self.grad_clip = cfg.train.grad_clip
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.path = "compiled" if forward is not None and forward is not model else "eager"
        self.fallback_reason = ""
        """Why a faster path was not taken, when one was asked for."""
        self._untried_compile = self.path == "compiled"
        self.loss_sum = torch.zeros((), dtype=torch.float32, device=device)
        self.correct = torch.zeros((), dtype=torch.int64, device=device)
        self.seen = 0

    def __call__(self, batch_indices: torch.Tensor) -> None:
        if self._untried_compile:
            self._first_compiled_step(batch_indices)
            return
        self._update(batch_indices)
        self.scheduler.step()
        self.seen += batch_indices.shape[0]

    def _first_compiled_step(self, batch_indices: torch.Tensor) -> None:
        self._untried_compile = False
        try:
            self._update(batch_indices)
        except Exception as exc:
            # Compilation happens at the first call; when the toolchain is missing, train eagerly.
            if is_out_of_memory(exc):
                raise
            self.forward, self.path = self.model, "eager"
            self.fallback_reason = f"torch.compile failed: {type(exc).__name__}"
            self.optimizer.zero_grad(set_to_none=True)
            self._update(batch_indices)
        self.scheduler.step()
        self.seen += batch_indices.shape[0]

    def _autocast(self):
        """The autocast context of the forward pass (bf16 or none)."""
        return autocast(self.precision, self.device)

    def _update(self, batch_indices: torch.Tensor) -> None:
        """Gather, augment, forward, backward, optimizer step; add loss and hits to the sums in place.

        Everything here stays on the device (no host reads), so it can also be captured as a graph.
        """
        inputs, labels, lam = self._inputs(batch_indices)
        with self._autocast():
            logits = self.forward(inputs)
        if lam is None:
            loss = F.cross_entropy(logits.float(), labels, label_smoothing=self.label_smoothing)
        else:
            targets = self.mixing.targets(labels, logits.shape[1], lam)
            loss = soft_target_cross_entropy(logits.float(), targets)
            labels = dominant_labels(labels, lam)  # a mixed image counts as a hit on its larger share
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.params, self.grad_clip)
        self.optimizer.step()
        self.loss_sum.add_(loss.detach() * labels.shape[0])
        self.correct.add_((logits.detach().argmax(dim=1) == labels).sum())

    def _inputs(self, batch_indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """The augmented model input, the labels, and the mixing lambda (None when mixing is off).

        Order: flip/crop and the policy on the uint8 batch, then normalisation, random erasing and
        mixup/CutMix on the float input (timm's order: erasing per image, mixing per batch).
        """
        images, labels = self.data.batch(batch_indices)  # (B, H, W, 3) uint8, (B,)
        if self.augment != "none":
            images = augment_batch(images, self.augment, self.generator)
        if self.policy != "none":
            images = apply_policy(images, self.policy, self.policy_magnitude, self.generator)
        inputs = to_model_input(images)  # (B, 3, H, W) float
        if self.random_erasing > 0:
            inputs = random_erase(inputs, self.random_erasing, self.generator)
        if not self.mixing.enabled:
            return inputs, labels, None
        inputs, lam = self.mixing(inputs, self.generator)
        return inputs, labels, lam

    def totals(self) -> tuple[float, int, int]:
        """(sum of losses, correct predictions, images) since the last ``reset``: one host sync."""
        loss_sum, correct = torch.stack([self.loss_sum, self.correct.to(torch.float32)]).tolist()
        return loss_sum, round(correct), self.seen

    def reset(self, loss_sum: torch.Tensor | None = None, correct: torch.Tensor | None = None, seen: int = 0) -> None:
        """Zero the running sums, or set them (resuming mid-epoch); in place, as a captured graph adds into them."""
        self.loss_sum.copy_(loss_sum if loss_sum is not None else torch.zeros(()))
        self.correct.copy_(correct if correct is not None else torch.zeros((), dtype=torch.int64))
        self.seen = seen

    def sums(self) -> tuple[torch.Tensor, torch.Tensor, int]:
        """The running sums as CPU tensors (for the resumable checkpoint)."""
        return self.loss_sum.detach().cpu(), self.correct.detach().cpu(), self.seen

    def describe(self) -> str:
        """The path, with the reason for a fallback: ``eager (torch.compile failed: ...)``."""
        return f"{self.path} ({self.fallback_reason})" if self.fallback_reason else self.path

    @property
    def lr(self) -> float:
        """The learning rate the next step uses."""
        value = self.optimizer.param_groups[0]["lr"]
        return float(value.item() if torch.is_tensor(value) else value)


def compile_forward(model: torch.nn.Module, cfg: RunConfig) -> tuple[torch.nn.Module | None, str]:
    """``torch.compile(model)`` when ``train.compile`` is on, with the reason when it cannot be."""
    if not cfg.train.compile:
        return None, ""
    try:
        return torch.compile(model), ""
    except Exception as exc:  # noqa: BLE001 - any compiler set-up failure falls back to eager
        return None, f"torch.compile unavailable: {type(exc).__name__}"
