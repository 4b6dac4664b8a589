"""A labelled sparkline: a name, the latest value and the recent history as bars."""

from __future__ import annotations

from collections import deque

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, Sparkline


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

    def compose(self) -> ComposeResult:
        yield Label(f"{self.label_text} –")
        yield Sparkline([])

    def push(self, value: float) -> None:
        """Add the newest value."""
        self.values.append(float(value))
        self.query_one(Label).update(f"{self.label_text} {self.fmt.format(value)}")
        self.query_one(Sparkline).data = list(self.values)

    def reset(self, values: list[float] | None = None) -> None:
        """Forget the history (optionally starting from ``values``)."""
        self.values.clear()
        self.values.extend(values or [])
        latest = f" {self.fmt.format(self.values[-1])}" if self.values else " –"
        self.query_one(Label).update(f"{self.label_text}{latest}")
        self.query_one(Sparkline).data = list(self.values)
