"""The train screen's runs in their own process: started or resumed detached, then followed live.

A mixin of ``TrainScreen``: the run's events file is polled as it grows and each event goes to
the same ``show_event`` the in-app worker feeds; a run that stays quiet has its status read from
its files, in a worker.
"""

from __future__ import annotations

import time
from pathlib import Path

from ...config import RunConfig
from ..tasks import TaskFailed, TaskResult

FOLLOW_INTERVAL_S = 0.25
FOLLOW_GIVE_UP_S = 60.0
ENDED = ("finished", "interrupted", "failed")


class DetachedStarted(TaskResult[Path]):
    """The folder of a run just started (or resumed) in its own process."""


class FollowChecked(TaskResult[tuple]):
    """(the followed run's folder, its status as its files say)."""


class DetachedRuns:
    """Starting, resuming and following a run in its own process (a mixin of ``TrainScreen``)."""

    def start_processes(self, processes: int) -> None:
        """Train the current config data-parallel in ``processes`` processes under torchrun, detached, and follow it."""
        if self.busy:
            self.notify("A run is already on; x stops it.", severity="warning")
            return
        cfg = self._checked_config()
        if cfg is not None:
            self._start_detached(cfg, processes=processes)

    def _start_detached(self, cfg: RunConfig, resume: Path | None = None, processes: int = 1) -> None:
        """Start (or resume) a run in its own process from a worker, then follow it."""
        if self._detach_pending:
            return
        self._detach_pending = True
        self._set_status("starting")
        self._note(
            "starting the run in its own process…" if resume is None else f"resuming {resume.name} in its own process…"
        )
        if processes > 1:
            self._note(f"starting the run in {processes} processes under torchrun…")
        self._detach_job = self.tasks.start(
            DetachedStarted, _start_process, cfg, self.app.state.runs_root, resume, processes, run_dir=resume
        )

    def on_follow_checked(self, message: FollowChecked) -> None:
        self._follow_checked(*message.result)

    def on_detached_started(self, message: DetachedStarted) -> None:
        self._detach_pending = False
        self.follow(message.result, fresh=True)

    def on_task_failed(self, message: TaskFailed) -> None:
        if message.task is DetachedStarted:
            self._detach_pending = False
            self._set_status("failed")
            self._note("the detached run did not start")
            self.app.show_failure("Could not start the detached run", message.message, message.run_dir)

    def resume_run(self, run_dir: Path) -> None:
        """Continue an interrupted run in its own process and follow it."""
        from ...engine.runs.folder import RunFolder

        self._start_detached(RunFolder(run_dir).read_config(), resume=run_dir)

    def follow(self, run_dir: Path, fresh: bool = True) -> None:
        """Show a run that trains in another process by reading its events file as it grows.

        ``fresh`` says the process was only just started (or restarted to resume): an end seen
        in the events file before its new start belongs to an earlier process and is not final.
        """
        from ...engine.runs.folder import RunFolder

        self.stop_following()
        self._begin_view("following")
        self.training.run_dir = run_dir
        self.training.run_name = run_dir.name
        self._follower = RunFolder(run_dir).follow()
        self._follow_quiet_s = 0.0
        self._follow_polls = 0
        self._await_new_start = fresh
        self._follow_since = time.time()
        self._follow_timer = self.set_interval(FOLLOW_INTERVAL_S, self._poll_follower)
        self._note(f"following {run_dir.name} (its own process; x asks it to stop)")
        self._poll_follower()

    @property
    def following(self) -> bool:
        """True while a detached run's events file is being followed."""
        return self._follow_timer is not None

    def stop_following(self) -> None:
        """Stop polling a detached run (the run itself goes on)."""
        if self._follow_timer is not None:
            self._follow_timer.stop()
            self._follow_timer = None
        self._follower = None

    def _poll_follower(self) -> None:
        if self._follower is None:
            return
        events = self._follower.poll()
        for event in events:
            self.show_event(event)
        self._follow_polls += 1
        if self.status in ENDED and not self._await_new_start:
            self.stop_following()
            return
        self._follow_quiet_s = 0.0 if events else self._follow_quiet_s + FOLLOW_INTERVAL_S
        if not events and self._follow_quiet_s >= 2.0:
            self._check_follow_alive()

    def _check_follow_alive(self) -> None:
        if self.run_dir is None:
            return
        if self._await_new_start:
            if self._follow_quiet_s >= FOLLOW_GIVE_UP_S:
                self._set_status("failed")
                self._note("the detached run did not start; see events.jsonl and summary.json in its folder")
                self.stop_following()
            return
        if not self.tasks.busy(FollowChecked):
            self.tasks.start(FollowChecked, _run_status, self.run_dir, run_dir=self.run_dir)

    def _follow_checked(self, run_dir: Path, status: str) -> None:
        """The followed run's status as its files say (read in a worker); an ended one stops the following."""
        if not self.following or run_dir != self.run_dir or self._await_new_start:
            return
        if status in ENDED:
            self._set_status(status)
            self._note(f"the run's process has ended ({status})")
            self.stop_following()

    def on_unmount(self) -> None:
        self._cancel.set()
        self.stop_following()


def _run_status(run_dir: Path) -> tuple[Path, str]:
    """(run_dir, its status from summary.json and its lock; "" before it has one)."""
    from ...engine.runs.folder import RunFolder

    folder = RunFolder(run_dir)
    summary = folder.read_summary()
    return run_dir, folder.effective_status(summary) if summary else ""


def _start_process(cfg: RunConfig, runs_root: Path, resume: Path | None, processes: int = 1) -> Path:
    """Start (or resume) a run in its own process (``processes`` > 1: under torchrun); its folder."""
    from ...engine.parallel.detach import start_detached
    from ...engine.parallel.launch import Launch

    launch = Launch(nproc_per_node=processes) if processes > 1 else None
    return Path(start_detached(cfg, runs_root=runs_root, resume=resume, launch=launch))
