"""Device, precision and determinism settings for a run.

``resolve_device("auto")`` picks CUDA, then MPS, then the CPU; ``resolve_precision("auto", dev)``
is bf16 autocast on CUDA cards of compute capability 8.0 or later and fp32 elsewhere (on CPUs fp32
measured faster than bf16 autocast; older cards emulate bf16 slowly, and fp16 would need a
GradScaler, whose host-side checks break CUDA graph capture). ``choose_precision`` is that decision
as a plain function of the card's capability, with the note a run shows.

``CUBLAS_WORKSPACE_CONFIG`` must be in the environment before cuBLAS first initialises, which can
be long before a run seeds (an earlier run in the app, the Evaluate screen): the command-line entry
sets it at process start (see ``environment``).
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator

import numpy as np
import torch

from ...config import ConfigError
from .environment import prepare_process_environment


def resolve_device(name: str) -> torch.device:
    """The torch device for a ``train.device`` value; unavailable devices are a ``ConfigError``."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "mps":
        if not _mps_available():
            raise ConfigError("train.device", "MPS is not available on this machine; use auto or cpu")
        return torch.device("mps")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError("train.device", f"{name}: CUDA is not available on this machine; use auto or cpu")
        index = int(name.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise ConfigError(
                "train.device", f"{name}: only {torch.cuda.device_count()} CUDA device(s); use cuda:0 .. cuda:N-1"
            )
        return torch.device("cuda", index)
    raise ConfigError("train.device", f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps")


def _mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


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


def describe_device(device: torch.device) -> str:
    """A short human name: ``cpu (2 threads)``, ``cuda:0 NVIDIA H200``."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} {torch.cuda.get_device_name(index)}"
    if device.type == "cpu":
        threads = torch.get_num_threads()
        return f"cpu ({threads} thread{'s' if threads != 1 else ''})"
    return device.type


def seed_everything(seed: int, deterministic: bool) -> None:
    """Seed python, numpy and torch; switch deterministic algorithms on or off for this process."""
    if deterministic:
        # Only a fallback for callers that skipped ``prepare_process_environment``: cuBLAS reads it once.
        prepare_process_environment()
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = not deterministic


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


def is_out_of_memory(exc: BaseException) -> bool:
    """True for CUDA/MPS/CPU allocation failures."""
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)
