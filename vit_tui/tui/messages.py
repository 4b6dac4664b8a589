"""Messages the app's workers post: small dataclasses, most wrapping one engine event.

Only ``post_message`` crosses from a worker thread to the UI. Progress-like messages may be
replaced by a newer one of the same kind while still queued (``can_replace``); messages that
carry data (epoch results, evaluations, failures) never are.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual.message import Message

from ..engine.telemetry.events import Event, StepsLogged


@dataclass
class TrainEvent(Message):
    """An engine event from the training worker or a followed events file."""

    event: Event


@dataclass
class TrainProgress(Message):
    """A log point of a running epoch; only the newest queued one matters."""

    event: StepsLogged

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, TrainProgress)


@dataclass
class TrainingEnded(Message):
    """The training worker returned: ``status`` is finished, interrupted or failed."""

    status: str
    run_dir: Path | None
    error: str = ""
    token: int = 0
    """Which start of the train screen this worker belongs to; a late message of an earlier run is ignored."""


@dataclass
class TaskProgress(Message):
    """Progress of a data task (build, import, demo): ``done`` of ``total`` items."""

    task: str
    done: int
    total: int
    note: str = ""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, TaskProgress) and message.task == self.task


@dataclass
class TaskDone(Message):
    """A background task finished; ``result`` is what its function returned."""

    task: str
    result: Any = None
    worker: Any = None
    """The worker that computed it (``VitScreen.is_current`` compares it with the task's newest)."""


@dataclass
class TaskFailed(Message):
    """A background task failed; the app shows ``message`` (and ``run_dir`` when there is one)."""

    task: str
    message: str
    run_dir: Path | None = None
    worker: Any = None
    """The worker that failed (``VitScreen.is_current`` compares it with the task's newest)."""


@dataclass
class SummaryReady(Message):
    """The model summary text computed in a worker."""

    text: str


@dataclass
class StudyEvent(Message):
    """An event of a study started from the app (its own, or a run's epoch end or start)."""

    event: Any

    def can_replace(self, message: Message) -> bool:
        # Only phase counts are progress-like; run starts and ends must all arrive.
        from ..study.events import StudyPhase

        return isinstance(message, StudyEvent) and isinstance(self.event, StudyPhase) and isinstance(
            message.event, StudyPhase
        )
