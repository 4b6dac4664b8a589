"""Runs screen (5): every run with status, preset and best accuracy; attach, resume, compare.

Mark two runs with space and press c: ``engine.export.compare_runs`` writes the comparison
files and the compare view shows the curves overlaid, the metrics side by side and both
confusion matrices.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Static

from ...errors import UserError
from ..messages import TaskDone, TaskFailed
from .base import VitScreen

REFRESH_S = 2.0
STATUS_STYLE = {"running": "bold", "finished": "", "interrupted": "italic", "failed": "reverse", "damaged": "reverse"}


class RunsScreen(VitScreen):
    """The run list."""

    TITLE = "Runs"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Evaluate", priority=True, show=False),
        Binding("a", "attach", "Attach"),
        Binding("r", "resume", "Resume"),
        Binding("space", "mark", "Mark", key_display="spc"),
        Binding("c", "compare", "Compare"),
        Binding("f5", "refresh", "Refresh"),
    ]

    def __init__(self) -> None:
        super().__init__(name="runs")
        self.runs = []
        self.marked: list[Path] = []
        self._timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield DataTable(id="runs-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="runs-note")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        table = self.query_one("#runs-table", DataTable)
        table.add_columns("", "run", "status", "preset", "epochs", "best acc", "started")
        self.action_refresh()

    def on_screen_resume(self) -> None:
        self.action_refresh()
        if self._timer is None:
            self._timer = self.set_interval(REFRESH_S, self.action_refresh)

    def on_screen_suspend(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    # --- the list -----------------------------------------------------------------------------

    def action_refresh(self) -> None:
        """Read the runs folder again (keeps the cursor on the same run)."""
        from ...engine.runs import list_runs

        table = self.query_one("#runs-table", DataTable)
        current = self.selected_run()
        self.runs = list_runs(self.app.state.runs_root)
        self.marked = [m for m in self.marked if any(r.path == m for r in self.runs)]
        table.clear()
        for run in self.runs:
            best = f"{run.best_val_acc:.1%}" if run.best_val_acc is not None else "–"
            table.add_row(
                "✓" if run.path in self.marked else " ",
                run.name,
                Text(run.status, style=STATUS_STYLE.get(run.status, "")),
                run.preset or "custom",
                f"{run.epochs_done}/{run.epochs}",
                best,
                run.started,
                key=str(run.path),
            )
        if current is not None:
            for index, run in enumerate(self.runs):
                if run.path == current.path:
                    table.move_cursor(row=index)
        if not self.runs:
            self._note(f"No runs in {self.app.state.runs_root} yet: train one on the Train screen (3).")
        else:
            self._note(self._hint())

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
        self.action_refresh()

    def action_compare(self) -> None:
        """Compare the two marked runs: files written, then shown side by side."""
        if len(self.marked) != 2:
            self.notify("Mark two runs with space first.", severity="warning")
            return
        first, second = self.marked
        out_dir = self.app.state.home / "compare" / f"{first.name}-vs-{second.name}"
        self._note(f"comparing {first.name} and {second.name}…")
        self._compare_worker(first, second, out_dir)

    @work(thread=True, exclusive=True, group="compare", exit_on_error=False)
    def _compare_worker(self, first: Path, second: Path, out_dir: Path) -> None:
        from ...engine.export import compare_runs

        try:
            paths = [Path(p) for p in compare_runs([first, second], out_dir)]
        except UserError as exc:
            self.post_message(TaskFailed("compare", str(exc)))
            return
        except Exception as exc:  # shown, not raised
            self.post_message(TaskFailed("compare", f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(TaskDone("compare", (first, second, paths)))

    def on_task_done(self, message: TaskDone) -> None:
        if message.task == "compare":
            from .compare import CompareScreen

            first, second, paths = message.result
            self._note(self._hint())
            self.app.push_screen(CompareScreen(first, second, paths))

    def on_task_failed(self, message: TaskFailed) -> None:
        self._note(self._hint())
        self.app.show_failure("Compare failed", message.message)

    def _note(self, text: str) -> None:
        self.query_one("#runs-note", Static).update(text)
