"""Runs screen (5): every run with status, preset and best accuracy; attach, resume, compare.

Beside the list (beneath it on narrow screens) a detail pane shows the highlighted run: its
loss and validation accuracy per epoch as sparklines, how its config differs from the preset
it names, and its files. The folder is scanned every two seconds in a thread worker that reads
again only the runs whose files changed; details are read in a worker too.

Mark two or more runs (up to six) with space and press c: ``engine.report.compare.compare_runs`` writes
the comparison files and the compare view shows every run's curves overlaid, the metrics side by
side and the confusion matrices. / filters the list and s sorts it (``engine.runs.query``).

A study's runs (a sweep or the course experiment) sit under one group row that expands and
collapses (enter, → and ←); its detail pane is the study's leaderboard. Marking runs of two of its
combinations and pressing c tells whether they differ by more than the seed-to-seed spread.
R starts the course experiment (``study.api.reproduce``) and w a sweep (``study.api.sweep``, from
its dialog) in a thread worker; the progress shows above the hints and x stops it.

The screen holds the state and the detail pane; the table, filter and sort are ``runs_list``'s
and the studies started from here ``runs_studies``' (mixins). Its stylesheet is ``runs.tcss``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.timer import Timer
from textual.widgets import DataTable, Input, Static

from ..study_groups import ListRow, StudyListing, StudyRow
from ..tasks import TaskFailed, TaskResult
from ..widgets.footer import FittingFooter
from ..widgets.run_detail import detail_text
from ..widgets.study_progress import StudyProgress
from ..widgets.study_view import leaderboard_table
from .base import WIDTH_BREAKPOINTS, VitScreen
from .compare import MAX_RUNS
from .runs_list import COLUMNS, SIDE_BY_SIDE_MIN_WIDTH, RunList
from .runs_studies import StudyLauncher

REFRESH_S = 2.0


class RunsScanned(TaskResult[tuple]):
    """(the runs, the folders that changed since the last scan, the studies they belong to)."""


class RunDetailsRead(TaskResult[object]):
    """The ``RunDetails`` of the highlighted run."""


class RunsCompared(TaskResult[tuple]):
    """(the runs compared, the comparison files written)."""


class RunsScreen(RunList, StudyLauncher, VitScreen):
    """The run list and the highlighted run's details."""

    CSS_PATH = "runs.tcss"
    HORIZONTAL_BREAKPOINTS: ClassVar = [*WIDTH_BREAKPOINTS, (SIDE_BY_SIDE_MIN_WIDTH, "-side-by-side")]
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
        """The filter in force (``engine.runs.query``'s language; empty shows every run)."""
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
        yield Static("", id="runs-note", classes="screen-note")
        yield FittingFooter()

    def on_mount(self) -> None:
        from ...engine.runs.details import RunListing

        self._listing = RunListing(self.app.state.runs_root)
        self._studies = StudyListing(self.app.state.runs_root)
        self.query_one("#runs-table", DataTable).add_columns(*COLUMNS)
        self.action_refresh()

    def on_resize(self) -> None:
        # The table cuts its cells to the width it has (the side-by-side class comes from the breakpoints).
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
        from ...engine.runs.details import run_details

        self.tasks.start(RunDetailsRead, run_details, run_dir, run_dir=run_dir)

    def _show_details(self, details) -> None:
        selected = self.selected_run()
        if selected is None or selected.path != details.path:
            return  # the cursor has moved on since this was read
        self.details = details
        self.query_one("#run-detail-text", Static).update(detail_text(details, self.app))

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
        await self._hand_to_train(
            f"{run.name}: {run.problem}; it cannot be followed." if run.problem else "",
            lambda train: "A run trains in this app; stop or detach it first." if train.training_in_app else "",
            lambda train: train.follow(run.path, fresh=False),
        )

    async def action_resume(self) -> None:
        """Continue an interrupted run in its own process and follow it."""
        run = self.selected_run()
        if run is None:
            return
        await self._hand_to_train(
            f"{run.name} is {run.status}; only interrupted runs resume." if run.status != "interrupted" else "",
            lambda train: "The train view is busy with another run." if train.busy else "",
            lambda train: train.resume_run(run.path),
        )

    async def _hand_to_train(
        self, refusal: str, train_refusal: Callable[[Any], str], start: Callable[[Any], None]
    ) -> None:
        """Go to the train screen and ``start`` the run there, unless the run or the train screen says why not."""
        train = self.app.screen_named("train")
        refusal = refusal or train_refusal(train)
        if refusal:
            self.notify(refusal, severity="warning")
            return
        await self.app.run_action("goto('train')")
        start(train)

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

    def on_runs_scanned(self, message: RunsScanned) -> None:
        self._show_runs(*message.result)

    def on_run_details_read(self, message: RunDetailsRead) -> None:
        self._show_details(message.result)

    def on_runs_compared(self, message: RunsCompared) -> None:
        from .compare import CompareScreen

        runs, paths = message.result
        self._note(self._hint())
        self.app.push_screen(CompareScreen(runs, paths))

    def on_task_failed(self, message: TaskFailed) -> None:
        if message.task is RunsCompared:
            self._note(self._hint())
            self.app.show_failure("Compare failed", message.message)
        elif self._study_task_failed(message):
            return
        else:
            self._note(f"cannot read the runs folder: {message.message}")

    def _note(self, text: str) -> None:
        self.query_one("#runs-note", Static).update(text)


def _compare(runs: list[Path], out_dir: Path) -> tuple[list[Path], list[Path]]:
    from ...engine.report.compare import write_comparison

    return runs, write_comparison(runs, out_dir, force=True)


def _scan(listing, studies: StudyListing) -> tuple[list, set[Path], list[StudyRow]]:
    """The runs (only changed ones read again) and the studies they belong to."""
    runs, changed = listing.refresh()
    return runs, changed, studies.refresh(changed)
