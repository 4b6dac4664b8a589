"""Evaluate screen (4): confusion matrix, per-class precision/recall/F1, mistakes, export.

The numbers come from the engine: the run's saved ``evaluation.json`` when there is one,
otherwise ``evaluate_run`` in a thread worker (then saved, so the next look is instant).
With the run's model (loaded once, in a worker) it also shows the attention rollout over the
selected mistake (``a``), predicts image files typed into the predictions view (``p``), and
exports the model as TorchScript or ONNX (``x``).

The run shown, its evaluation and the work under way live in the app's ``EvaluationController``
(``app.evaluation``), whose ``evaluation`` this screen watches to draw the scores. The mistakes pane,
the predictions view and the model export are mixins of their own (``evaluate_mistakes``,
``evaluate_predict``, ``evaluate_export``). Its stylesheet is ``evaluate.tcss``.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich import box
from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import ContentSwitcher, Label, OptionList, Select, Static
from textual.widgets.option_list import Option

from ...engine.runs.query import middle_cut
from ..controllers import app_controller, shown
from ..tasks import TaskFailed, TaskResult
from ..widgets.confusion import ConfusionView
from ..widgets.footer import FittingFooter
from ..widgets.heatmap import AttentionHeatMap
from ..widgets.predictions import PredictionsPanel
from ..widgets.thumbnails import Thumbnail
from . import evaluate_tools as tools
from .base import VitScreen
from .evaluate_export import ModelExport, ModelExported
from .evaluate_mistakes import AttentionReady, MistakesView
from .evaluate_predict import PredictionsReady, PredictionsSaved, PredictionsView

RUN_LABEL_NAME = 24
"""The most of a run's name the run picker shows (its status follows)."""


class RunsListed(TaskResult[list], title="Run-list"):
    """The runs the picker offers, newest first."""


class EvaluationLoaded(TaskResult[tuple], title="Load"):
    """(run folder, its saved evaluation and facts, or None when it has none)."""


class EvaluationReady(TaskResult[tuple], title="Evaluate"):
    """(run folder, the evaluation just computed and saved, with its facts)."""


class ReportExported(TaskResult[list], title="Export"):
    """The report files written for the run."""


