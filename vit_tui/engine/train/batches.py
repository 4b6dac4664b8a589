"""Where a run's training split lives, and the one call the step makes: ``data.batch(indices)``.

Two holders answer it with the same uint8 NHWC images and int64 labels on the device:

- ``TrainData`` (resident): the whole split on the device; a batch is one ``index_select``. Pure
  device code, so a CUDA graph can capture it.
- ``StreamedTrainData``: the split stays in the memory-mapped cache file. A batch is gathered on
  the host (into pinned memory on CUDA), copied to the device and resized there like the
  resident split is. On CUDA, ``prefetch(indices)`` gathers the next batch on a worker thread and
  copies it on a side stream while the current step computes; on the CPU a batch is gathered when
  asked for, since a second thread would only take cores from the step.

Indices are any list of row numbers (a slice of the epoch's permutation, one rank's share of it),
so both holders give bit-identical batches and a run trains the same whichever holds its data.
``choose_holding`` picks the holder from ``train.data_memory_budget``.
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import torch

from ...data.imaging import fit_images
from ...sizes import format_size, parse_size

AUTO_BUDGET_FRACTION = 0.5
"""Share of the free device memory the resident split may take under ``auto``: the rest is for the
model, optimizer state, activations and the validation split."""


@dataclass
class TrainData:
    """The training split resident on the device: uint8 NHWC images and int64 labels."""

    images: torch.Tensor
    labels: torch.Tensor
    streamed = False

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def index_device(self) -> torch.device:
        """Where batch indices should live: next to the images."""
        return self.images.device

    def batch(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images (B, H, W, 3) and labels (B,) of ``indices``, on the device."""
        return self.images.index_select(0, indices), self.labels.index_select(0, indices)

    def prefetch(self, indices: torch.Tensor) -> None:
        """Nothing to fetch: every row is already on the device."""

    def close(self) -> None:
        """Nothing to release."""


