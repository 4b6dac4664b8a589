"""The confusion matrix as a rich table: counts with row-normalised %, coloured by value.

Rows are the true class, columns the predicted one. A cell's background grows toward the
theme's success colour on the diagonal and toward its error colour elsewhere, in proportion
to the row share, so the diagonal stands out at a glance in any theme.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from .palette import Palette, blend, palette_of, readable_on


def short_name(name: str, width: int) -> str:
    """A class name cut to ``width`` characters (with an ellipsis when cut)."""
    return name if len(name) <= width else name[: max(1, width - 1)] + "…"


def confusion_table(
    classes: Sequence[str],
    matrix: Sequence[Sequence[int]],
    palette: Palette,
    *,
    title: str | None = None,
    compact: bool = False,
    header_width: int = 10,
) -> Table:
    """The table for ``matrix`` (rows true, columns predicted); ``compact`` drops the counts."""
    name_width = 9 if compact else 12
    cell_width = 4 if compact else 9
    table = Table(
        title=title,
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
        show_edge=False,
        title_style=f"bold {palette.foreground}",
        header_style=f"bold {palette.foreground}",
        caption="rows: true · columns: predicted",
        caption_style=palette.muted,
    )
    table.add_column("true\\pred", style=f"bold {palette.foreground}", no_wrap=True)
    header_width = max(cell_width, header_width)
    for name in classes:
        table.add_column(short_name(name, header_width), justify="right", no_wrap=True)
    for i, (name, row) in enumerate(zip(classes, matrix)):
        total = sum(row) or 1
        cells = [Text(short_name(name, name_width))]
        for j, count in enumerate(row):
            share = count / total
            cells.append(_cell(count, share, i == j, palette, compact))
        table.add_row(*cells)
    return table


def _cell(count: int, share: float, diagonal: bool, palette: Palette, compact: bool) -> Text:
    target = palette.success if diagonal else palette.error
    background = blend(palette.background, target, 0.15 + 0.75 * share if count else 0.0)
    colour = readable_on(background, light=palette.foreground, dark=palette.background)
    style = f"{'bold ' if diagonal else ''}{colour} on {background}"
    label = f"{share:4.0%}" if compact else f"{count:>4} {share:4.0%}"
    return Text(label, style=style)


class ConfusionView(Static):
    """A widget showing one confusion table, redrawn when the theme changes."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__("", id=id, classes=classes)
        self._data: tuple[list[str], list[list[int]], str | None] | None = None
        self.class_names: list[str] = []

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._redraw())

    def show_matrix(self, classes: Sequence[str], matrix: Sequence[Sequence[int]], title: str | None = None) -> None:
        """Show a matrix (rows true, columns predicted)."""
        self._data = (list(classes), [list(map(int, row)) for row in matrix], title)
        self.class_names = list(classes)
        self._redraw()

    def clear_matrix(self, note: str = "") -> None:
        """Remove the table and show ``note`` instead."""
        self._data = None
        self.class_names = []
        self.update(note)

    def on_resize(self) -> None:
        self._redraw()

    def _redraw(self) -> None:
        if self._data is None:
            return
        classes, matrix, title = self._data
        width = self.size.width or 80
        compact = width < 14 + 11 * len(classes)
        header = max(4, min(10, (width - 11) // max(1, len(classes)) - 2))
        self.update(
            confusion_table(classes, matrix, palette_of(self.app), title=title, compact=compact, header_width=header)
        )
