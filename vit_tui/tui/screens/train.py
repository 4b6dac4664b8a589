"""Train screen (3): start, watch, stop and detach training; follow a detached run live.

Training runs in one thread worker that calls the engine with the bridge sink, so events
reach the screen only as messages. A detached run is followed by polling its events file;
both feed the same ``show_event``, so the view is the same either way. Detached runs are
``train_follow``'s, the drawing ``train_view``'s (mixins); the stylesheet is ``train.tcss``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from pathlib import Path
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.reactive import var
from textual.timer import Timer
from textual.widgets import Label, ProgressBar, Static
from textual.worker import Worker, WorkerCancelled, WorkerFailed

from ...config import RunConfig, field_errors
from ...engine.telemetry.events import (
    EvalDone,
)
from ...engine.train.trainer_slot import running_trainer
from ...errors import UserError
from ..bridge import MessageSink
from ..controllers import app_controller, shown
from ..messages import RunEnd, TrainEvent, TrainingEnded, TrainProgress
from ..widgets.epochs import EpochTable
from ..widgets.footer import FittingFooter
from ..widgets.gpu_facts import GpuFactsLine
from ..widgets.plot import ChartView
from ..widgets.sparkline import LabelledSparkline
from .base import VitScreen
from .train_follow import ENDED, DetachedRuns
from .train_view import TrainView


class TrainScreen(DetachedRuns, TrainView, VitScreen):
    """Live training: progress, sparklines, the per-epoch table and the curves."""

    status_text: var[str] = var("")
    """The status line (set by ``_draw_status``; shown only when it changes)."""
    note_text: var[str] = var("")
    """The note under the charts."""

    CSS_PATH = "train.tcss"
    TITLE = "Train"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("t", "start", "Train"),
        Binding("x", "stop", "Stop"),
        Binding("d", "detach", "Detach"),
        Binding("c", "toggle_chart", "Loss/acc"),
        Binding("s", "app.cycle_smoothing", "Smooth"),
    ]

    def __init__(self) -> None:
        super().__init__(name="train")
        self.last_error = ""
        self.eval_done: EvalDone | None = None
        self._cancel = threading.Event()
        self._detach_requested = False
        """Resume the in-app run detached once its worker has ended; consumed only by ``_worker_ended``."""
        self._worker: Worker | None = None
        """The in-app training worker until its end is taken in (a late end of an earlier start is dropped)."""
        self._detach_job: Worker | None = None
        self._follower = None
        self._follow_timer: Timer | None = None
        self._follow_quiet_s = 0.0
        self._follow_polls = 0
        """Polls of the followed run's events file so far (the first replays what was there before)."""
        self._await_new_start = False
        self._follow_since = 0.0
        self._pid = 0
        self._chart_kind = "loss"
        self._failure_shown = False
        self._detach_pending = False
        # The widgets the hot path feeds, made here so it never looks them up.
        self.loss_spark = LabelledSparkline("loss", id="loss-spark")
        self.acc_spark = LabelledSparkline("acc", fmt="{:.1%}", id="acc-spark")
        self.epoch_bar = ProgressBar(total=1, show_eta=True, id="epoch-bar")
        self.step_bar = ProgressBar(total=1, show_eta=False, id="step-bar")
        self.epoch_table = EpochTable(id="epoch-table")

    def compose(self) -> ComposeResult:
        with Vertical(id="train-top"):
            yield Static("No run yet. Press t to train the config from the Model screen.", id="train-status")
            yield GpuFactsLine(lambda: self.device, id="gpu-facts")
            with Horizontal(classes="bar-row"):
                yield Label("epoch", classes="bar-label")
                yield self.epoch_bar
                yield Label("", id="epoch-count", classes="bar-count")
            with Horizontal(classes="bar-row"):
                yield Label("step", classes="bar-label")
                yield self.step_bar
                yield Label("", id="step-count", classes="bar-count")
            with Horizontal(id="sparks"):
                yield self.loss_spark
                yield self.acc_spark
        with Horizontal(id="train-body"):
            yield self.epoch_table
            with Vertical(id="train-charts"):
                yield ChartView("loss by epoch", id="train-chart")
                yield ChartView("accuracy by epoch", id="train-acc-chart")
        yield Static("", id="train-note", classes="screen-note")
        yield FittingFooter()

    def on_mount(self) -> None:
        run = self.training
        for name in ("status", "run_name", "device", "rate", "progress", "history"):
            self.watch(run, name, self._draw_status, init=False)
        self.watch(run, "epoch", self._draw_epoch_count, init=False)
        self.watch(run, "step", self._draw_step_count, init=False)

    def watch_status_text(self, text: str) -> None:
        self.query_one("#train-status", Static).update(text)

    def watch_note_text(self, text: str) -> None:
        self.query_one("#train-note", Static).update(text)

    def _draw_epoch_count(self, epoch: tuple[int, int] | None) -> None:
        self.query_one("#epoch-count", Label).update(f"{epoch[0]}/{epoch[1]}" if epoch else "")

    def _draw_step_count(self, step: tuple[int, int] | None) -> None:
        self.query_one("#step-count", Label).update(f"{step[0]}/{step[1]}" if step else "")

    # --- state ------------------------------------------------------------------------------

    training = app_controller("training", "The run shown here, as the app's controller holds it.")
    status = shown("training", "status", "idle, starting, training, following (a detached run), or how it ended.")
    run_dir = shown("training", "run_dir", "The folder of the run shown (None until it has one).")
    run_name = shown("training", "run_name", "The run's name.")
    device = shown("training", "device", "Device, precision and step path of the run shown.")
    history = shown("training", "history", "The run's finished epochs.")

    @property
    def training_in_app(self) -> bool:
        """True while a run trains inside this app's worker."""
        return self._worker is not None and self._worker.is_running

    @property
    def finishing_in_app(self) -> bool:
        """The in-app run has reported its end, but its worker still writes (exports, summary, lock)."""
        return self.training_in_app and self.status in ENDED

    @property
    def busy(self) -> bool:
        """Training here, starting a detached run, or following one."""
        return self.training_in_app or self.following or self._detach_pending

    # --- actions ----------------------------------------------------------------------------

    def action_start(self) -> None:
        """Train the current config on the chosen dataset inside the app."""
        if self.busy:
            self.notify("A run is already on; x stops it.", severity="warning")
            return
        other = running_trainer()
        if other is not None:  # an in-app study: two trainers in one process would reseed each other
            self.notify(f"{other} is training in this app; one trainer at a time: stop it or wait for it", severity="warning")
            return
        cfg = self._checked_config()
        if cfg is None:
            return
        self._begin_view("starting")
        sink = MessageSink(self.post_message)
        self._worker = self.tasks.start(TrainingEnded, _train, cfg, self.app.state.runs_root, sink, self._cancel)

    def action_stop(self) -> None:
        """Stop the run; the engine saves a checkpoint so it can be resumed."""
        if self.training_in_app:
            self._cancel.set()
            self._note("stopping after this step; a checkpoint will be saved…")
        elif self.following and self._pid:
            try:
                os.kill(self._pid, signal.SIGINT)
                self._note(f"asked the detached run (pid {self._pid}) to stop and save…")
            except ProcessLookupError:
                self._note("the detached run has already ended")
        else:
            self.notify("Nothing is training.", severity="warning")

    def action_detach(self) -> None:
        """Keep training in a separate process that outlives the app."""
        if self.training_in_app:
            self._detach_requested = True
            self._cancel.set()
            self._note("detaching: saving a checkpoint, then resuming in its own process…")
            return
        if self.following:
            self.notify("This run already trains in its own process.")
            return
        cfg = self._checked_config()
        if cfg is not None:
            self._start_detached(cfg)

    def _checked_config(self) -> RunConfig | None:
        """The config to train, or None (after saying why) while the form has problems."""
        cfg = self.app.state.training_config()
        problems = dict(self.app.state.form_errors)
        for error in field_errors(cfg):
            problems.setdefault(error.field, error.why)
        if problems:
            key, why = next(iter(problems.items()))
            self.notify(f"{key}: {why} (fix it on the Model screen, 2)", severity="error")
            return None
        return cfg

    def action_toggle_chart(self) -> None:
        """Switch the chart between loss and accuracy."""
        self._chart_kind = "acc" if self._chart_kind == "loss" else "loss"
        self._draw_chart()

    async def stop_in_app(self, detach: bool) -> None:
        """Stop the in-app run and wait for its checkpoint; with ``detach``, wait until it runs detached."""
        if not self.training_in_app:
            return
        self._detach_requested = detach
        self._cancel.set()
        await self.wait_for_worker()
        # The detached start itself belongs to _worker_ended; here it is only awaited, so the app
        # does not exit before the run's own process is up.
        if self._detach_pending and self._detach_job is not None:
            with contextlib.suppress(WorkerCancelled, WorkerFailed):
                await self._detach_job.wait()

    async def wait_for_worker(self) -> None:
        """Wait until the in-app worker has returned (exports included) and take in its end."""
        worker = self._worker
        if worker is None:
            return
        with contextlib.suppress(WorkerCancelled, WorkerFailed):
            ended = await worker.wait()
            if isinstance(ended, TrainingEnded):
                self._worker_ended(ended)

    # --- the worker ---------------------------------------------------------------------------

    def on_train_event(self, message: TrainEvent) -> None:
        self.show_event(message.event)

    def on_train_progress(self, message: TrainProgress) -> None:
        self.show_event(message.event)

    def on_training_ended(self, message: TrainingEnded) -> None:
        self._worker_ended(message)

    def _worker_ended(self, ended: TrainingEnded) -> None:
        """Take in the end of the current in-app worker, once, whether its message or a waiter comes first.

        This is the one place that resumes a run detached: the request is consumed here, so the
        run's own process is started once however the stop was asked for.
        """
        if not ended.ticket.current or self._worker is None:
            return  # already taken in, or the end of an earlier run
        self._worker = None
        detach, self._detach_requested = self._detach_requested, False
        if ended.run_dir is not None:
            self.training.run_dir = ended.run_dir
        if ended.status == "failed":
            self._set_status("failed")
            self.last_error = ended.error
            if not self._failure_shown:
                self._failure_shown = True
                self.app.show_failure("Training failed", ended.error, self.run_dir)
            return
        if detach and ended.status == "interrupted" and self.run_dir is not None:
            self.resume_run(self.run_dir)
            return
        self._set_status(ended.status)

def _train(cfg: RunConfig, runs_root: Path, sink: MessageSink, cancel: threading.Event) -> RunEnd:
    """Train in this thread; a failure comes back as the run's end (the app stays up and shows what broke)."""
    from ...engine.train.trainer import train

    # A failure names no folder here: the screen knows this run's folder from its RunStarted, if any.
    try:
        result = train(cfg, sink, cancel, runs_root=runs_root)
        return RunEnd(result.status, Path(result.run_dir))
    except UserError as exc:
        return RunEnd("failed", None, error=str(exc))
    except Exception as exc:
        return RunEnd("failed", None, error=f"{type(exc).__name__}: {exc}")
    finally:
        sink.flush()  # every event before the end
