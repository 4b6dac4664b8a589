"""The Runs screen's detail pane as text: a run's curves as sparklines, its config's differences, its files."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import App

from ...engine.runs.details import RunDetails
from .palette import palette_of

BARS = "▁▂▃▄▅▆▇█"
SPARK_WIDTH = 24
"""Most characters a sparkline takes; longer histories are averaged into this many buckets."""


def spark_text(values: Sequence[float], width: int = SPARK_WIDTH) -> str:
    """``values`` as bar characters, lowest ▁ to highest █ (averaged into ``width`` buckets when longer)."""
    if not values:
        return ""
    if len(values) > width:
        buckets = [values[i * len(values) // width : (i + 1) * len(values) // width] for i in range(width)]
        values = [sum(b) / len(b) for b in buckets]
    low, high = min(values), max(values)
    span = high - low
    if span == 0:
        return BARS[len(BARS) // 2] * len(values)
    return "".join(BARS[round((v - low) / span * (len(BARS) - 1))] for v in values)


def human_size(size: int) -> str:
    """Bytes as B, KiB, MiB or GiB with at most one decimal."""
    amount = float(size)
    for unit in ("B", "KiB", "MiB"):
        if amount < 1024:
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{amount:.1f} GiB"


def detail_text(details: RunDetails, app: App) -> Group:
    """The pane's content for ``details``, coloured from the app's theme."""
    palette = palette_of(app)
    title = Text(details.path.name, style=f"bold {palette.primary}")
    return Group(
        title,
        _curves(details, palette.accent),
        Text(""),
        *_differences(details, palette.primary, palette.muted),
        Text(""),
        Text("files", style=f"bold {palette.primary}"),
        _files(details),
        *([Text(details.problem, style=palette.error)] if details.problem else []),
    )


def _curves(details: RunDetails, colour: str) -> Table | Text:
    if not details.val_acc:
        return Text("no finished epoch yet")
    table = Table.grid(padding=(0, 1))
    table.add_column(no_wrap=True)
    table.add_column(no_wrap=True, style=colour)
    table.add_column(no_wrap=True)
    rows: list[tuple[str, list[float], Callable[[float], str]]] = [
        ("train loss", details.train_loss, "{:.4f}".format),
        ("val loss", details.val_loss, "{:.4f}".format),
        ("val acc", details.val_acc, "{:.1%}".format),
    ]
    for name, values, fmt in rows:
        table.add_row(name, spark_text(values), f"{fmt(values[0])} → {fmt(values[-1])}")
    table.add_row("", "", f"best val acc {max(details.val_acc):.1%}")
    return table


def _differences(details: RunDetails, heading: str, muted: str) -> list[Text | Table]:
    if not details.preset:
        return [Text("a custom config (no preset to compare with)", style=muted)]
    title = Text(f"differs from preset {details.preset}", style=f"bold {heading}")
    if not details.differences:
        return [title, Text("nothing: the preset as it is", style=muted)]
    table = Table.grid(padding=(0, 1))
    table.add_column(no_wrap=True)
    table.add_column(overflow="fold")
    table.add_column(overflow="fold", style=muted)
    for key, value, base in details.differences:
        table.add_row(key, str(value), f"(preset {base})")
    return [title, table]


def _files(details: RunDetails) -> Table:
    table = Table.grid(padding=(0, 1))
    table.add_column(overflow="fold")
    table.add_column(justify="right", no_wrap=True)
    for name, size in details.files:
        table.add_row(name, human_size(size))
    return table
