"""The confusion matrix as fixed-width text: counts with row-normalised %, coloured by value.

Rows are the true class, columns the predicted one. A cell's background grows toward the
theme's success colour on the diagonal and toward its error colour elsewhere, in proportion
to the row share, so the diagonal stands out at a glance in any theme.

Every cell of a column has the same width and every row the same cell boundaries, so numbers
line up whatever their colour. When the pane is narrow the percentages alone are shown, class
names are abbreviated (a legend line spells them out), and when even that does not fit the
table keeps its width and the pane scrolls sideways (a line says so). Numbers are never cut.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Group
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import ScrollableContainer
from textual.widgets import Static

from .palette import Palette, blend, palette_of, readable_on

CORNER = "true\\pred"
GAP = 1
"""Spaces between two cells."""
ROW_NAME_MAX = 14
"""Row names longer than this are abbreviated like the column headers."""
CAPTION = "rows: true · columns: predicted"


@dataclass(frozen=True)
class ConfusionLayout:
    """How a matrix is drawn in a given width: cell sizes, the names shown, and what was given up."""

    compact: bool
    """Percentages only (no counts)."""
    count_width: int
    cell_width: int
    row_name_width: int
    shown: tuple[str, ...]
    """The name shown for each class (the full name, or an abbreviation)."""
    width: int
    """Characters a table line takes."""
    scrolls: bool
    """Wider than the space given: the pane must scroll sideways."""

    @property
    def abbreviated(self) -> list[tuple[str, str]]:
        """(shown, full) for each class whose name was shortened."""
        return [(short, full) for short, full in zip(self.shown, self._full) if short != full]

    _full: tuple[str, ...] = ()


def abbreviations(names: Sequence[str], width: int) -> tuple[str, ...]:
    """Each name cut to ``width`` characters, kept distinct (numbered when cuts collide)."""
    cut = [name if len(name) <= width else name[:width] for name in names]
    if len(set(cut)) == len(cut):
        return tuple(cut)
    # Two names share a prefix: number every cut one so each stays tellable apart.
    return tuple(name if len(name) <= width else f"{name[: max(1, width - len(str(i + 1)))]}{i + 1}"
                 for i, name in enumerate(names))  # fmt: skip


def plan_layout(classes: Sequence[str], matrix: Sequence[Sequence[int]], available: int) -> ConfusionLayout:
    """The widest readable layout that fits ``available`` columns (or the narrowest one, scrolling)."""
    count_width = max([len(str(int(v))) for row in matrix for v in row] or [1])
    for compact in (False, True):
        cell_width = 4 if compact else count_width + 5
        layout = _layout(classes, compact, count_width, cell_width, available)
        if not layout.scrolls:
            return layout
    return layout


def _layout(
    classes: Sequence[str], compact: bool, count_width: int, cell_width: int, available: int
) -> ConfusionLayout:
    longest = max([len(name) for name in classes] or [0])
    # A header may be as wide as its cell (wider cells would push the numbers apart).
    header_width = max(cell_width, min(longest, 10)) if not compact else cell_width
    shown = abbreviations(classes, header_width)
    row_names = [full if len(full) <= ROW_NAME_MAX else short for full, short in zip(classes, shown)]
    row_name_width = max(len(CORNER), *(len(name) for name in row_names)) if classes else len(CORNER)
    column_width = max(cell_width, *(len(name) for name in shown)) if classes else cell_width
    width = row_name_width + len(classes) * (GAP + column_width)
    return ConfusionLayout(
        compact=compact, count_width=count_width, cell_width=column_width, row_name_width=row_name_width,
        shown=shown, width=width, scrolls=width > available, _full=tuple(classes),
    )  # fmt: skip


def confusion_lines(
    classes: Sequence[str],
    matrix: Sequence[Sequence[int]],
    palette: Palette,
    available: int,
    *,
    title: str | None = None,
) -> tuple[list[Text], list[Text], ConfusionLayout]:
    """The table's lines (title, header, rule, one per class), the notes beneath it, and its layout."""
    layout = plan_layout(classes, matrix, available)
    bold = f"bold {palette.foreground}"
    lines: list[Text] = []
    if title:
        lines.append(Text(title, style=bold))
    header = Text(CORNER.ljust(layout.row_name_width), style=bold)
    for name in layout.shown:
        header.append(" " * GAP + name.rjust(layout.cell_width), style=bold)
    lines.append(header)
    lines.append(Text("─" * layout.width, style=palette.muted))
    for i, (full, short, row) in enumerate(zip(classes, layout.shown, matrix)):
        name = full if len(full) <= ROW_NAME_MAX else short
        line = Text(name.ljust(layout.row_name_width), style=bold)
        total = sum(row) or 1
        for j, count in enumerate(row):
            line.append(" " * GAP)
            line.append_text(_cell(int(count), count / total, i == j, palette, layout))
        lines.append(line)
    return lines, [Text(note, style=palette.muted) for note in _notes(layout)], layout


def _notes(layout: ConfusionLayout) -> list[str]:
    notes = [CAPTION]
    if layout.compact:
        notes.append("narrow pane: row shares only (counts in evaluation.json)")
    if layout.abbreviated:
        notes.append("names: " + ", ".join(f"{short} = {full}" for short, full in layout.abbreviated))
    if layout.scrolls:
        notes.append("wider than the pane: scroll sideways (shift+wheel, or the arrow keys)")
    return notes


def _cell(count: int, share: float, diagonal: bool, palette: Palette, layout: ConfusionLayout) -> Text:
    target = palette.success if diagonal else palette.error
    background = blend(palette.background, target, 0.15 + 0.75 * share if count else 0.0)
    colour = readable_on(background, light=palette.foreground, dark=palette.background)
    style = f"{'bold ' if diagonal else ''}{colour} on {background}"
    label = f"{share:4.0%}" if layout.compact else f"{count:>{layout.count_width}} {share:4.0%}"
    return Text(label.rjust(layout.cell_width), style=style)


class ConfusionView(ScrollableContainer, can_focus=False):
    """A pane showing one confusion table, redrawn when the theme or its width changes; scrolls sideways when needed."""

    DEFAULT_CSS = """
    ConfusionView { height: auto; overflow-x: auto; overflow-y: hidden; }
    ConfusionView > .confusion-text { width: auto; height: auto; }
    ConfusionView > .confusion-notes { width: 1fr; height: auto; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._data: tuple[list[str], list[list[int]], str | None] | None = None
        self.class_names: list[str] = []
        self.layout_used: ConfusionLayout | None = None
        self.lines: list[Text] = []

    def compose(self) -> ComposeResult:
        yield Static("", classes="confusion-text")
        yield Static("", classes="confusion-notes")

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
        self.layout_used = None
        self.lines = []
        self.query_one(".confusion-text", Static).update(note)
        self.query_one(".confusion-notes", Static).update("")

    def on_resize(self) -> None:
        self._redraw()

    def _redraw(self) -> None:
        if self._data is None or not self.is_mounted:
            return
        classes, matrix, title = self._data
        available = self.scrollable_content_region.width or self.size.width or 80
        self.lines, notes, self.layout_used = confusion_lines(
            classes, matrix, palette_of(self.app), available, title=title
        )
        self.query_one(".confusion-text", Static).update(Group(*self.lines))
        self.query_one(".confusion-notes", Static).update(Group(*notes))
