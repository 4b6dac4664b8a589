"""The predictions panel: a path field with completion, then one image's top classes or a folder's table.

The panel only shows; the screen runs the predictions in a worker and hands the results here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Input, Static

from .paths import PathSuggester
from .thumbnails import Thumbnail

BAR_WIDTH = 20
PERCENT_WIDTH = 7


def probability_bars(top: Sequence[tuple[str, float]], width: int = BAR_WIDTH) -> Text:
    """One line per class: its name, a bar ``width`` cells long filled as its probability, the percentage."""
    name_width = max((len(name) for name, _ in top), default=0)
    text = Text(no_wrap=True, overflow="ellipsis")
    for name, probability in top:
        filled = round(probability * width)
        text.append(f"{name:<{name_width}} ")
        text.append("█" * filled, style="bold")
        text.append("░" * (width - filled), style="dim")
        text.append(f" {probability:6.1%}\n")
    text.rstrip()
    return text


def others(top: Sequence[tuple[str, float]]) -> str:
    """The classes after the first, with their probabilities, for a table cell."""
    return " · ".join(f"{name} {probability:.0%}" for name, probability in top[1:])


class ProbabilityBars(Static):
    """``probability_bars`` with the bars as long as the widget's width allows (at most ``BAR_WIDTH``)."""

    def __init__(self, **kwargs) -> None:
        super().__init__("", **kwargs)
        self.top: tuple[tuple[str, float], ...] = ()

    def show(self, top: Sequence[tuple[str, float]]) -> None:
        self.top = tuple(top)
        self._redraw()

    def on_resize(self) -> None:
        self._redraw()

    def _redraw(self) -> None:
        name_width = max((len(name) for name, _ in self.top), default=0)
        room = self.content_size.width - name_width - 1 - PERCENT_WIDTH
        self.update(probability_bars(self.top, max(4, min(BAR_WIDTH, room))) if self.top else "")


class PredictionsPanel(Vertical):
    """Path field, a status line, and either one image (bars and thumbnail) or a table of images."""

    DEFAULT_CSS = """
    PredictionsPanel {
        height: 1fr;
        width: 1fr;
    }
    PredictionsPanel > #predict-path {
        width: 1fr;
    }
    PredictionsPanel > #predict-status {
        height: auto;
        color: $text-muted;
    }
    PredictionsPanel > #predict-one {
        height: auto;
        display: none;
    }
    PredictionsPanel #predict-bars {
        width: 1fr;
        height: auto;
        padding: 0 0 0 2;
    }
    PredictionsPanel #predict-thumb {
        height: 8;
        width: 16;
    }
    PredictionsPanel > #predict-table {
        height: 1fr;
        display: none;
    }
    """

    def __init__(self, home: Path, **kwargs) -> None:
        super().__init__(**kwargs)
        self.home = home
        self.predictions: list = []
        """The predictions shown (``vit_tui.engine.infer.predict.Prediction``), for the CSV export."""
        self.source: Path | None = None
        """The file or folder they were made for."""

    def compose(self) -> ComposeResult:
        yield Input(
            placeholder="image file or folder, enter predicts (→ completes)",
            suggester=PathSuggester(self.home),
            compact=True,
            id="predict-path",
        )
        yield Static("", id="predict-status", markup=False)
        with Horizontal(id="predict-one"):
            yield Thumbnail(id="predict-thumb")
            yield ProbabilityBars(id="predict-bars")
        yield DataTable(id="predict-table", cursor_type="row", zebra_stripes=True)

    def path_text(self) -> str:
        return self.query_one("#predict-path", Input).value.strip()

    def resolve(self, text: str) -> Path:
        """The path typed, relative ones taken from the home folder (``~`` expanded)."""
        path = Path(text).expanduser()
        return path if path.is_absolute() else self.home / path

    def say(self, text: str) -> None:
        """One line of status (working, a bad path, how many images)."""
        self.query_one("#predict-status", Static).update(text)

    def clear(self, status: str = "") -> None:
        self.predictions = []
        self.query_one("#predict-one").display = False
        self.query_one("#predict-table").display = False
        self.say(status)

    def show_predictions(self, predictions: list, source: Path) -> None:
        """One image: bars and thumbnail; several: one table row each (paths shown relative to ``source``)."""
        self.predictions, self.source = list(predictions), source
        one = len(predictions) == 1
        self.query_one("#predict-one").display = one
        self.query_one("#predict-table").display = not one
        if one:
            self._show_one(predictions[0])
        else:
            self._show_table(predictions, source)

    def _show_one(self, prediction) -> None:
        self.say(f"{prediction.path.name}: {prediction.best}")
        self.query_one(ProbabilityBars).show(prediction.top)
        thumb = self.query_one("#predict-thumb", Thumbnail)
        try:
            thumb.set_image(prediction.path)
        except OSError:
            thumb.set_image(None)

    def _show_table(self, predictions: list, source: Path) -> None:
        self.say(f"{len(predictions)} images in {source.name}")
        table = self.query_one("#predict-table", DataTable)
        table.clear(columns=True)
        table.add_columns("file", "top class", "probability", "next classes")
        for prediction in predictions:
            best, probability = prediction.top[0]
            name = (
                str(prediction.path.relative_to(source))
                if prediction.path.is_relative_to(source)
                else str(prediction.path)
            )
            table.add_row(name, best, f"{probability:.1%}", others(prediction.top))
