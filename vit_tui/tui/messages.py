"""Messages the app's workers post: small dataclasses, most wrapping one engine event.

Only ``post_message`` crosses from a worker thread to the UI. Progress-like messages may be
replaced by a newer one of the same kind while still queued (``can_replace``); messages that
carry data (epoch results, a run's end) never are. Task results are in ``tasks``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual.message import Message

from ..engine.telemetry.events import Event, StepsLogged
from .tasks import TaskResult


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


@dataclass(frozen=True)
class RunEnd:
    """How an in-app training worker ended: finished, interrupted or failed (with why)."""

    status: str
    run_dir: Path | None
    error: str = ""


class TrainingEnded(TaskResult[RunEnd]):
    """The training worker returned; a late one of an earlier start is dropped by the task pattern."""

    @property
    def status(self) -> str:
        return self.result.status

    @property
    def run_dir(self) -> Path | None:
        return self.result.run_dir

    @property
    def error(self) -> str:
        return self.result.error


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
