"""How a model's arithmetic runs: its precision, autocast, and no-grad eval mode.

``resolve_precision("auto", dev)`` is bf16 autocast on CUDA cards of compute capability 8.0 or later
and fp32 elsewhere (on CPUs fp32 measured faster than bf16 autocast; older cards emulate bf16 slowly,
and fp16 would need a GradScaler, whose host-side checks break CUDA graph capture).
``choose_precision`` is that decision as a plain function of the card's capability, with the note a
run shows.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

BF16_MIN_CAPABILITY = (8, 0)
"""Ampere and later run bf16 natively; below it (T4, V100) bf16 is emulated and slower than fp32."""


def choose_precision(requested: str, device_type: str, capability: tuple[int, int] | None) -> tuple[str, str]:
    """The precision a run uses and, when ``auto`` chose fp32 on a CUDA card, why (else "")."""
    if requested != "auto":
        return requested, ""
    if device_type != "cuda":
        return "fp32", ""
    if capability is not None and tuple(capability) < BF16_MIN_CAPABILITY:
        major, minor = capability
        return "fp32", (
            f"train.precision=auto chose fp32: this card (compute capability {major}.{minor}) has no native bf16, "
            "which it would emulate more slowly than fp32"
        )
    return "bf16", ""


def cuda_capability(device: torch.device) -> tuple[int, int] | None:
    """The compute capability of a CUDA device, or None for another device."""
    if device.type != "cuda":
        return None
    return tuple(torch.cuda.get_device_capability(device))  # type: ignore[return-value]


def resolve_precision(precision: str, device: torch.device) -> str:
    """``fp32`` or ``bf16`` for a ``train.precision`` value on ``device`` (see ``choose_precision``)."""
    return choose_precision(precision, device.type, cuda_capability(device))[0]


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast when asked for, otherwise a no-op context."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


@contextlib.contextmanager
def eval_mode(model: torch.nn.Module) -> Iterator[None]:
    """Switch to eval mode and no-grad for the block, then restore the previous mode."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)
