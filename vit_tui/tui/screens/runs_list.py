"""The runs screen's list: its rows and cells, fitted to the width, filtered, sorted, and the cursor's row.

A mixin of ``RunsScreen`` (which holds the state: runs, studies, expanded groups, marks, filter
and sort); the table redraws its own cells when the screen's width changes.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from rich.text import Text
from textual.widgets import DataTable, Input

from ...engine.runs.query import COLUMNS as QUERY_COLUMNS
from ...engine.runs.query import filter_runs, fit_name_and_date, middle_cut, short_date, sort_runs
from ...errors import UserError
from ..study_groups import ListRow, StudyRow, group_status, list_rows

STATUS_STYLE = {"running": "bold", "finished": "", "interrupted": "italic", "failed": "reverse", "damaged": "reverse"}
COLUMNS = ("", "run", "status", "preset", "epochs", "best acc", "started")
SIDE_BY_SIDE_MIN_WIDTH = 150
"""From this width the detail pane fits beside the whole list."""
TABLE_CHROME = 2 * len(COLUMNS) + 2
"""What the table takes besides its cells: one space each side of every cell, and the scrollbar."""
DETAIL_MIN_WIDTH = 50
"""Side by side, what the list leaves at the least to the detail pane."""


class RunList:
    """The run table of ``RunsScreen``: filling it, its cells, the filter and sort, the row under the cursor."""

    def _fill_table(self, changed: set[Path]) -> None:
        """Update the changed rows in place, or rebuild the table when the rows themselves changed."""
        table = self.query_one("#runs-table", DataTable)
        current = self._cursor_key()
        rows = list_rows(self.shown_runs(), self.studies, self.expanded)
        same_rows = [r.key for r in rows] == [r.key for r in self.rows]
        self.rows = rows
        widths = self._fit(rows)
        if widths != self.widths:
            # Columns only ever widen to their cells, so narrower cuts need the columns made again.
            self.widths = widths
            table.clear(columns=True)
            table.add_columns(*COLUMNS)
            same_rows = False
        if same_rows:
            for row in rows:
                if row.study is not None and not row.member or row.run is not None and row.run.path in changed:
                    for column, value in zip(table.columns, self._cells(row)):
                        table.update_cell(row.key, column, value)
            return
        table.clear()
        for row in rows:
            table.add_row(*self._cells(row), key=row.key)
        keys = [r.key for r in rows]
        if current in keys:
            table.move_cursor(row=keys.index(current))

    def _fit(self, rows: list[ListRow]) -> tuple[int, int]:
        """(name, start time) widths for the screen's width: every other cell whole, the name giving way first."""
        width = self.size.width or self.app.size.width
        if width >= SIDE_BY_SIDE_MIN_WIDTH:
            width -= DETAIL_MIN_WIDTH
        full = [self._cells(row, (10_000, 19)) for row in rows]
        fixed = sum(max((Text(str(c[i])).cell_len for c in full), default=0) for i in (0, 2, 3, 4, 5))
        fixed = max(fixed, sum(len(COLUMNS[i]) for i in (0, 2, 3, 4, 5)))
        longest_name = max((Text(str(c[1])).cell_len for c in full), default=0)
        longest_date = max((len(str(c[6])) for c in full), default=0)
        return fit_name_and_date(width - TABLE_CHROME - fixed, max(longest_name, 3), longest_date, len(COLUMNS[6]))

    def _cells(self, row: ListRow, widths: tuple[int, int] | None = None) -> tuple:
        name_width, date_width = widths or self.widths
        if row.run is None:
            return self._group_cells(row.study, name_width, date_width)
        indent = " └ " if row.member else ""
        cells = self._row(row.run, date_width)
        name = row.run.name
        if row.member and name.startswith(f"{row.study.name}-"):
            name = name[len(row.study.name) + 1 :]  # under its study's row: what tells it apart (heads4-seed2)
        name = indent + middle_cut(name, max(1, name_width - len(indent)))
        return (cells[0], Text(name), *cells[2:])

    def _group_cells(self, study: StudyRow, name_width: int = 10_000, date_width: int = 19) -> tuple:
        members = [r for r in self.runs if r.path in study.runs]
        status = group_status(study, members)
        arrow = "▾" if study.key in self.expanded else "▸"
        count = f" · {len(members)} run{'s' * (len(members) != 1)}"
        if len(study.name) + len(count) + 2 > name_width:
            count = f" ({len(members)})"  # narrow: the count in brief, so more of the name shows
        name = middle_cut(study.name, max(1, name_width - len(count) - 2))
        return (
            " ",
            Text(f"{arrow} {name}{count}", style="bold"),
            Text(status, style=STATUS_STYLE.get(status, "")),
            study.kind,
            f"{sum(r.status == 'finished' for r in members)}/{len(members)} runs",
            study.best,
            short_date(min((r.started for r in members), default=""), date_width),
        )

    def _row(self, run, date_width: int = 19) -> tuple:
        best = f"{run.best_val_acc:.1%}" if run.best_val_acc is not None else "–"
        return (
            "✓" if run.path in self.marked else " ",
            run.name,
            Text(run.status, style=STATUS_STYLE.get(run.status, "")),
            run.preset or "custom",
            f"{run.epochs_done}/{run.epochs}",
            best,
            short_date(run.started, date_width),
        )

    def shown_runs(self) -> list:
        """The runs that pass the filter, in the chosen order."""
        runs = self.runs
        if self.filter_text:
            # A half-typed comparison: the list stays whole until it reads right.
            with contextlib.suppress(UserError):
                runs = filter_runs(runs, self.filter_text)
        if self.sort_column:
            return sort_runs(runs, self.sort_column, self.sort_reverse)
        return list(reversed(runs)) if self.sort_reverse else list(runs)

    # --- filter and sort ----------------------------------------------------------------------

    def action_filter(self) -> None:
        """Show the filter field and put the cursor in it (enter keeps it, escape clears it)."""
        field = self.query_one("#runs-filter", Input)
        field.display = True
        field.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id != "runs-filter":
            return
        try:
            filter_runs([], event.value)
        except UserError as exc:
            self._note(str(exc))
            return
        self.filter_text = event.value.strip()
        self._fill_table(set())
        self._note(self._hint())
        self._show_selected()

    def _keep_filter(self, field: Input) -> None:
        field.display = bool(self.filter_text)
        self.query_one("#runs-table", DataTable).focus()

    def action_leave_field(self) -> None:
        """Escape: clears the filter (in its field or after); elsewhere leaves the field."""
        field = self.query_one("#runs-filter", Input)
        if field.has_focus or self.filter_text:
            field.value = ""
            self.filter_text = ""
            field.display = False
            self._fill_table(set())
            self._note(self._hint())
            self.query_one("#runs-table", DataTable).focus()
            self._show_selected()
            return
        super().action_leave_field()

    def action_sort(self) -> None:
        """Sort by the next column (run, status, preset, epochs, acc, started), then back to newest first."""
        order = ["", *QUERY_COLUMNS[:-1]]
        self.sort_column = order[(order.index(self.sort_column) + 1) % len(order)]
        self._resort()

    def action_reverse_sort(self) -> None:
        """Turn the order round."""
        self.sort_reverse = not self.sort_reverse
        self._resort()

    def _resort(self) -> None:
        self._fill_table(set())
        self._note(self._hint())
        self._show_selected()

    def _show_selected(self) -> None:
        """The detail pane for the row now under the cursor."""
        if self.selected_study() is not None:
            self._show_study(self.selected_study())
        elif self.selected_run() is not None:
            self._read_details(self.selected_run().path)

    def _redraw_marks(self) -> None:
        table = self.query_one("#runs-table", DataTable)
        first_column = next(iter(table.columns))
        for row in self.rows:
            if row.run is not None:
                table.update_cell(row.key, first_column, "✓" if row.run.path in self.marked else " ")
        self._note(self._hint())

    def _hint(self) -> str:
        marked = ", ".join(p.name for p in self.marked) or "none"
        hint = (
            f"enter evaluates · a attaches · r resumes · space marks ({marked}) · c compares · w sweeps · R reproduces"
        )
        order = f"sorted by {self.sort_column}{' ↓' if self.sort_reverse else ' ↑'}" if self.sort_column else (
            "newest first" if not self.sort_reverse else "oldest first")  # fmt: skip
        shown = len(self.shown_runs())
        query = f"filter {self.filter_text!r}: {shown} of {len(self.runs)} runs · " if self.filter_text else ""
        hint = f"{query}{order} (s sorts, S reverses, / filters) · {hint}"
        damaged = [f"{run.name}: {run.problem}" for run in self.runs if run.problem]
        # The verdict on the marked runs stays until the marks change (a rescan every 2 s must not wipe it).
        return "\n".join([*([self.verdict] if self.verdict else []), hint, *damaged])

    def selected_row(self) -> ListRow | None:
        """The table row under the cursor (None when the list is empty)."""
        table = self.query_one("#runs-table", DataTable)
        if not self.rows or table.cursor_row is None or table.cursor_row >= len(self.rows):
            return None
        return self.rows[table.cursor_row]

    def selected_run(self):
        """The run under the cursor (None on a study's group row or an empty list)."""
        row = self.selected_row()
        return row.run if row is not None else None

    def selected_study(self) -> StudyRow | None:
        """The study whose group row is under the cursor (None elsewhere)."""
        row = self.selected_row()
        return row.study if row is not None and not row.member else None

    def _cursor_key(self) -> str | None:
        row = self.selected_row()
        return row.key if row is not None else None

    def action_expand(self) -> None:
        """Show a study's runs under its row (elsewhere → scrolls the table)."""
        study = self.selected_study()
        if study is None:
            self.query_one("#runs-table", DataTable).scroll_right()
            return
        self._toggle(study, True)

    def action_collapse(self) -> None:
        """Fold a study's runs back into its row, from the row or one of its runs (elsewhere ← scrolls)."""
        row = self.selected_row()
        if row is None or row.study is None:
            self.query_one("#runs-table", DataTable).scroll_left()
            return
        self._toggle(row.study, False)

    def _toggle(self, study: StudyRow, expand: bool) -> None:
        if expand:
            self.expanded.add(study.key)
        else:
            self.expanded.discard(study.key)
        self._fill_table(set())
        keys = [r.key for r in self.rows]
        self.query_one("#runs-table", DataTable).move_cursor(row=keys.index(study.key))
        # The group row's own cells show the arrow; a rebuild keeps them, so redraw them here.
        table = self.query_one("#runs-table", DataTable)
        for column, value in zip(table.columns, self._cells(ListRow(study.key, study=study))):
            table.update_cell(study.key, column, value)
