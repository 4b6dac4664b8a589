"""Where a run's work goes: the torch device a ``train.device`` value names, how many CUDA devices this
process sees, the device's name as runs show it, and whether an error means the device ran out of memory.

``resolve_device("auto")`` picks CUDA, then MPS, then the CPU.
"""

from __future__ import annotations

import torch

from ...config import ConfigError


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


def visible_devices() -> int:
    """How many CUDA devices this process sees (what a process-count choice can offer)."""
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def describe_device(device: torch.device) -> str:
    """A short human name: ``cpu (2 threads)``, ``cuda:0 NVIDIA H200``."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} {torch.cuda.get_device_name(index)}"
    if device.type == "cpu":
        threads = torch.get_num_threads()
        return f"cpu ({threads} thread{'s' if threads != 1 else ''})"
    return device.type


def is_out_of_memory(exc: BaseException) -> bool:
    """True for CUDA/MPS/CPU allocation failures."""
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)
