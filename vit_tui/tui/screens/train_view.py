"""The train screen's drawing: how each engine event changes the run's state, bars, table and charts.

Kept apart from the screen's actions and threads so either can be read on its own; the screen
mixes this in and calls ``show_event`` for events from its worker and from followed runs.
"""

from __future__ import annotations

import threading
from pathlib import Path

from ...engine.telemetry.eta import format_eta, run_eta
from ...engine.telemetry.events import (
    CheckpointSaved,
    EpochEnded,
    EvalDone,
    Event,
    PhaseChanged,
    RunFailed,
    RunFinished,
    RunStarted,
    StepsLogged,
)
from ..widgets.plot import ChartView, Series


class TrainView:
    """Event-to-state updates of the train screen (a mixin of ``TrainScreen``).

    What the run is (status, name, counts, rate, history) goes to the app's ``TrainingController``,
    whose watchers redraw the lines; the bars, sparklines, table and charts are fed directly.
    """

    def _begin_view(self, status: str) -> None:
        self._cancel = threading.Event()
        self._detach_requested = False
        self._failure_shown = False
        self.eval_done = None
        self.last_error = ""
        self._pid = 0
        self.training.reset(status)
        self.loss_spark.reset()
        self.acc_spark.reset()
        self.epoch_table.show_history([])
        self.epoch_bar.update(total=1, progress=0)
        self.step_bar.update(total=1, progress=0)
        self._draw_chart()

    def show_event(self, event: Event) -> None:
        """Update the view for one engine event (from the worker or from an events file)."""
        handler = getattr(self, f"_show_{type(event).__name__}", None)
        if handler is not None:
            handler(event)

    def _show_RunStarted(self, event: RunStarted) -> None:  # noqa: N802 - named after the event
        run = self.training
        run.run_dir = Path(event.run_dir)
        run.run_name = event.name
        self._pid = event.pid
        run.device = f"{event.device} · {event.precision} · {event.step_path.split(' (')[0]}"
        history = [row for row in run.history if row.epoch <= event.start_epoch]
        if event.start_epoch and not history:
            history = _history_from_files(run.run_dir, event.start_epoch)
        run.history = history
        self.epoch_table.show_history(history)
        run.epochs = event.epochs
        self.epoch_bar.update(total=event.epochs, progress=event.start_epoch)
        run.epoch = (event.start_epoch, event.epochs)
        self.step_bar.update(total=event.steps_per_epoch, progress=0)
        if self.following:
            if event.started >= self._follow_since - 5.0:
                self._await_new_start = False
            self._set_status("following")
        else:
            self._set_status("training")
        self._draw_chart()
        self._note(
            f"{event.train_images} train / {event.val_images} val images · {', '.join(event.classes)} · "
            f"{event.params:,} parameters"
        )

    def _show_PhaseChanged(self, event: PhaseChanged) -> None:  # noqa: N802
        self._note(f"{event.phase}{': ' + event.detail if event.detail else ''}")

    def _show_StepsLogged(self, event: StepsLogged) -> None:  # noqa: N802
        # The hottest path of the view (up to ~10 times a second while training shares the
        # cores with it): widgets held since compose, and the controller's reactives redraw a
        # line only when its value changes.
        run = self.training
        self.loss_spark.push(event.loss)
        self.acc_spark.push(event.acc)
        self.step_bar.update(total=event.steps_per_epoch, progress=event.step)
        run.step = (event.step, event.steps_per_epoch)
        run.epoch = (event.epoch, run.epochs)
        run.progress = (event.epoch - 1) + event.step / max(1, event.steps_per_epoch)
        self.epoch_bar.update(progress=run.progress)
        run.rate = (event.lr, event.images_per_s or 0.0)

    def _show_EpochEnded(self, event: EpochEnded) -> None:  # noqa: N802
        run = self.training
        run.history = [row for row in run.history if row.epoch < event.epoch] + [event]
        self.epoch_table.show_history(run.history)
        run.progress = float(event.epoch)
        self.epoch_bar.update(total=event.epochs, progress=event.epoch)
        run.epoch = (event.epoch, event.epochs)
        run.rate = (event.lr, event.images_per_s or 0.0)
        self._draw_chart()

    def _show_EvalDone(self, event: EvalDone) -> None:  # noqa: N802
        self.eval_done = event
        self._note(f"evaluated the {event.checkpoint} checkpoint: accuracy {event.accuracy:.1%}")

    def _show_CheckpointSaved(self, event: CheckpointSaved) -> None:  # noqa: N802
        self._note(f"saved the {event.kind} checkpoint (epoch {event.epoch})")

    def _show_RunFinished(self, event: RunFinished) -> None:  # noqa: N802
        self.training.run_dir = Path(event.run_dir)
        self.app.run_dir = self.run_dir
        if self._detach_requested and event.status == "interrupted":
            self._note("checkpoint saved; resuming in its own process…")
            return
        self._announce(event)
        self._set_status(event.status)
        best = f"best val acc {event.best_val_acc:.1%} at epoch {event.best_epoch}" if event.best_epoch else "no epoch"
        hint = "4 evaluates" if event.status == "finished" else "resume it from Runs (5)"
        self._note(f"{event.status}: {event.epochs_done} epochs, {best} · {hint}")

    def _show_RunFailed(self, event: RunFailed) -> None:  # noqa: N802
        if event.run_dir:
            self.training.run_dir = Path(event.run_dir)
        self.last_error = event.message
        self._set_status("failed")
        self._announce(event)
        if not self._failure_shown:
            self._failure_shown = True
            text = event.message + (f"\n{event.hint}" if event.hint else "")
            self.app.show_failure("Training failed", text, self.run_dir)

    def _announce(self, event: Event) -> None:
        """Tell the user of the run's end, unless it was already over in the events file when following began."""
        from ...engine.telemetry.notify import notice_for
        from ..alerts import announce

        replayed = self.following and self._follow_polls == 0
        notice = notice_for(event, self.run_name)
        if notice is not None and not replayed:
            announce(self.app, notice)

    def _set_status(self, status: str) -> None:
        self.training.status = status
        self._draw_status()

    def _draw_status(self) -> None:
        """The status line from the controller's state (its watchers call this as the run changes)."""
        run = self.training
        parts = [f"[b]{run.run_name or 'no run'}[/b]", run.status]
        if run.device:
            parts.append(run.device)
        if run.rate is not None:
            lr, speed = run.rate
            parts.append(f"lr {lr:.2e}")
            parts.append(f"{speed:,.0f} img/s")
        if run.status in ("training", "following"):
            left = run_eta([row.seconds for row in run.history], run.epochs, run.progress)
            if left is not None:  # the whole run's time left (the epoch bar's own ETA is the epoch's)
                parts.append(f"run ETA {format_eta(left)}")
        memory = _gpu_memory(run.device) if self.training_in_app else ""
        if memory:
            parts.append(memory)
        self.status_text = " · ".join(parts)

    def _note(self, text: str) -> None:
        self.note_text = text

    def _draw_chart(self) -> None:
        """The loss chart (or accuracy, after c) and, on wide screens, accuracy beneath it."""
        history = self.training.history
        epochs = [float(row.epoch) for row in history]
        loss = [
            Series("train loss", epochs, [row.train_loss for row in history]),
            Series("val loss", epochs, [row.val_loss for row in history]),
        ]
        acc = [
            Series("train acc", epochs, [row.train_acc for row in history]),
            Series("val acc", epochs, [row.val_acc for row in history]),
        ]
        first = self.query_one("#train-chart", ChartView)
        if self._chart_kind == "loss":
            first.set_series(loss, title="loss by epoch")
        else:
            first.set_series(acc, title="accuracy by epoch")
        self.query_one("#train-acc-chart", ChartView).set_series(acc, title="accuracy by epoch")


