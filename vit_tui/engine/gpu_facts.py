"""What the GPU a run trains on is doing, read from NVML: its name, memory used and total, utilisation.

``GpuFactsReader("cuda:0")`` reads the facts of the CUDA device torch calls ``cuda:0`` through
``pynvml`` (the ``nvidia-ml-py`` package), at most once a second; ``read()`` returns ``None``
without the package, without an NVIDIA driver, for a device that is not CUDA and on any NVML
error, so a caller shows the facts when there are some and nothing otherwise.

Torch numbers CUDA devices after ``CUDA_VISIBLE_DEVICES``; NVML numbers every GPU of the machine.
When this process has CUDA up already, the device's UUID from torch names the NVML handle;
otherwise the index is mapped through ``CUDA_VISIBLE_DEVICES`` (indices or UUID prefixes),
so reading the facts of a run in another process never creates a CUDA context here.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MIN_INTERVAL_S = 1.0
GIB = 2**30

_init_lock = threading.Lock()
_nvml_ready: bool | None = None
"""None until NVML was tried; then whether ``nvmlInit`` succeeded (it is tried once per process)."""


@dataclass(frozen=True)
class GpuFacts:
    """One reading of a GPU."""

    name: str
    memory_used: int
    memory_total: int
    utilisation: int
    """Percent of the last sample period in which a kernel ran."""


def format_facts(facts: GpuFacts) -> str:
    """One line, e.g. ``H200 · 31.2/139.0 GiB · 87 %``."""
    name = facts.name.removeprefix("NVIDIA ").strip() or "GPU"
    return f"{name} · {facts.memory_used / GIB:.1f}/{facts.memory_total / GIB:.1f} GiB · {facts.utilisation} %"


def cuda_index(device: str) -> int | None:
    """The CUDA index a device text names (``cuda``, ``cuda:1``, ``cuda:0 NVIDIA H200``), else None."""
    words = device.strip().split()
    if not words or not words[0].startswith("cuda"):
        return None
    _, _, index = words[0].partition(":")
    if not index:
        return 0
    return int(index) if index.isdigit() else None


class GpuFactsReader:
    """Rate-limited NVML readings of one CUDA device; ``read()`` is safe to call from any thread."""

    def __init__(
        self, device: str, min_interval_s: float = MIN_INTERVAL_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.device = device
        self.min_interval_s = min_interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._last_read: float | None = None
        self._last: GpuFacts | None = None
        self.queries = 0
        """How many times NVML was actually asked (the rate limit keeps this low)."""

    def read(self) -> GpuFacts | None:
        """The latest facts, asking NVML only when the last reading is at least ``min_interval_s`` old."""
        with self._lock:
            now = self._clock()
            if self._last_read is not None and now - self._last_read < self.min_interval_s:
                return self._last
            self._last_read = now
            self.queries += 1
            self._last = query_facts(self.device)
            return self._last


def query_facts(device: str) -> GpuFacts | None:
    """Ask NVML now for the facts of ``device``; None when there are none to be had."""
    index = cuda_index(device)
    if index is None:
        return None
    pynvml = _nvml()
    if pynvml is None:
        return None
    try:
        handle = _handle_for(pynvml, index)
        if handle is None:
            return None
        memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
        name = pynvml.nvmlDeviceGetName(handle)
        return GpuFacts(
            name=name.decode() if isinstance(name, bytes) else str(name),
            memory_used=int(memory.used),
            memory_total=int(memory.total),
            utilisation=int(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu),
        )
    except pynvml.NVMLError:
        return None


def _nvml() -> Any | None:
    """The initialised ``pynvml`` module, or None without the package or a driver."""
    global _nvml_ready
    try:
        import pynvml
    except ImportError:
        return None
    with _init_lock:
        if _nvml_ready is None:
            try:
                pynvml.nvmlInit()
                _nvml_ready = True
            except pynvml.NVMLError:
                _nvml_ready = False
    return pynvml if _nvml_ready else None


def _handle_for(pynvml: Any, index: int) -> Any | None:
    """The NVML handle of torch's CUDA device ``index``, or None when it cannot be told."""
    uuid = _torch_uuid(index)
    if uuid:
        return pynvml.nvmlDeviceGetHandleByUUID(uuid)
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return pynvml.nvmlDeviceGetHandleByIndex(index)
    entries = [entry.strip() for entry in visible.split(",") if entry.strip()]
    if index >= len(entries):
        return None
    entry = entries[index]
    if entry.isdigit():
        return pynvml.nvmlDeviceGetHandleByIndex(int(entry))
    if entry.startswith("GPU-"):
        return _handle_by_uuid_prefix(pynvml, entry)
    return None  # a MIG instance or a form NVML cannot map to a whole device


def _torch_uuid(index: int) -> str | None:
    """``GPU-…`` UUID of the device from torch, only when CUDA is already up in this process."""
    import sys

    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_initialized():
        return None
    try:
        uuid = str(getattr(torch.cuda.get_device_properties(index), "uuid", "") or "")
    except (RuntimeError, AssertionError):
        return None
    if not uuid:
        return None
    return uuid if uuid.startswith(("GPU-", "MIG-")) else f"GPU-{uuid}"


def _handle_by_uuid_prefix(pynvml: Any, prefix: str) -> Any | None:
    """CUDA accepts a unique UUID prefix in ``CUDA_VISIBLE_DEVICES``; NVML wants the whole UUID."""
    for nvml_index in range(pynvml.nvmlDeviceGetCount()):
        handle = pynvml.nvmlDeviceGetHandleByIndex(nvml_index)
        uuid = pynvml.nvmlDeviceGetUUID(handle)
        uuid = uuid.decode() if isinstance(uuid, bytes) else str(uuid)
        if uuid.startswith(prefix):
            return handle
    return None
