"""A labelled sparkline: a name, the latest value and the recent history as bars.

The bars follow the app's ``smoothing`` reactive (``engine.telemetry.smoothing.ema`` over the values kept);
the number shown is always the latest raw value.
"""

from __future__ import annotations

from collections import deque

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, Sparkline

from ...engine.telemetry.smoothing import ema


class LabelledSparkline(Horizontal):
    """``loss 0.532 ▇▆▅▃▂▂▁``: keeps the last ``keep`` values."""

    DEFAULT_CSS = """
    LabelledSparkline { height: 1; }
    LabelledSparkline > Label { width: 14; }
    LabelledSparkline > Sparkline { width: 1fr; }
    """

    def __init__(self, name: str, fmt: str = "{:.3f}", keep: int = 240, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.label_text = name
        self.fmt = fmt
        self.values: deque[float] = deque(maxlen=keep)
        self.smoothing = 0.0

    def compose(self) -> ComposeResult:
        yield Label(f"{self.label_text} –")
        yield Sparkline([])

    def on_mount(self) -> None:
        if hasattr(type(self.app), "smoothing"):
            self.watch(self.app, "smoothing", self._smooth, init=True)

    def _smooth(self, weight: float) -> None:
        self.smoothing = weight
        self.query_one(Sparkline).data = self.shown()

    def shown(self) -> list[float]:
        """The bars' values: the kept history, smoothed."""
        return ema(self.values, self.smoothing)

    def push(self, value: float) -> None:
        """Add the newest value."""
        self.values.append(float(value))
        self.query_one(Label).update(f"{self.label_text} {self.fmt.format(value)}")
        self.query_one(Sparkline).data = self.shown()

    def reset(self, values: list[float] | None = None) -> None:
        """Forget the history (optionally starting from ``values``)."""
        self.values.clear()
        self.values.extend(values or [])
        latest = f" {self.fmt.format(self.values[-1])}" if self.values else " –"
        self.query_one(Label).update(f"{self.label_text}{latest}")
        self.query_one(Sparkline).data = self.shown()