def _history_from_files(run_dir: Path, up_to_epoch: int) -> list[EpochEnded]:
    """Epoch rows of a resumed run, read back from its metrics file."""
    from ...engine.runs.folder import RunFolder

    folder = RunFolder(run_dir)
    summary = folder.read_summary()
    rows = [r for r in folder.read_metrics() if r["epoch"] <= up_to_epoch]
    best_epoch = int(summary.get("best_epoch", 0))
    epochs = int(summary.get("epochs", up_to_epoch))
    best_acc = float(summary.get("best_val_acc", 0.0))
    return [
        EpochEnded(
            epoch=r["epoch"], epochs=epochs, train_loss=r["train_loss"], train_acc=r["train_acc"],
            val_loss=r["val_loss"], val_acc=r["val_acc"], lr=r["lr"], seconds=r["seconds"],
            images_per_s=r["images_per_s"], is_best=r["epoch"] == best_epoch, best_epoch=best_epoch,
            best_val_acc=best_acc,
        )
        for r in rows
    ]  # fmt: skip


def _gpu_memory(device: str) -> str:
    """Peak GPU memory of this process, when it trains on CUDA."""
    if not device.startswith("cuda"):
        return ""
    import torch

    if not torch.cuda.is_available():
        return ""
    return f"GPU {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB"
