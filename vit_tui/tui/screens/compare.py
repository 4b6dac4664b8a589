"""Compare view: the marked runs' curves overlaid (one colour each), metrics side by side, their confusion matrices.

The files come from ``engine.report.compare.compare_runs`` (its ``comparison.csv`` is the metrics
table shown here); the curves are the runs' own ``metrics.csv``: each run's train loss on one
chart and its validation accuracy on the other, tagged A, B, C... in the legend.
"""

from __future__ import annotations

import contextlib
import csv
from pathlib import Path
from typing import ClassVar

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.widgets import Static

from ..widgets.confusion import ConfusionView
from ..widgets.footer import FittingFooter
from ..widgets.plot import ChartView, Series
from .base import VitScreen

SHOWN_METRICS = (
    ("status", "status"),
    ("preset", "preset"),
    ("attention", "attention"),
    ("ffn", "ffn"),
    ("params", "parameters"),
    ("epochs_done", "epochs"),
    ("best_epoch", "best epoch"),
    ("best_val_acc", "best val acc"),
    ("final_val_acc", "final val acc"),
    ("final_train_acc", "final train acc"),
    ("final_train_loss", "final train loss"),
    ("median_epoch_s", "median epoch s"),
)


MAX_RUNS = 6
"""The most runs compared at once: one colour each in the theme's series colours."""
TAGS = "ABCDEF"


class CompareScreen(VitScreen):
    """Two or more runs side by side; esc goes back to the run list."""

    CSS_PATH = "compare.tcss"
    TITLE = "Compare"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "app.pop_screen", "Back"),
        Binding("s", "app.cycle_smoothing", "Smooth"),
    ]

    def __init__(self, runs: list[Path], files: list[Path]) -> None:
        super().__init__(name="compare")
        self.runs = tuple(runs[:MAX_RUNS])
        self.files = files

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="compare-body"):
            yield Static(self._metrics_table(), id="compare-metrics")
            with Horizontal(id="compare-charts", classes="pair"):
                yield ChartView("train loss by epoch", id="compare-loss")
                yield ChartView("validation accuracy by epoch", id="compare-acc")
            with Grid(id="compare-confusions", classes="pair"):
                for tag in TAGS[: len(self.runs)]:
                    yield ConfusionView(id=f"compare-confusion-{tag.lower()}")
            yield Static(self._files_text(), id="compare-files")
        yield FittingFooter()

    def on_mount(self) -> None:
        from ...engine.infer.metrics import load_evaluation
        from ...engine.runs.folder import RunFolder
        from ...errors import UserError

        self.query_one("#compare-confusions").styles.grid_size_columns = min(3, len(self.runs))
        loss, acc = [], []
        for tag, run in zip(TAGS, self.runs):
            rows = RunFolder(run).read_metrics()
            epochs = [float(r["epoch"]) for r in rows]
            loss.append(Series(f"{tag} {run.name}", epochs, [r["train_loss"] for r in rows]))
            acc.append(Series(f"{tag} {run.name}", epochs, [r["val_acc"] for r in rows]))
        self.query_one("#compare-loss", ChartView).set_series(loss)
        self.query_one("#compare-acc", ChartView).set_series(acc)
        for tag, run in zip(TAGS, self.runs):
            view = self.query_one(f"#compare-confusion-{tag.lower()}", ConfusionView)
            try:
                loaded = load_evaluation(run)
            except UserError as exc:  # a damaged evaluation.json: said in place of its matrix
                view.clear_matrix(f"{tag} {run.name}: {exc.why}")
                continue
            if loaded is None:
                view.clear_matrix(f"{tag} {run.name}: not evaluated yet (Evaluate screen, v)")
            else:
                evaluation = loaded[0]
                view.show_matrix(
                    evaluation.classes,
                    evaluation.confusion.tolist(),
                    title=f"{tag} {run.name} · {evaluation.accuracy:.1%}",
                )

    def _metrics_table(self) -> Table:
        rows = _read_comparison(self.files)
        tags = TAGS[: len(self.runs)]
        table = Table(title=" vs ".join(tags), title_justify="left", padding=(0, 1))
        table.add_column("")
        for tag, run in zip(tags, self.runs):
            table.add_column(f"{tag} {run.name}", justify="right", overflow="fold")
        for key, label in SHOWN_METRICS:
            values = [_format(key, row.get(key, "")) for row in rows[: len(self.runs)]]
            table.add_row(label, *values)
        return table

    def _files_text(self) -> str:
        if not self.files:
            return ""
        folder = self.files[0].parent
        with contextlib.suppress(ValueError):  # outside the home folder: keep it absolute
            folder = folder.relative_to(self.app.state.home)
        return f"written to {folder}: " + ", ".join(p.name for p in self.files)


def _read_comparison(files: list[Path]) -> list[dict[str, str]]:
    for path in files:
        if path.name.endswith(".csv"):
            with open(path, encoding="utf-8", newline="") as handle:
                return list(csv.DictReader(handle))
    return []


def _format(key: str, raw: str) -> str:
    if raw == "":
        return "–"
    try:
        value = float(raw)
    except ValueError:
        return raw
    if key.endswith("_acc"):
        return f"{value:.1%}"
    if key == "params":
        return f"{int(value):,}"
    if key in ("epochs_done", "best_epoch"):
        return str(int(value))
    if key == "median_epoch_s":
        return f"{value:.1f}"
    return f"{value:.4f}"
