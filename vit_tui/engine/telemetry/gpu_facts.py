"""What the GPU a run trains on is doing, read from NVML: its name, memory used and total, utilisation.

``GpuFactsReader("cuda:0")`` reads the facts of the CUDA device torch calls ``cuda:0`` through
``pynvml`` (the ``nvidia-ml-py`` package), at most once a second; ``read()`` returns ``None``
without the package, without an NVIDIA driver, for a device that is not CUDA and on any NVML
error, so a caller shows the facts when there are some and nothing otherwise.

Torch numbers CUDA devices after ``CUDA_VISIBLE_DEVICES``; NVML numbers every GPU of the machine.
When this process has CUDA up already, the device's UUID from torch names the NVML handle;
otherwise the index is mapped through ``CUDA_VISIBLE_DEVICES`` (indices or UUID prefixes),
so reading the facts of a run in another process never creates a CUDA context here. NVML numbers
GPUs by PCI bus; CUDA does too only under ``CUDA_DEVICE_ORDER=PCI_BUS_ID``, and otherwise puts the
fastest first: the index is trusted then only when every GPU is the same model (ties keep the bus
order), else there are no facts rather than another GPU's. A MIG device has no utilisation (the
line shows the rest), and a failed ``nvmlInit`` (a driver still loading) is tried again after
``NVML_RETRY_S``.
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

NVML_RETRY_S = 60.0

_init_lock = threading.Lock()
_nvml_ready: bool | None = None
"""None until NVML was tried; then whether ``nvmlInit`` succeeded."""
_nvml_failed_at = 0.0
"""When ``nvmlInit`` last failed (monotonic seconds): it is tried again ``NVML_RETRY_S`` later."""


@dataclass(frozen=True)
class GpuFacts:
    """One reading of a GPU."""

    name: str
    memory_used: int
    memory_total: int
    utilisation: int | None
    """Percent of the last sample period in which a kernel ran; None where NVML has none (MIG)."""


def format_facts(facts: GpuFacts) -> str:
    """One line, e.g. ``H200 · 31.2/139.0 GiB · 87 %`` (without the percentage on MIG)."""
    name = facts.name.removeprefix("NVIDIA ").strip() or "GPU"
    line = f"{name} · {facts.memory_used / GIB:.1f}/{facts.memory_total / GIB:.1f} GiB"
    return line if facts.utilisation is None else f"{line} · {facts.utilisation} %"


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
            utilisation=_utilisation(pynvml, handle),
        )
    except pynvml.NVMLError:
        return None


def _utilisation(pynvml: Any, handle: Any) -> int | None:
    """The GPU's utilisation, or None where NVML cannot tell (MIG mode raises NotSupported)."""
    try:
        return int(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu)
    except pynvml.NVMLError:
        return None


def _nvml(now: float | None = None) -> Any | None:
    """The initialised ``pynvml`` module, or None without the package or a driver (retried after a while)."""
    global _nvml_ready, _nvml_failed_at
    try:
        import pynvml
    except ImportError:
        return None
    now = time.monotonic() if now is None else now
    with _init_lock:
        if _nvml_ready is None or (not _nvml_ready and now - _nvml_failed_at >= NVML_RETRY_S):
            try:
                pynvml.nvmlInit()
                _nvml_ready = True
            except pynvml.NVMLError:
                _nvml_ready, _nvml_failed_at = False, now
    return pynvml if _nvml_ready else None


def nvml_target(index: int, visible: str | None, order: str | None, names: list[str]) -> int | str | None:
    """Which NVML device torch's CUDA device ``index`` is: an NVML index, a UUID prefix, or None.

    ``visible`` is ``CUDA_VISIBLE_DEVICES``, ``order`` ``CUDA_DEVICE_ORDER``, ``names`` the NVML
    names of every GPU in NVML's (PCI bus) order. CUDA's own numbering, which the indices in
    ``CUDA_VISIBLE_DEVICES`` use too, is that order only under ``PCI_BUS_ID`` or when all GPUs are
    alike; else the GPU cannot be told without CUDA, and None says so.
    """
    entries = [e.strip() for e in visible.split(",") if e.strip()] if visible is not None else None
    if entries is None:
        entry = str(index)
    elif index < len(entries):
        entry = entries[index]
    else:
        return None
    if entry.startswith("GPU-"):
        return entry
    if not entry.isdigit():
        return None  # a MIG instance or a form NVML cannot map to a whole device
    if (order or "FASTEST_FIRST") != "PCI_BUS_ID" and len(set(names)) > 1:
        return None
    return int(entry) if int(entry) < len(names) else None


def _handle_for(pynvml: Any, index: int) -> Any | None:
    """The NVML handle of torch's CUDA device ``index``, or None when it cannot be told."""
    uuid = _torch_uuid(index)
    if uuid:
        return pynvml.nvmlDeviceGetHandleByUUID(uuid)
    handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
    names = [_text(pynvml.nvmlDeviceGetName(handle)) for handle in handles]
    target = nvml_target(index, os.environ.get("CUDA_VISIBLE_DEVICES"), os.environ.get("CUDA_DEVICE_ORDER"), names)
    if isinstance(target, str):
        return _handle_by_uuid_prefix(pynvml, target)
    return None if target is None else pynvml.nvmlDeviceGetHandleByIndex(target)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


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
