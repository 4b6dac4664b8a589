"""Runs screen (5): every run with status, preset and best accuracy; attach, resume, compare.

Beside the list (beneath it on narrow screens) a detail pane shows the highlighted run: its
loss and validation accuracy per epoch as sparklines, how its config differs from the preset
it names, and its files. The folder is scanned every two seconds in a thread worker that reads
again only the runs whose files changed; details are read in a worker too.

Mark two runs with space and press c: ``engine.export.compare_runs`` writes the comparison
files and the compare view shows the curves overlaid, the metrics side by side and both
confusion matrices.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Static

from ..messages import TaskDone, TaskFailed
from ..widgets.run_detail import detail_text
from .base import VitScreen

REFRESH_S = 2.0
STATUS_STYLE = {"running": "bold", "finished": "", "interrupted": "italic", "failed": "reverse", "damaged": "reverse"}
COLUMNS = ("", "run", "status", "preset", "epochs", "best acc", "started")
SIDE_BY_SIDE_MIN_WIDTH = 150
"""From this width the detail pane fits beside the whole list."""


class RunsScreen(VitScreen):
    """The run list and the highlighted run's details."""

    TITLE = "Runs"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Evaluate", priority=True, show=False),
        Binding("a", "attach", "Attach"),
        Binding("r", "resume", "Resume"),
        Binding("space", "mark", "Mark", key_display="spc"),
        Binding("c", "compare", "Compare"),
        Binding("f5", "refresh", "Refresh", show=False),
    ]

    def __init__(self) -> None:
        super().__init__(name="runs")
        self.runs = []
        self.marked: list[Path] = []
        self.details = None
        """The ``RunDetails`` shown in the detail pane (None before the first is read)."""
        self._listing = None
        self._timer: Timer | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(id="runs-body"):
            yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
            with VerticalScroll(id="run-detail"):
                yield Static("", id="run-detail-text")
        yield Static("", id="runs-note")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        from ...engine.run_details import RunListing

        self._listing = RunListing(self.app.state.runs_root)
        self.query_one("#runs-table", DataTable).add_columns(*COLUMNS)
        self.action_refresh()

    def on_resize(self) -> None:
        self.set_class(self.size.width >= SIDE_BY_SIDE_MIN_WIDTH, "-side-by-side")

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
        if self._listing is not None and not self.task_busy("scan"):
            self.run_task("scan", self._listing.refresh)

    def _show_runs(self, runs: list, changed: set[Path]) -> None:
        table = self.query_one("#runs-table", DataTable)
        current = self.selected_run()
        same_rows = [r.path for r in runs] == [r.path for r in self.runs]
        self.runs = runs
        self.marked = [m for m in self.marked if any(r.path == m for r in self.runs)]
        if same_rows:
            for run in runs:
                if run.path in changed:
                    for column, value in zip(table.columns, self._row(run)):
                        table.update_cell(str(run.path), column, value)
        else:
            table.clear()
            for run in self.runs:
                table.add_row(*self._row(run), key=str(run.path))
            if current is not None:
                for index, run in enumerate(self.runs):
                    if run.path == current.path:
                        table.move_cursor(row=index)
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
        if not self.runs:
            self.details = None
            self.query_one("#run-detail-text", Static).update("")

    def _row(self, run) -> tuple:
        best = f"{run.best_val_acc:.1%}" if run.best_val_acc is not None else "–"
        return (
            "✓" if run.path in self.marked else " ",
            run.name,
            Text(run.status, style=STATUS_STYLE.get(run.status, "")),
            run.preset or "custom",
            f"{run.epochs_done}/{run.epochs}",
            best,
            run.started,
        )

    def _redraw_marks(self) -> None:
        table = self.query_one("#runs-table", DataTable)
        first_column = next(iter(table.columns))
        for run in self.runs:
            table.update_cell(str(run.path), first_column, "✓" if run.path in self.marked else " ")
        self._note(self._hint())

    # --- the detail pane ----------------------------------------------------------------------

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "runs-table" and event.row_key.value is not None:
            self._read_details(Path(event.row_key.value))

    def _read_details(self, run_dir: Path) -> None:
        from ...engine.run_details import run_details

        self.run_task("details", run_details, run_dir, run_dir=run_dir)

    def _show_details(self, details) -> None:
        selected = self.selected_run()
        if selected is None or selected.path != details.path:
            return  # the cursor has moved on since this was read
        self.details = details
        self.query_one("#run-detail-text", Static).update(detail_text(details, self.app))

    def _hint(self) -> str:
        marked = ", ".join(p.name for p in self.marked) or "none"
        hint = f"enter evaluates · a attaches · r resumes · space marks ({marked}) · c compares two"
        damaged = [f"{run.name}: {run.problem}" for run in self.runs if run.problem]
        return "\n".join([hint, *damaged])

    def selected_run(self):
        """The run under the cursor (None when the list is empty)."""
        table = self.query_one("#runs-table", DataTable)
        if not self.runs or table.cursor_row is None or table.cursor_row >= len(self.runs):
            return None
        return self.runs[table.cursor_row]

    # --- actions ------------------------------------------------------------------------------

    async def action_open(self) -> None:
        """Show the run on the evaluate screen."""
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

    def action_mark(self) -> None:
        """Mark or unmark the run under the cursor for comparing (two at most)."""
        run = self.selected_run()
        if run is None:
            return
        if run.path in self.marked:
            self.marked.remove(run.path)
        else:
            self.marked = (self.marked + [run.path])[-2:]
        self._redraw_marks()

    def action_compare(self) -> None:
        """Compare the two marked runs: files written, then shown side by side."""
        if len(self.marked) != 2:
            self.notify("Mark two runs with space first.", severity="warning")
            return
        first, second = self.marked
        out_dir = self.app.state.home / "compare" / f"{first.name}-vs-{second.name}"
        self._note(f"comparing {first.name} and {second.name}…")
        self.run_task("compare", _compare, first, second, out_dir)

    def on_task_done(self, message: TaskDone) -> None:
        if not self.is_current(message):
            return
        if message.task == "scan":
            self._show_runs(*message.result)
        elif message.task == "details":
            self._show_details(message.result)
        elif message.task == "compare":
            from .compare import CompareScreen

            first, second, paths = message.result
            self._note(self._hint())
            self.app.push_screen(CompareScreen(first, second, paths))

    def on_task_failed(self, message: TaskFailed) -> None:
        if not self.is_current(message):
            return
        if message.task == "compare":
            self._note(self._hint())
            self.app.show_failure("Compare failed", message.message)
        else:
            self._note(f"cannot read the runs folder: {message.message}")

    def _note(self, text: str) -> None:
        self.query_one("#runs-note", Static).update(text)


def _compare(first: Path, second: Path, out_dir: Path) -> tuple[Path, Path, list[Path]]:
    from ...engine.export import compare_runs

    return first, second, [Path(p) for p in compare_runs([first, second], out_dir)]
