"""The Runs screen's progress line for a study started from the app: runs done of all, epoch, phase."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import ProgressBar, Static

from ...engine.events import EpochEnded, RunStarted
from ...study.events import JobEnded, JobStarted, StudyPhase, StudyStarted


class StudyProgress(Horizontal):
    """A bar (runs ended, plus the current run's share of its epochs) and a line saying where the study is."""

    DEFAULT_CSS = """
    StudyProgress {
        height: auto;
        display: none;
    }
    StudyProgress.-running {
        display: block;
    }
    StudyProgress ProgressBar {
        width: 24;
    }
    StudyProgress #study-status {
        width: 1fr;
        height: auto;
        padding: 0 1;
    }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.kind = ""
        self.name_shown = ""
        self.total = 0
        self.ended = 0
        self.job = ""
        self.epoch = (0, 0)
        self.phase = ""

    def compose(self) -> ComposeResult:
        yield ProgressBar(total=1, show_eta=False, show_percentage=False, id="study-bar")
        yield Static("", id="study-status")

    def begin(self, kind: str) -> None:
        """A study of ``kind`` was started: show the line until ``end``."""
        self.kind, self.name_shown, self.total, self.ended, self.job = kind, "", 0, 0, ""
        self.epoch, self.phase = (0, 0), "starting…"
        self.add_class("-running")
        self._draw()

    def end(self) -> None:
        """The study's worker returned: hide the line."""
        self.remove_class("-running")

    def stopping(self) -> None:
        """A stop was asked for: say so until the worker returns."""
        self.phase = "stopping: the run in progress saves a checkpoint…"
        self._draw()

    @property
    def text(self) -> str:
        """The status line as shown."""
        return str(self.query_one("#study-status", Static).content)

    def show(self, event: object) -> None:
        """Take in one study or run event."""
        if isinstance(event, StudyStarted):
            self.name_shown, self.total, self.ended, self.phase = event.name, event.total, event.kept, ""
        elif isinstance(event, StudyPhase):
            self.phase = f"{event.phase} {event.done}/{event.total}" if event.total else event.phase
        elif isinstance(event, JobStarted):
            self.job, self.epoch, self.phase = f"run {event.index}/{event.total} {event.label} seed {event.seed}", (0, 0), ""
        elif isinstance(event, RunStarted):
            self.epoch = (event.start_epoch, event.epochs)
        elif isinstance(event, EpochEnded):
            self.epoch = (event.epoch, event.epochs)
        elif isinstance(event, JobEnded):
            self.ended = min(self.total, self.ended + 1) if event.action != "keep" else self.ended
            self.epoch = (0, 0)
        self._draw()

    def _draw(self) -> None:
        done, epochs = self.epoch
        share = done / epochs if epochs else 0.0
        self.query_one("#study-bar", ProgressBar).update(total=max(self.total, 1), progress=self.ended + share)
        parts = [f"{self.kind} {self.name_shown}".strip(), f"{self.ended}/{self.total} runs done" if self.total else ""]
        if self.job:
            parts.append(self.job + (f" · epoch {done}/{epochs}" if epochs else ""))
        parts += [self.phase, "" if self.phase.startswith("stopping") else "x stops"]
        self.query_one("#study-status", Static).update(" · ".join(p for p in parts if p))
