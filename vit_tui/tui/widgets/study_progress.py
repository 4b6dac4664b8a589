"""The Runs screen's progress line for a study started from the app: runs done of all, epoch, phase, time left.

The study's ETA (``engine.telemetry.eta.study_eta``) comes from the wall time of the runs it has finished
here and the current run's epochs.
"""

from __future__ import annotations

import time

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import ProgressBar, Static

from ...engine.telemetry.eta import format_eta, run_eta, study_eta
from ...engine.telemetry.events import EpochEnded, RunStarted
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
        self.run_seconds: list[float] = []
        """Wall time of each run finished while the line was shown."""
        self.epoch_seconds: list[float] = []
        """The current run's epoch times."""
        self._job_since: float | None = None

    def compose(self) -> ComposeResult:
        yield ProgressBar(total=1, show_eta=False, show_percentage=False, id="study-bar")
        yield Static("", id="study-status")

    def begin(self, kind: str) -> None:
        """A study of ``kind`` was started: show the line until ``end``."""
        self.kind, self.name_shown, self.total, self.ended, self.job = kind, "", 0, 0, ""
        self.epoch, self.phase = (0, 0), "starting…"
        self.run_seconds, self.epoch_seconds, self._job_since = [], [], None
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
            self.epoch_seconds, self._job_since = [], time.monotonic()
        elif isinstance(event, RunStarted):
            self.epoch = (event.start_epoch, event.epochs)
        elif isinstance(event, EpochEnded):
            self.epoch = (event.epoch, event.epochs)
            self.epoch_seconds.append(event.seconds)
        elif isinstance(event, JobEnded):
            self.ended = min(self.total, self.ended + 1) if event.action != "keep" else self.ended
            # A whole new run's time is the measure for the runs still to come (not a resumed rest).
            if event.action == "new" and event.status == "finished" and self._job_since is not None:
                self.run_seconds.append(time.monotonic() - self._job_since)
            self.epoch, self.job, self._job_since = (0, 0), "", None
        self._draw()

    def eta(self) -> float | None:
        """Seconds the study still needs (None until a run or an epoch has been timed)."""
        done, epochs = self.epoch
        current_left = run_eta(self.epoch_seconds, epochs, done) if self.job else None
        current_total = run_eta(self.epoch_seconds, epochs, 0) if self.job else None
        to_start = max(0, self.total - self.ended - (1 if self.job else 0))
        if current_left is None and not self.run_seconds:
            return None
        return study_eta(self.run_seconds, to_start, current_left, current_total)

    def _draw(self) -> None:
        done, epochs = self.epoch
        share = done / epochs if epochs else 0.0
        self.query_one("#study-bar", ProgressBar).update(total=max(self.total, 1), progress=self.ended + share)
        parts = [f"{self.kind} {self.name_shown}".strip(), f"{self.ended}/{self.total} runs done" if self.total else ""]
        if self.job:
            parts.append(self.job + (f" · epoch {done}/{epochs}" if epochs else ""))
        eta = self.eta()
        parts += [f"study ETA {format_eta(eta)}" if eta is not None else "", self.phase]
        parts += ["" if self.phase.startswith("stopping") else "x stops"]
        self.query_one("#study-status", Static).update(" · ".join(p for p in parts if p))
