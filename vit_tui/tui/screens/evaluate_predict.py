"""The evaluate screen's predictions view: the top-5 of image files typed in, saved as CSV on e.

A mixin of ``EvaluateScreen``; p switches between it and the scores.
"""

from __future__ import annotations

from pathlib import Path

from textual.widgets import ContentSwitcher, DataTable, Input

from ..tasks import TaskResult
from ..widgets.predictions import PredictionsPanel
from . import evaluate_tools as tools


class PredictionsReady(TaskResult[tools.PredictionsResult]):
    """The top-5 predictions of the images typed in."""


class PredictionsSaved(TaskResult[Path]):
    """The CSV the predictions were saved to."""


class PredictionsView:
    """Predicting image files with the run's model, in a worker (a mixin of ``EvaluateScreen``)."""

    run_dir: Path | None

    def on_predictions_ready(self, message: PredictionsReady) -> None:
        self._predicted(message.result)

    def on_predictions_saved(self, message: PredictionsSaved) -> None:
        self.query_one(PredictionsPanel).say(f"saved {message.result}")
        self.notify(f"predictions saved to {message.result}", markup=False)

    # --- predictions ------------------------------------------------------------------------

    @property
    def predictions_shown(self) -> bool:
        return self.query_one("#eval-views", ContentSwitcher).current == "eval-predict"

    def action_predict(self) -> None:
        """Switch to the predictions view and its path field, or back to the scores."""
        switcher = self.query_one("#eval-views", ContentSwitcher)
        if self.predictions_shown:
            switcher.current = "eval-left"
            if self.run_dir is not None:
                self._note(f"{self.run_dir.name}: e exports, v evaluates again")
            return
        switcher.current = "eval-predict"
        self.query_one("#predict-path", Input).focus()
        self._note("enter predicts · → completes the path · esc leaves the field · then p shows the scores again")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "predict-path":
            return
        panel = self.query_one(PredictionsPanel)
        if self.run_dir is None:
            panel.say("pick a run first (s)")
            return
        if not panel.path_text():
            panel.say("type an image file or a folder of images")
            return
        source = panel.resolve(panel.path_text())
        panel.clear(f"predicting {source.name} with {self.run_dir.name}…")
        self.tasks.start(PredictionsReady, tools.predict, self.models, self.run_dir, source)

    def _predicted(self, result: tools.PredictionsResult) -> None:
        if result.run_dir != self.run_dir:
            return  # the run changed while it worked: these are the old run's answers
        panel = self.query_one(PredictionsPanel)
        panel.show_predictions(result.predictions, result.source)
        if len(result.predictions) > 1:
            self.query_one("#predict-table", DataTable).focus()
        else:
            self.set_focus(None)
        self._note("e saves the predictions as CSV · p shows the scores again")

    def save_predictions(self) -> None:
        """Write the predictions shown as CSV into the run's predictions/ folder (in a worker)."""
        panel = self.query_one(PredictionsPanel)
        if not panel.predictions or self.run_dir is None:
            panel.say("nothing to save yet: enter a path first")
            return
        self.tasks.start(PredictionsSaved, tools.save_predictions, self.run_dir, panel.source, panel.predictions)