class StreamedTrainData:
    """The training split read batch by batch from host memory (a memory-mapped cache).

    ``images`` and ``labels`` are CPU tensors; rows are resized to ``image_size`` on the device
    after the copy, which gives what resizing the whole split up front gives.
    """

    streamed = True

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        device: torch.device,
        image_size: int,
        background: bool | None = None,
    ) -> None:
        self.images = images
        self.labels = labels
        self.device = device
        self.image_size = image_size
        self.pin = device.type == "cuda"
        # On the CPU there is no copy to overlap, and a gather on a second thread only takes cores
        # from the step's own threads (1.6x slower epochs on 2 cores): gather when asked instead.
        self.background = self.pin if background is None else background
        self._copy_stream = torch.cuda.Stream(device) if self.pin else None
        self._worker: ThreadPoolExecutor | None = None
        self._pending: tuple[torch.Tensor, Future] | None = None

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def index_device(self) -> torch.device:
        """Indices stay on the host, where the rows are gathered."""
        return torch.device("cpu")

    def batch(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images (B, H, W, 3) and labels (B,) of ``indices``, on the device (prefetched when asked before)."""
        indices = indices.cpu()
        pending, self._pending = self._pending, None
        if pending is not None and torch.equal(pending[0], indices):
            images, labels, ready = pending[1].result()
        else:
            images, labels, ready = self._fetch(indices)
        if ready is not None:  # the copy ran on the side stream: wait for it, and keep its memory for this stream
            current = torch.cuda.current_stream(self.device)
            current.wait_event(ready)
            images.record_stream(current)
            labels.record_stream(current)
        return fit_images(images, self.image_size), labels

    def prefetch(self, indices: torch.Tensor) -> None:
        """Start gathering (and copying) the batch of ``indices`` in the background (CUDA only, by default)."""
        if not self.background:
            return
        indices = indices.cpu().clone()
        if self._worker is None:
            self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vit-tui-prefetch")
        self._pending = (indices, self._worker.submit(self._fetch, indices))

    def _fetch(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.cuda.Event | None]:
        """Gather rows on the host and move them to the device; the event marks the copy's end on CUDA."""
        count = int(indices.shape[0])
        images = torch.empty((count, *self.images.shape[1:]), dtype=torch.uint8, pin_memory=self.pin)
        labels = torch.empty(count, dtype=torch.int64, pin_memory=self.pin)
        torch.index_select(self.images, 0, indices, out=images)  # reads only these rows of the mapped file
        torch.index_select(self.labels, 0, indices, out=labels)
        if self._copy_stream is None:
            return images.to(self.device), labels.to(self.device), None
        with torch.cuda.stream(self._copy_stream):
            on_device = images.to(self.device, non_blocking=True), labels.to(self.device, non_blocking=True)
            ready = torch.cuda.Event()
            ready.record(self._copy_stream)
        return *on_device, ready

    def close(self) -> None:
        """Stop the prefetch worker."""
        self._pending = None
        if self._worker is not None:
            self._worker.shutdown(wait=True)
            self._worker = None


# --- choosing the holder ------------------------------------------------------------------------


@dataclass(frozen=True)
class Holding:
    """How a run holds its training split and why (for the run's events and summary)."""

    streamed: bool
    split_bytes: int
    budget_bytes: int
    budget_setting: str

    @property
    def holder(self) -> str:
        return "streamed" if self.streamed else "resident"

    def describe(self) -> str:
        """One line: ``streaming the train split: 3.1 GiB > budget 2.0 GiB (train.data_memory_budget=2GiB)``."""
        split, budget = format_size(self.split_bytes), format_size(self.budget_bytes)
        setting = "auto: half the free device memory" if self.budget_setting == "auto" else self.budget_setting
        if self.streamed:
            return f"streaming the train split: {split} > budget {budget} (train.data_memory_budget={setting})"
        return f"train split resident on the device: {split} <= budget {budget} (train.data_memory_budget={setting})"

    def as_dict(self) -> dict:
        """The summary's ``train_data`` entry."""
        return {
            "holder": self.holder,
            "split_bytes": self.split_bytes,
            "budget_bytes": self.budget_bytes,
            "budget": self.budget_setting,
            "why": self.describe(),
        }


def resident_bytes(count: int, image_size: int) -> int:
    """Device bytes of ``count`` uint8 RGB images once resized to ``image_size`` (what a resident split takes)."""
    return int(count) * int(image_size) * int(image_size) * 3


def choose_holding(split_bytes: int, budget_setting: str, device: torch.device) -> Holding:
    """Stream when the resident split (see ``resident_bytes``) is larger than the budget (``auto``: a share of free device memory)."""
    budget = auto_budget(device) if budget_setting == "auto" else parse_size(budget_setting)
    return Holding(split_bytes > budget, split_bytes, budget, budget_setting)


def auto_budget(device: torch.device) -> int:
    """``AUTO_BUDGET_FRACTION`` of the memory free on ``device`` (host RAM for the CPU and MPS)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        # Blocks this process's allocator caches but does not use count as used for the driver; they are ours.
        free += torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    else:
        free = available_host_memory()
    return int(free * AUTO_BUDGET_FRACTION)


def available_host_memory() -> int:
    """Bytes of RAM the kernel says are available without swapping (MemAvailable, else free pages)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # no such sysconf name here (macOS)
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2


def make_train_data(
    images: torch.Tensor, labels: torch.Tensor, holding: Holding, device: torch.device, image_size: int
) -> TrainData | StreamedTrainData:
    """The holder ``holding`` chose, from the split's CPU tensors (images may be memory-mapped)."""
    if holding.streamed:
        return StreamedTrainData(images, labels, device, image_size)
    # copy=True: a mapped split must be read into memory even when the device is the CPU.
    return TrainData(fit_images(images.to(device, copy=True), image_size), labels.to(device))
