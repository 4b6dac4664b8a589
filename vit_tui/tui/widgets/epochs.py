"""The per-epoch table: train/val loss and accuracy, time, and a star on the best epoch."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import DataTable

from ...engine.telemetry.events import EpochEnded

COLUMNS = ("epoch", "train loss", "train acc", "val loss", "val acc", "time", "best")


def format_seconds(seconds: float) -> str:
    """``42s``, ``3m05s`` or ``1h02m``."""
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{seconds:.0f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class EpochTable(DataTable):
    """One row per finished epoch, newest at the bottom; the best epoch carries ``★``."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.best_epoch = 0

    def on_mount(self) -> None:
        self.add_columns(*COLUMNS)

    def show_history(self, history: Sequence[EpochEnded]) -> None:
        """Replace the rows with ``history``."""
        self.clear()
        self.best_epoch = history[-1].best_epoch if history else 0
        for row in history:
            best = row.epoch == self.best_epoch
            mark = Text("★", style="bold") if best else Text("")
            self.add_row(
                str(row.epoch),
                f"{row.train_loss:.4f}",
                f"{row.train_acc:.1%}",
                f"{row.val_loss:.4f}",
                Text(f"{row.val_acc:.1%}", style="bold" if best else ""),
                format_seconds(row.seconds),
                mark,
                key=str(row.epoch),
            )
        if history:
            self.move_cursor(row=len(history) - 1)
