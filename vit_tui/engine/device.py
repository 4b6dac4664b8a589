"""Device, precision and determinism settings for a run.

``resolve_device("auto")`` picks CUDA, then MPS, then the CPU; ``resolve_precision("auto", dev)``
is bf16 autocast on CUDA and fp32 elsewhere (on CPUs fp32 measured faster than bf16 autocast).
"""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator

import numpy as np
import torch

from ..config import ConfigError


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


def resolve_precision(precision: str, device: torch.device) -> str:
    """``fp32`` or ``bf16`` for a ``train.precision`` value on ``device``."""
    if precision == "auto":
        return "bf16" if device.type == "cuda" else "fp32"
    return precision


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
        # cuBLAS reads this before its first use; without it deterministic GEMMs raise on CUDA.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
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
