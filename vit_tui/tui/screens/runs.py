"""Runs screen (5): every run with status, preset and best accuracy; attach, resume, compare.

Beside the list (beneath it on narrow screens) a detail pane shows the highlighted run: its
loss and validation accuracy per epoch as sparklines, how its config differs from the preset
it names, and its files. The folder is scanned every two seconds in a thread worker that reads
again only the runs whose files changed; details are read in a worker too.

Mark two or more runs (up to six) with space and press c: ``engine.export.compare_runs`` writes
the comparison files and the compare view shows every run's curves overlaid, the metrics side by
side and the confusion matrices. / filters the list and s sorts it (``engine.run_query``).

A study's runs (a sweep or the course experiment) sit under one group row that expands and
collapses (enter, → and ←); its detail pane is the study's leaderboard. Marking runs of two of its
combinations and pressing c tells whether they differ by more than the seed-to-seed spread.
R starts the course experiment (``study.api.reproduce``) and w a sweep (``study.api.sweep``, from
its dialog) in a thread worker; the progress shows above the hints and x stops it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.timer import Timer
from textual.widgets import DataTable, Input, Static

from ...engine.run_query import COLUMNS as QUERY_COLUMNS
from ...engine.run_query import filter_runs, fit_name_and_date, middle_cut, short_date, sort_runs
from ...errors import UserError
from ..messages import StudyEvent
from ..study_groups import ListRow, StudyListing, StudyRow, group_status, list_rows
from ..tasks import TaskFailed, TaskResult
from ..widgets.footer import FittingFooter
from ..widgets.run_detail import detail_text
from ..widgets.study_progress import StudyProgress
from ..widgets.study_view import leaderboard_table
from .base import VitScreen
from .compare import MAX_RUNS

REFRESH_S = 2.0
STATUS_STYLE = {"running": "bold", "finished": "", "interrupted": "italic", "failed": "reverse", "damaged": "reverse"}
COLUMNS = ("", "run", "status", "preset", "epochs", "best acc", "started")
SIDE_BY_SIDE_MIN_WIDTH = 150
"""From this width the detail pane fits beside the whole list."""
TABLE_CHROME = 2 * len(COLUMNS) + 2
"""What the table takes besides its cells: one space each side of every cell, and the scrollbar."""
DETAIL_MIN_WIDTH = 50
"""Side by side, what the list leaves at the least to the detail pane."""


class RunsScanned(TaskResult[tuple]):
    """(the runs, the folders that changed since the last scan, the studies they belong to)."""


class RunDetailsRead(TaskResult[object]):
    """The ``RunDetails`` of the highlighted run."""


class RunsCompared(TaskResult[tuple]):
    """(the runs compared, the comparison files written)."""


class DatasetsFound(TaskResult[list]):
    """The datasets a study could train on."""


class StudyEnded(TaskResult[object]):
    """The report of a study started from the app."""


class RunsScreen(VitScreen):
    """The run list and the highlighted run's details."""

    TITLE = "Runs"
    AUTO_FOCUS = "#runs-table"
    BINDINGS: ClassVar[list[BindingType]] = [  # most useful first: a narrow footer keeps the first ones
        Binding("enter", "open", "Evaluate", priority=True, show=False),
        Binding("a", "attach", "Attach"),
        Binding("space", "mark", "Mark", key_display="spc"),
        Binding("c", "compare", "Compare"),
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("s", "sort", "Sort"),
        Binding("r", "resume", "Resume"),
        Binding("w", "sweep", "Sweep"),
        Binding("R", "reproduce", "Reproduce"),
        Binding("right", "expand", "Expand a study", priority=True, show=False),
        Binding("left", "collapse", "Collapse a study", priority=True, show=False),
        Binding("x", "stop_study", "Stop the study", show=False),
        Binding("S", "reverse_sort", "Reverse the sort", show=False),
        Binding("f5", "refresh", "Refresh", show=False),
    ]

    def __init__(self) -> None:
        super().__init__(name="runs")
        self.runs = []
        self.studies: list[StudyRow] = []
        self.rows: list[ListRow] = []
        """The table's rows in order: plain runs, study groups, and the runs of expanded groups."""
        self.expanded: set[str] = set()
        """Keys of the study groups shown expanded."""
        self.marked: list[Path] = []
        self.verdict = ""
        """The last two-combination verdict shown (c on runs of two combinations of one study)."""
        self.details = None
        """The ``RunDetails`` shown in the detail pane (None before the first is read)."""
        self._listing = None
        self._studies = None
        self._timer: Timer | None = None
        self._study_cancel = threading.Event()
        self.filter_text = ""
        """The filter in force (``engine.run_query``'s language; empty shows every run)."""
        self.sort_column = ""
        """The column the list is sorted by (empty: newest first)."""
        self.sort_reverse = False
        self.widths: tuple[int, int] = (10_000, 19)
        """(name, start time) widths the cells are cut to, from the screen's width (``fit_name_and_date``)."""

    def compose(self) -> ComposeResult:
        yield Input(placeholder="filter: words or COLUMN OP VALUE (acc>80 epochs>=20 status=finished)",
                    id="runs-filter", compact=True)  # fmt: skip
        with Horizontal(id="runs-body"):
            yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
            with VerticalScroll(id="run-detail"):
                yield Static("", id="run-detail-text")
        yield StudyProgress(id="study-progress")
        yield Static("", id="runs-note")
        yield FittingFooter()

    def on_mount(self) -> None:
        from ...engine.run_details import RunListing

        self._listing = RunListing(self.app.state.runs_root)
        self._studies = StudyListing(self.app.state.runs_root)
        self.query_one("#runs-table", DataTable).add_columns(*COLUMNS)
        self.action_refresh()

    def on_resize(self) -> None:
        self.set_class(self.size.width >= SIDE_BY_SIDE_MIN_WIDTH, "-side-by-side")
        if self.rows:
            self._fill_table(set())

    def on_screen_resume(self) -> None:
        # Not a repaint: the folder is scanned while the list is on screen, and only then.
        if self._timer is None:
            self._timer = self.set_interval(REFRESH_S, self.action_refresh)
        self.action_refresh()

    def on_screen_suspend(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    # --- the list -----------------------------------------------------------------------------

    def action_refresh(self) -> None:
        """Scan the runs folder again in a worker (only changed runs are read)."""
        if self._listing is not None and not self.tasks.busy(RunsScanned):
            self.tasks.start(RunsScanned, _scan, self._listing, self._studies)

    def _show_runs(self, runs: list, changed: set[Path], studies: list[StudyRow]) -> None:
        self.runs, self.studies = runs, studies
        self.marked = [m for m in self.marked if any(r.path == m for r in self.runs)]
        self._fill_table(changed)
        self._note(
            self._hint()
            if self.runs
            else f"No runs in {self.app.state.runs_root} yet: train one on the Train screen (3)."
        )
        selected = self.selected_run()
        if selected is not None and (
            selected.path in changed or self.details is None or self.details.path != selected.path
        ):
            self._read_details(selected.path)
        elif self.selected_study() is not None:
            self._show_study(self.selected_study())
        if not self.runs:
            self.details = None
            self.query_one("#run-detail-text", Static).update("")

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

    # --- the detail pane ----------------------------------------------------------------------

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id != "runs-table" or event.row_key.value is None:
            return
        study = self.selected_study()
        if study is not None:
            self._show_study(study)
        else:
            self._read_details(Path(event.row_key.value))

    def _show_study(self, study: StudyRow) -> None:
        """The group row's detail pane: the study's leaderboard (already read by the scan worker)."""
        self.details = None
        self.query_one("#run-detail-text", Static).update(leaderboard_table(study, self.app.state.home))

    def _read_details(self, run_dir: Path) -> None:
        from ...engine.run_details import run_details

        self.tasks.start(RunDetailsRead, run_details, run_dir, run_dir=run_dir)

    def _show_details(self, details) -> None:
        selected = self.selected_run()
        if selected is None or selected.path != details.path:
            return  # the cursor has moved on since this was read
        self.details = details
        self.query_one("#run-detail-text", Static).update(detail_text(details, self.app))

    def _hint(self) -> str:
        marked = ", ".join(p.name for p in self.marked) or "none"
        hint = f"enter evaluates · a attaches · r resumes · space marks ({marked}) · c compares · w sweeps · R reproduces"
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

    # --- actions ------------------------------------------------------------------------------

    async def action_open(self) -> None:
        """Show the run on the evaluate screen; on a study's row, expand or collapse it (in the filter: keep it)."""
        field = self.query_one("#runs-filter", Input)
        if field.has_focus:  # enter is a priority key here, so the field never sees it
            self._keep_filter(field)
            return
        if self.selected_study() is not None:
            self._toggle(self.selected_study(), self.selected_study().key not in self.expanded)
            return
        run = self.selected_run()
        if run is None:
            return
        self.app.state.run_dir = run.path
        await self.app.run_action("goto('evaluate')")

    async def action_attach(self) -> None:
        """Follow the run on the train screen (live while it trains in its own process)."""
        run = self.selected_run()
        if run is None:
            return
        if run.problem:
            self.notify(f"{run.name}: {run.problem}; it cannot be followed.", severity="warning")
            return
        train = self.app.screen_named("train")
        if train.training_in_app:
            self.notify("A run trains in this app; stop or detach it first.", severity="warning")
            return
        await self.app.run_action("goto('train')")
        train.follow(run.path, fresh=False)

    async def action_resume(self) -> None:
        """Continue an interrupted run in its own process and follow it."""
        run = self.selected_run()
        if run is None:
            return
        if run.status != "interrupted":
            self.notify(f"{run.name} is {run.status}; only interrupted runs resume.", severity="warning")
            return
        train = self.app.screen_named("train")
        if train.busy:
            self.notify("The train view is busy with another run.", severity="warning")
            return
        await self.app.run_action("goto('train')")
        train.resume_run(run.path)

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

    def action_mark(self) -> None:
        """Mark or unmark the run under the cursor for comparing (six at most: the oldest mark gives way)."""
        run = self.selected_run()
        if run is None:
            if self.selected_study() is not None:
                self.notify("Expand the study (→) and mark a run of each of two combinations.")
            return
        self.verdict = ""
        if run.path in self.marked:
            self.marked.remove(run.path)
        else:
            self.marked = (self.marked + [run.path])[-MAX_RUNS:]
        self._redraw_marks()

    def action_compare(self) -> None:
        """Compare the marked runs: files written, then shown side by side (two study combinations: a verdict)."""
        if len(self.marked) < 2:
            self.notify("Mark two or more runs with space first.", severity="warning")
            return
        if len(self.marked) == 2:
            pair = self._combinations(*self.marked)
            if pair is not None:
                self._show_verdict(*pair)
                return
        runs = list(self.marked)
        more = f"-and-{len(runs) - 2}-more" if len(runs) > 2 else ""
        out_dir = self.app.state.home / "compare" / f"{runs[0].name}-vs-{runs[1].name}{more}"
        self._note(f"comparing {', '.join(r.name for r in runs)}…")
        self.tasks.start(RunsCompared, _compare, runs, out_dir)

    def _combinations(self, first: Path, second: Path) -> tuple | None:
        """The two combinations of one study that the marked runs stand for (None for plain runs or one combination)."""
        study = next((s for s in self.studies if first in s.runs and second in s.runs), None)
        if study is None:
            return None
        a, b = study.combination_of(first), study.combination_of(second)
        return (a, b) if a is not None and b is not None and a.label != b.label else None

    def _show_verdict(self, a, b) -> None:
        from ...study.results import compare_combinations

        self.verdict = compare_combinations(a, b).text
        self._note(self._hint())
        self.notify(self.verdict, timeout=12)

    # --- studies started from here ------------------------------------------------------------

    @property
    def study_running(self) -> bool:
        """True while a study started from the app trains in this screen's worker."""
        return self.tasks.busy(StudyEnded)

    def action_reproduce(self) -> None:
        """Ask for the dataset, seeds and epochs, then run the course experiment here."""
        if self.study_running:
            self.notify("A study is already running; x stops it.", severity="warning")
            return
        from ...data.store import list_datasets

        self.tasks.start(DatasetsFound, list_datasets, self.app.state.data_root)

    def _ask_reproduce(self, datasets: list[Path]) -> None:
        from .study_dialogs import ReproduceDialog

        self.app.push_screen(ReproduceDialog(datasets, self.app.state.home), self._reproduce_answer)

    def _reproduce_answer(self, options: dict | None) -> None:
        if options:
            from ...study.api import reproduce

            self.start_study("reproduce", partial(reproduce, self.app.state.home, **options))

    def action_sweep(self) -> None:
        """Ask for the base config, grid, seeds and devices (the plan checked whole), then run the sweep here."""
        if self.study_running:
            self.notify("A study is already running; x stops it.", severity="warning")
            return
        from .study_dialogs import SweepDialog

        self.app.push_screen(SweepDialog(self.app.state.home, self.app.state.training_config()), self._sweep_answer)

    def _sweep_answer(self, options: dict | None) -> None:
        if options:
            from ...study.api import sweep

            base, grid, seeds = options["base"], options["grid"], options["seeds"]
            self.start_study("sweep", partial(sweep, self.app.state.home, base, grid, seeds, devices=options["devices"]))

    def start_study(self, kind: str, study: Callable[..., Any]) -> None:
        """Run ``study(sink=..., cancel=...)`` (``study.api.reproduce`` or ``sweep`` with its arguments) in a worker."""
        if self.study_running:
            self.notify("A study is already running; x stops it.", severity="warning")
            return
        self._study_cancel = threading.Event()
        self.query_one(StudyProgress).begin(kind)
        self.tasks.start(StudyEnded, partial(study, sink=self._post_study_event, cancel=self._study_cancel))

    def _post_study_event(self, event: object) -> None:
        """The study's sink (called from its worker): the events the progress line uses, as messages."""
        if isinstance(event, _progress_events()):
            self.post_message(StudyEvent(event))

    def on_study_event(self, message: StudyEvent) -> None:
        from ...engine.events import RunStarted
        from ...study.events import JobEnded

        self.query_one(StudyProgress).show(message.event)
        if isinstance(message.event, (RunStarted, JobEnded)):
            self.action_refresh()  # a run has started (its folder is readable now) or ended: list it as it is

    def action_stop_study(self) -> None:
        """Ask, then stop the study: the run in progress saves a checkpoint, finished runs are kept."""
        if not self.study_running:
            self.notify("No study is running.", severity="warning")
            return
        from .modals import QuitWhileTraining

        self.app.push_screen(QuitWhileTraining(study=True), self._stop_answer)

    def _stop_answer(self, choice: str | None) -> None:
        if choice == "stop":
            self._study_cancel.set()
            self.query_one(StudyProgress).stopping()

    async def stop_study(self) -> None:
        """Stop the running study and wait until its run has saved its checkpoint."""
        worker = self.tasks.worker(StudyEnded)
        self._study_cancel.set()
        if worker is not None:
            await worker.wait()

    def _study_ended(self, report) -> None:
        self.query_one(StudyProgress).end()
        self.action_refresh()
        from ...engine.notify import Notice
        from ..alerts import announce

        if report.status == "finished":
            shown = next((p for p in report.files if p.suffix == ".md"), report.out_dir)
            announce(self.app, Notice("vit-tui: study finished", f"The study has finished: {shown}"))
        else:
            body = f"The study {report.status}: finished runs are kept in {report.out_dir}; start it again to continue."
            announce(self.app, Notice(f"vit-tui: study {report.status}", body, bad=True))

    def on_runs_scanned(self, message: RunsScanned) -> None:
        self._show_runs(*message.result)

    def on_run_details_read(self, message: RunDetailsRead) -> None:
        self._show_details(message.result)

    def on_runs_compared(self, message: RunsCompared) -> None:
        from .compare import CompareScreen

        runs, paths = message.result
        self._note(self._hint())
        self.app.push_screen(CompareScreen(runs, paths))

    def on_datasets_found(self, message: DatasetsFound) -> None:
        self._ask_reproduce(message.result)

    def on_study_ended(self, message: StudyEnded) -> None:
        self._study_ended(message.result)

    def on_task_failed(self, message: TaskFailed) -> None:
        if message.task is RunsCompared:
            self._note(self._hint())
            self.app.show_failure("Compare failed", message.message)
        elif message.task is StudyEnded:
            self.query_one(StudyProgress).end()
            self.action_refresh()
            self.app.show_failure("The study failed", message.message)
            from ...engine.notify import Notice
            from ..alerts import announce

            announce(self.app, Notice("vit-tui: study failed", message.message, bad=True))
        elif message.task is DatasetsFound:
            self.app.show_failure("Cannot list the datasets", message.message)
        else:
            self._note(f"cannot read the runs folder: {message.message}")

    def _note(self, text: str) -> None:
        self.query_one("#runs-note", Static).update(text)


def _compare(runs: list[Path], out_dir: Path) -> tuple[list[Path], list[Path]]:
    from ...engine.export import write_comparison

    return runs, write_comparison(runs, out_dir, force=True)


def _scan(listing, studies: StudyListing) -> tuple[list, set[Path], list[StudyRow]]:
    """The runs (only changed ones read again) and the studies they belong to."""
    runs, changed = listing.refresh()
    return runs, changed, studies.refresh(changed)


def _progress_events() -> tuple[type, ...]:
    """What the progress line shows; step logs are left out (they come many a second)."""
    from ...engine.events import EpochEnded, RunStarted
    from ...study.events import JobEnded, JobStarted, StudyFinished, StudyPhase, StudyStarted

    return (StudyStarted, StudyPhase, JobStarted, JobEnded, StudyFinished, RunStarted, EpochEnded)