class EvaluateScreen(MistakesView, PredictionsView, ModelExport, VitScreen):
    """Scores of the selected run's kept checkpoint on its validation split."""

    CSS_PATH = "evaluate.tcss"
    TITLE = "Evaluate"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("e", "export", "Export", tooltip="export the report files; in the predictions view, the CSV"),
        Binding("v", "evaluate", "Redo"),
        Binding("s", "pick_run", "Run"),
        Binding("a", "attention", "Attention", tooltip="attention rollout over the selected mistake; again hides"),
        Binding("p", "predict", "Predict", tooltip="predictions view: top-5 of an image file or folder; again: scores"),
        Binding("x", "export_model", "Model file", tooltip="export the model as TorchScript or ONNX, verified"),
    ]

    evaluating = app_controller("evaluation", "The run shown here, as the app's controller holds it.")
    run_dir = shown("evaluating", "run_dir", "The run shown (None before one is chosen).")
    evaluation = shown("evaluating", "evaluation", "The run's scores (None until read or computed).")
    busy = shown("evaluating", "busy", 'The work under way on the run ("" when none is).')
    exported = shown("evaluating", "exported", "The report files last exported for the run.")

    def __init__(self) -> None:
        super().__init__(name="evaluate")
        self._evaluate_when_shown = False
        self._run_choices: set[str] = set()
        """The runs the picker lists (paths as text)."""
        self.models = tools.RunModels()
        self.attention_on = False
        self.sample: Path | None = None
        """The image of the selected mistake, which the attention map is drawn over."""
        self._attention_maps: dict[tuple[Path, Path], tools.AttentionResult] = {}
        self._onnx_missing: str | None | bool = False
        """What ONNX export lacks here (None: nothing), once checked; False until then."""

    def compose(self) -> ComposeResult:
        with Horizontal(id="eval-bar"):
            yield Select([], prompt="run", compact=True, id="eval-run")
            yield Static("", id="eval-accuracy")
        with Horizontal(id="eval-body"):
            with ContentSwitcher(initial="eval-left", id="eval-views"):
                with VerticalScroll(id="eval-left"):
                    yield ConfusionView(id="eval-confusion")
                    yield Static("", id="eval-per-class")
                yield PredictionsPanel(self.app.state.home, id="eval-predict")
            with Vertical(id="eval-mistakes"):
                yield Label("most confident mistakes", classes="panel-title")
                yield OptionList(id="mistake-list")
                yield Thumbnail(id="mistake-thumb")
                yield AttentionHeatMap(id="mistake-heat")
                yield Static("", id="mistake-caption", markup=False)
        yield Static("", id="eval-note", classes="screen-note", markup=False)
        yield FittingFooter()

    def on_mount(self) -> None:
        self.query_one("#mistake-heat").display = False
        self.watch(self.app, "run_dir", self._run_chosen)
        self.watch(self.evaluating, "evaluation", self._show_evaluation, init=False)

    def on_screen_resume(self) -> None:
        # Runs may have appeared since the list was read; reading it is a worker's job.
        self.tasks.start(RunsListed, _list_runs, self.app.state.runs_root)
        if self._evaluate_when_shown:
            self._evaluate_when_shown = False
            self.action_evaluate()

    def _show_run_choices(self, runs: list) -> None:
        if self.app.run_dir is None and runs:
            # Nothing chosen yet: show the newest finished run (the list is newest first).
            finished = [r for r in runs if r.status == "finished"]
            self.app.run_dir = (finished or runs)[0].path
        select = self.query_one("#eval-run", Select)
        with select.prevent(Select.Changed):
            # A generated name is cut in the middle so the status still shows in half of 80 columns.
            select.set_options([(f"{middle_cut(r.name, RUN_LABEL_NAME)} · {r.status}", str(r.path)) for r in runs])
            self._run_choices = {str(r.path) for r in runs}
            if self.app.run_dir is not None and any(r.path == self.app.run_dir for r in runs):
                select.value = str(self.app.run_dir)
        if self.app.run_dir is None:
            self._note("No run chosen yet: train one (3), or pick one here (s) or on Runs (5).")

    def _run_chosen(self, run_dir: Path | None) -> None:
        select = self.query_one("#eval-run", Select)
        if run_dir is not None and str(run_dir) in self._run_choices and select.value != str(run_dir):
            with select.prevent(Select.Changed):
                select.value = str(run_dir)
        if run_dir is not None and run_dir != self.run_dir:
            self.show_run(run_dir)

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "eval-run" and event.value is not Select.NULL:
            self.app.run_dir = Path(str(event.value))

    def action_pick_run(self) -> None:
        """Open the run list."""
        select = self.query_one("#eval-run", Select)
        select.focus()
        select.expanded = True

    # --- loading ------------------------------------------------------------------------------

    def show_run(self, run_dir: Path) -> None:
        """Show the run's saved evaluation (read in a worker), or compute it."""
        self.evaluating.run_dir = run_dir
        self.evaluating.exported = []
        self.sample = None
        self.query_one(PredictionsPanel).clear(f"predictions use {run_dir.name}: enter a path")
        self.tasks.start(EvaluationLoaded, _load, run_dir, run_dir=run_dir)

    def _loaded(self, run_dir: Path, loaded) -> None:
        if run_dir != self.run_dir:
            return
        if loaded is not None:
            self._take_evaluation(loaded)
            self._note(f"{run_dir.name}: e exports, v evaluates again")
        elif self.app.screen is self:
            self.action_evaluate()
        else:
            # Chosen while another screen shows (a run that just ended): evaluated when looked at.
            self._evaluate_when_shown = True
            self._note(f"{run_dir.name}: not evaluated yet")

    def _free_with_a_run(self) -> bool:
        """True when a run is chosen and no evaluation or export is under way (else it says why, or waits)."""
        if self.run_dir is None:
            self.notify("Pick a run first (s).", severity="warning")
            return False
        return not self.busy

    def action_evaluate(self) -> None:
        """Evaluate the run's kept checkpoint again (in a worker)."""
        if not self._free_with_a_run():
            return
        self.evaluating.busy = "evaluate"
        self._note(f"evaluating {self.run_dir.name}…")
        self.tasks.start(EvaluationReady, _evaluate, self.run_dir, run_dir=self.run_dir)

    def action_export(self) -> None:
        """Write the run's CSV, PNG and Markdown exports and list them (the predictions CSV in that view)."""
        if self.predictions_shown:
            self.save_predictions()
            return
        if not self._free_with_a_run():
            return
        self.evaluating.busy = "export"
        self._note(f"exporting {self.run_dir.name}…")
        self.tasks.start(ReportExported, _export, self.run_dir, run_dir=self.run_dir)

    def on_runs_listed(self, message: RunsListed) -> None:
        self._show_run_choices(message.result)

    def on_evaluation_loaded(self, message: EvaluationLoaded) -> None:
        self._loaded(*message.result)

    def on_evaluation_ready(self, message: EvaluationReady) -> None:
        self.evaluating.busy = ""
        run_dir, loaded = message.result
        if run_dir == self.run_dir and loaded is not None:
            self._take_evaluation(loaded)
            self._note(f"evaluated {run_dir.name}: e exports")

    def on_report_exported(self, message: ReportExported) -> None:
        self.evaluating.busy = ""
        self.evaluating.exported = list(message.result)
        names = ", ".join(p.name for p in self.exported)
        folder = self.exported[0].parent if self.exported else self.run_dir
        self._note(f"exported to {folder}: {names}")
        self.notify(f"exported {len(self.exported)} files")

    def on_task_failed(self, message: TaskFailed) -> None:
        if message.task in (EvaluationReady, ReportExported, ModelExported):
            self.evaluating.busy = ""
        if message.task is AttentionReady:
            self.query_one(AttentionHeatMap).show_message(f"no attention map: {message.message}")
        elif message.task in (PredictionsReady, PredictionsSaved):
            # Bad input typed on the screen: one line in the panel, no dialog.
            self.query_one(PredictionsPanel).say(message.message)
        else:
            self._note(f"{message.task.title.lower()} failed")
            self.app.show_failure(f"{message.task.title} failed", message.message, message.run_dir)

    # --- attention --------------------------------------------------------------------------

    # --- drawing ------------------------------------------------------------------------------

    def _take_evaluation(self, loaded: tuple) -> None:
        """Hand a read or computed evaluation (with its facts) to the controller, which redraws it here."""
        self.evaluating.checkpoint = loaded[1].get("checkpoint", "")
        self.evaluating.evaluation = loaded[0]

    def _show_evaluation(self, evaluation) -> None:
        """Draw the run's scores (the controller's ``evaluation`` watcher)."""
        checkpoint = self.evaluating.checkpoint
        # Short enough for the half of an 80-column bar the run picker leaves; the tooltip says the rest.
        which = f" · {checkpoint}" if checkpoint else ""
        line = self.query_one("#eval-accuracy", Static)
        line.update(f"accuracy [b]{evaluation.accuracy:.1%}[/b] · loss {evaluation.loss:.4f}{which}")
        line.tooltip = f"evaluated with the {checkpoint} checkpoint" if checkpoint else None
        self.query_one(ConfusionView).show_matrix(
            evaluation.classes, evaluation.confusion.tolist(), title="confusion matrix"
        )
        self.query_one("#eval-per-class", Static).update(_per_class_table(evaluation.per_class))
        options = self.query_one("#mistake-list", OptionList)
        options.clear_options()
        for number, mistake in enumerate(evaluation.mistakes):
            options.add_option(
                Option(f"{mistake.true} → {mistake.predicted} {mistake.probability:.0%}", id=str(number))
            )
        if evaluation.mistakes:
            options.highlighted = 0
            self._show_mistake(0)
        else:
            self.sample = None
            self._show_attention()
            self.query_one("#mistake-thumb", Thumbnail).set_image(None)
            self.query_one("#mistake-caption", Static).update("no mistakes")

    def _note(self, text: str) -> None:
        self.query_one("#eval-note", Static).update(text)


