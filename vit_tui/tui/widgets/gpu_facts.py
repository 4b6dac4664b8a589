"""One line of GPU facts under the train screen's status (on the same band): ``GPU H200 · 31.2/139.0 GiB · 87 %``.

It asks for the device of the run on screen once a second and reads NVML in a thread worker
(an NVML call can take milliseconds, more on a busy driver), so the UI thread never waits on
it; a reading that fails leaves the line as it was and never ends the app. Without a CUDA
device, NVML or a driver it stays hidden.
"""

from __future__ import annotations

from collections.abc import Callable

from textual.widgets import Static

from ...engine.telemetry.gpu_facts import GpuFactsReader, cuda_index, format_facts
from ..tasks import TaskResult, Tasks

REFRESH_S = 1.0


class GpuFactsRead(TaskResult[tuple]):
    """(the device read, its facts line or None when NVML had none)."""


def read_facts(reader: GpuFactsReader) -> tuple[str, str | None]:
    """(device, "GPU ..." line or None) from one NVML reading."""
    facts = reader.read()
    return reader.device, f"GPU {format_facts(facts)}" if facts is not None else None


class GpuFactsLine(Static):
    """Device name, memory used/total and utilisation of the run's GPU; hidden when there are none."""

    DEFAULT_CSS = """
    GpuFactsLine {
        display: none;
        height: 1;
        color: $text-muted;
        background: $boost;
        padding: 0 1;
    }
    """

    def __init__(self, device_of: Callable[[], str], *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self._device_of = device_of
        self._reader: GpuFactsReader | None = None
        self.tasks = Tasks(self)

    def on_mount(self) -> None:
        self.set_interval(REFRESH_S, self._refresh)

    def _refresh(self) -> None:
        device = self._device_of()
        if cuda_index(device) is None:
            self._reader = None
            self._show(device, None)
            return
        if self._reader is None or self._reader.device != device:
            self._reader = GpuFactsReader(device)
        # One reading at a time: a driver that hangs must not gather a thread a second.
        if not self.tasks.busy(GpuFactsRead):
            self.tasks.start(GpuFactsRead, read_facts, self._reader)

    def on_gpu_facts_read(self, message: GpuFactsRead) -> None:
        self._show(*message.result)

    def _show(self, device: str, text: str | None) -> None:
        # A reading that comes back after the run on screen changed belongs to the previous device.
        if device != self._device_of():
            return
        self.display = text is not None
        if text is not None:
            self.update(text)
