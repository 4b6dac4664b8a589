"""The runs screen's studies: the course experiment and sweeps started from the app, and their progress.

A mixin of ``RunsScreen``: the study runs in the screen's worker and its events come back as
``StudyEvent`` messages that the progress line shows; x stops it (the run in progress keeps its
checkpoint).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from ..messages import StudyEvent
from ..tasks import TaskFailed, TaskResult
from ..widgets.study_progress import StudyProgress


class DatasetsFound(TaskResult[list]):
    """The datasets a study could train on."""


class StudyEnded(TaskResult[object]):
    """The report of a study started from the app."""


class StudyLauncher:
    """Starting, following and stopping a study from the runs screen (a mixin of ``RunsScreen``)."""

    _study_cancel: threading.Event

    @property
    def study_running(self) -> bool:
        """True while a study started from the app trains in this screen's worker."""
        return self.tasks.busy(StudyEnded)

    def action_reproduce(self) -> None:
        """Ask for the dataset, seeds and epochs, then run the course experiment here."""
        if self.study_running:
            self.notify("A study is already running; x stops it.", severity="warning")
            return
        from ...data.store import list_datasets

        self.tasks.start(DatasetsFound, list_datasets, self.app.state.data_root)

    def _ask_reproduce(self, datasets: list[Path]) -> None:
        from .study_dialogs import ReproduceDialog

        self.app.push_screen(ReproduceDialog(datasets, self.app.state.home), self._reproduce_answer)

    def _reproduce_answer(self, options: dict | None) -> None:
        if options:
            from ...study.api import reproduce

            self.start_study("reproduce", partial(reproduce, self.app.state.home, **options))

    def action_sweep(self) -> None:
        """Ask for the base config, grid, seeds and devices (the plan checked whole), then run the sweep here."""
        if self.study_running:
            self.notify("A study is already running; x stops it.", severity="warning")
            return
        from .study_dialogs import SweepDialog

        self.app.push_screen(SweepDialog(self.app.state.home, self.app.state.training_config()), self._sweep_answer)

    def _sweep_answer(self, options: dict | None) -> None:
        if options:
            from ...study.api import sweep

            base, grid, seeds = options["base"], options["grid"], options["seeds"]
            self.start_study(
                "sweep", partial(sweep, self.app.state.home, base, grid, seeds, devices=options["devices"])
            )

    def start_study(self, kind: str, study: Callable[..., Any]) -> None:
        """Run ``study(sink=..., cancel=...)`` (``study.api.reproduce`` or ``sweep`` with its arguments) in a worker."""
        if self.study_running:
            self.notify("A study is already running; x stops it.", severity="warning")
            return
        self._study_cancel = threading.Event()
        self.query_one(StudyProgress).begin(kind)
        self.tasks.start(StudyEnded, partial(study, sink=self._post_study_event, cancel=self._study_cancel))

    def _post_study_event(self, event: object) -> None:
        """The study's sink (called from its worker): the events the progress line uses, as messages."""
        if isinstance(event, _progress_events()):
            self.post_message(StudyEvent(event))

    def on_study_event(self, message: StudyEvent) -> None:
        from ...engine.telemetry.events import RunStarted
        from ...study.events import JobEnded

        self.query_one(StudyProgress).show(message.event)
        if isinstance(message.event, (RunStarted, JobEnded)):
            self.action_refresh()  # a run has started (its folder is readable now) or ended: list it as it is

    def action_stop_study(self) -> None:
        """Ask, then stop the study: the run in progress saves a checkpoint, finished runs are kept."""
        if not self.study_running:
            self.notify("No study is running.", severity="warning")
            return
        from .modals import QuitWhileTraining

        self.app.push_screen(QuitWhileTraining(study=True), self._stop_answer)

    def _stop_answer(self, choice: str | None) -> None:
        if choice == "stop":
            self._study_cancel.set()
            self.query_one(StudyProgress).stopping()

    async def stop_study(self) -> None:
        """Stop the running study and wait until its run has saved its checkpoint."""
        worker = self.tasks.worker(StudyEnded)
        self._study_cancel.set()
        if worker is not None:
            await worker.wait()

    def _study_ended(self, report) -> None:
        self.query_one(StudyProgress).end()
        self.action_refresh()
        from ...engine.telemetry.notify import Notice
        from ..alerts import announce

        if report.status == "finished":
            shown = next((p for p in report.files if p.suffix == ".md"), report.out_dir)
            announce(self.app, Notice("vit-tui: study finished", f"The study has finished: {shown}"))
        else:
            body = f"The study {report.status}: finished runs are kept in {report.out_dir}; start it again to continue."
            announce(self.app, Notice(f"vit-tui: study {report.status}", body, bad=True))

    def on_datasets_found(self, message: DatasetsFound) -> None:
        self._ask_reproduce(message.result)

    def on_study_ended(self, message: StudyEnded) -> None:
        self._study_ended(message.result)

    def _study_task_failed(self, message: TaskFailed) -> bool:
        """Show a study task's failure (True), or leave the message to the screen (False)."""
        if message.task is StudyEnded:
            self.query_one(StudyProgress).end()
            self.action_refresh()
            self.app.show_failure("The study failed", message.message)
            from ...engine.telemetry.notify import Notice
            from ..alerts import announce

            announce(self.app, Notice("vit-tui: study failed", message.message, bad=True))
            return True
        if message.task is DatasetsFound:
            self.app.show_failure("Cannot list the datasets", message.message)
            return True
        return False


def _progress_events() -> tuple[type, ...]:
    """What the progress line shows; step logs are left out (they come many a second)."""
    from ...engine.telemetry.events import EpochEnded, RunStarted
    from ...study.events import JobEnded, JobStarted, StudyFinished, StudyPhase, StudyStarted

    return (StudyStarted, StudyPhase, JobStarted, JobEnded, StudyFinished, RunStarted, EpochEnded)