def _per_class_table(per_class: list[dict]) -> Table:
    table = Table(title="per class", title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1))
    table.add_column("class", no_wrap=True)
    for name in ("precision", "recall", "F1"):
        table.add_column(name, justify="right")
    table.add_column("n", justify="right")
    for row in per_class:
        table.add_row(
            str(row["class"]),
            f"{row['precision']:.2f}",
            f"{row['recall']:.2f}",
            f"{row['f1']:.2f}",
            str(row["support"]),
        )
    return table


# --- work done in worker threads ---------------------------------------------------------------


def _list_runs(runs_root: Path) -> list:
    from ...engine.runs.listing import list_runs

    return list_runs(runs_root)


def _load(run_dir: Path) -> tuple[Path, tuple | None]:
    from ...engine.infer.metrics import load_evaluation

    return run_dir, load_evaluation(run_dir)


def _evaluate(run_dir: Path) -> tuple[Path, tuple | None]:
    from ...engine.infer.evaluate import evaluate_run
    from ...engine.infer.metrics import load_evaluation, save_evaluation
    from ...engine.runs.folder import RunFolder

    keep = RunFolder(run_dir).read_config().train.keep
    save_evaluation(run_dir, evaluate_run(run_dir, checkpoint=keep), {"checkpoint": keep})
    return run_dir, load_evaluation(run_dir)


def _export(run_dir: Path) -> list[Path]:
    from ...engine.report.report import export_run

    return [Path(p) for p in export_run(run_dir)]
