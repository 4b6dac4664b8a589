"""What a run leaves and how it ends: its checkpoints, its summary, and the endings (finished,
interrupted, failed), for the trainer's loop (``trainer._Runner``) to call.

``RunRecords`` holds no state of its own: the loop sets the session, its state, the run folder,
the sink, the process group and the clocks, and these methods write and report from them.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ...errors import UserError
from ...files import WriteError
from ..device.placement import describe_device
from ..infer.evaluate import EvaluationStopped
from ..parallel.distributed import Group
from ..parallel.launch import LAUNCHER_PID_ENV
from ..runs.checkpoint import WEIGHTS_FORMAT, capture_rng, load_checkpoint
from ..runs.folder import RunFolder, now_iso
from ..telemetry.events import (
    CheckpointSaved,
    EpochEnded,
    EvalDone,
    PhaseChanged,
    RunFailed,
    RunFinished,
    Sink,
    StepsLogged,
)
from .session import Session, SessionState, save_resume_state


@dataclass(frozen=True)
class RunResult:
    """How a run ended. ``message`` and ``hint`` explain a failure."""

    run_dir: Path
    status: str
    best_epoch: int
    best_val_acc: float
    final_val_acc: float
    message: str = ""
    hint: str = ""


class Diverged(Exception):
    """The running loss became NaN or infinite."""


class RunRecords:
    """Saving, the summary and the endings of one run (the state is the loop's: see the module docstring)."""

    s: Session
    state: SessionState
    run_dir: Path
    folder: RunFolder
    sink: Sink
    cancel: threading.Event
    group: Group
    main: bool
    started: float
    clock0: float
    log_mark: tuple[float, int, int, float]
    announced_path: str

    def _stop_wanted(self) -> bool:
        """This process was asked to stop (a signal, the app, the launcher's stop file)."""
        if self.group.stop_requested():
            self.cancel.set()
        return self.cancel.is_set()

    def _stop_agreed(self) -> bool:
        """Some rank was asked to stop; every rank gets the same answer."""
        return self.group.agree(self._stop_wanted())[0]

    def _totals(self) -> tuple[float, int, int]:
        """The running (loss sum, correct, images) of this epoch over all ranks."""
        loss_sum, correct, seen = self.s.step.totals()
        if not self.group.distributed:
            return loss_sum, correct, seen
        loss_sum, correct, seen = self.group.sum([loss_sum, correct, seen])
        return loss_sum, round(correct), round(seen)

    def _log_point(self, now: float) -> None:
        s, st = self.s, self.state
        if s.step_path != self.announced_path:  # e.g. a compile or capture fell back to eager
            self.announced_path = s.step_path
            self.sink(PhaseChanged("training", self.announced_path))
        loss_sum, correct, seen = self._totals()
        prev_loss, prev_correct, prev_seen, prev_time = self.log_mark
        images = seen - prev_seen
        loss = (loss_sum - prev_loss) / max(1, images)
        if not math.isfinite(loss):
            raise Diverged(f"the training loss became {loss} at epoch {st.epoch}, step {st.step}")
        acc = (correct - prev_correct) / max(1, images)
        self.log_mark = (loss_sum, correct, seen, now)
        event = StepsLogged(
            epoch=st.epoch,
            step=st.step,
            steps_per_epoch=s.steps_per_epoch,
            global_step=st.global_step,
            loss=loss,
            acc=acc,
            lr=s.step.lr,
            images_per_s=images / max(1e-9, now - prev_time),
            elapsed_s=self._elapsed(),
        )
        if self.main:
            self.folder.append_step(asdict(event))
        self.sink(event)

    def _end_epoch(self) -> None:
        s, st = self.s, self.state
        loss_sum, correct, seen = self._totals()
        self.sink(PhaseChanged("validating"))
        val = s.validate()
        improved = val.accuracy > st.best_val_acc or st.best_epoch == 0
        if improved:
            st.best_epoch, st.best_val_acc = st.epoch, val.accuracy
        row = {
            "epoch": st.epoch,
            "train_loss": loss_sum / max(1, seen),
            "train_acc": correct / max(1, seen),
            "val_loss": val.loss,
            "val_acc": val.accuracy,
            "lr": s.step.lr,
            "seconds": st.epoch_seconds,
            "images_per_s": seen / max(1e-9, st.epoch_seconds),
        }
        st.history.append(row)
        self.sink(PhaseChanged("saving"))
        st.epoch, st.step, st.perm, st.epoch_seconds = st.epoch + 1, 0, None, 0.0
        s.step.reset()
        # The resume point comes first: if best.pt then fails, the resumed run rewrites it from
        # the same weights (see _repair_best). After the last epoch it lets a run whose exports
        # failed (e.g. a full disk) finish them with --resume; a finished run deletes it.
        self._save_resume(st.epoch - 1)
        if improved:
            self._save_weights("best", st.epoch - 1, val.accuracy)
        if self.main:
            self.folder.write_metrics(st.history)
        self._write_summary("running")
        self.sink(
            EpochEnded(
                epoch=row["epoch"],
                epochs=s.cfg.train.epochs,
                train_loss=row["train_loss"],
                train_acc=row["train_acc"],
                val_loss=row["val_loss"],
                val_acc=row["val_acc"],
                lr=row["lr"],
                seconds=row["seconds"],
                images_per_s=row["images_per_s"],
                is_best=improved,
                best_epoch=st.best_epoch,
                best_val_acc=st.best_val_acc,
            )
        )
        if st.epoch <= s.cfg.train.epochs:
            self.sink(PhaseChanged("training", s.step_path))

    def _save_weights(self, kind: str, epoch: int, val_acc: float) -> None:
        if not self.main:
            return
        path = self.folder.save_weights(kind, self.s.model, self.s.cfg, self.s.classes, epoch, val_acc)
        self.sink(CheckpointSaved(kind=kind, path=str(path), epoch=epoch))

    def _save_resume(self, epoch_done: int) -> None:
        # Collective: every rank's RNG states and the summed running sums go into the one file.
        rngs = self.group.gather(capture_rng(self.s.generators))
        sums = self._totals() if self.group.distributed else None
        if not self.main:
            return
        path = self.folder.weights("resume")
        save_resume_state(self.s, self.state, path, rngs, self._elapsed(), sums)
        self.sink(CheckpointSaved(kind="resume", path=str(path), epoch=epoch_done))

    def _repair_best(self) -> None:
        """Rewrite best.pt when the resume point was saved just after a best epoch but best.pt was not."""
        st = self.state
        if st.best_epoch == 0 or st.best_epoch != st.epoch - 1 or st.step != 0:
            return
        path = self.folder.weights("best")
        try:
            saved_epoch = int(load_checkpoint(path, WEIGHTS_FORMAT).get("epoch", 0))
        except UserError:
            saved_epoch = 0
        if saved_epoch != st.best_epoch:
            self._save_weights("best", st.best_epoch, st.best_val_acc)

    def _elapsed(self) -> float:
        return self.state.wall_before + time.perf_counter() - self.clock0

    def _write_summary(self, status: str, **extra) -> None:
        if self.main:
            self.folder.write_summary(self._summary(status, **extra))

    def _summary(self, status: str, **extra) -> dict:
        s, st = self.s, self.state
        history = st.history
        return {
                "status": status,
                "name": self.run_dir.name,
                "preset": s.cfg.preset,
                "pid": os.getpid(),
                "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started)),
                "started_ts": self.started,
                "updated": now_iso(),
                "dataset": s.cfg.data.dataset,
                "classes": list(s.classes),
                "train_images": len(s.train),
                "val_images": int(s.val_labels.shape[0]),
                "params": s.params,
                "device": self._device_text(),
                "precision": s.precision,
                "step_path": s.step_path,
                "train_data": s.holding.as_dict() if s.holding else {},
                "epochs": s.cfg.train.epochs,
                "epochs_done": len(history),
                "best_epoch": st.best_epoch,
                "best_val_acc": st.best_val_acc,
                "final_val_acc": history[-1]["val_acc"] if history else 0.0,
                "world_size": self.group.world_size,
                **self._launcher(),
            "wall_s": self._elapsed(),
            **extra,
        }

    def _device_text(self) -> str:
        """``cuda:0 NVIDIA H200``, with ``x 8 processes`` under torchrun (rank 0's device named)."""
        text = describe_device(self.s.device)
        return f"{text} x {self.group.world_size} processes" if self.group.distributed else text

    def _launcher(self) -> dict:
        """The pid of ``vit-tui train --nproc-per-node``, which a detached start waits on."""
        pid = os.environ.get(LAUNCHER_PID_ENV, "") if self.group.distributed else ""
        return {"launcher_pid": int(pid)} if pid.isdigit() else {}

    def _result(self, status: str, message: str = "", hint: str = "") -> RunResult:
        st = self.state
        final = st.history[-1]["val_acc"] if st.history else 0.0
        return RunResult(self.run_dir, status, st.best_epoch, st.best_val_acc, final, message, hint)

    def _run_finished(self, status: str) -> None:
        st = self.state
        self.sink(
            RunFinished(
                status=status,
                run_dir=str(self.run_dir),
                epochs_done=len(st.history),
                best_epoch=st.best_epoch,
                best_val_acc=st.best_val_acc,
                final_val_acc=st.history[-1]["val_acc"] if st.history else 0.0,
                wall_s=self._elapsed(),
            )
        )

    def _interrupted(self) -> RunResult:
        self.sink(PhaseChanged("saving", "resumable checkpoint"))
        self._save_resume(len(self.state.history))
        self._write_summary("interrupted")
        if self.state.history and self.main:
            from ..report.report import export_run

            export_run(self.run_dir, evaluate=False)
        self._run_finished("interrupted")
        return self._result("interrupted")

    def _stopped_after_training(self, export: bool) -> RunResult:
        """A stop during the final evaluation or exports: the run ends interrupted, not finished.

        Rank 0 alone is here (the other ranks ended with training), so nothing is saved together:
        the resume point written after the last epoch stays, and ``--resume`` only evaluates and exports.
        """
        self._write_summary("interrupted")
        if export:
            from ..report.report import export_run

            export_run(self.run_dir, evaluate=False)
        self._run_finished("interrupted")
        return self._result("interrupted")

    def _fail(self, message: str, hint: str) -> RunResult:
        self._write_summary("failed", error=message, hint=hint)
        self.sink(RunFailed(run_dir=str(self.run_dir), message=message, hint=hint))
        return self._result("failed", message, hint)

    def _write_failed(self, exc: WriteError) -> WriteError:
        """Mark the run failed (when the disk still lets us) and say how to continue it."""
        resumable = self.folder.weights("resume").is_file()
        why = exc.why
        if resumable and why.endswith("and try again"):
            why = why.removesuffix(" and try again") + f", then continue with: vit-tui train --resume {self.run_dir}"
        hint = f"vit-tui train --resume {self.run_dir}" if resumable else ""
        with contextlib.suppress(OSError):
            self._write_summary("failed", error=f"{exc.subject}: {exc.why}", hint=hint)
        with contextlib.suppress(OSError):
            self.sink(RunFailed(run_dir=str(self.run_dir), message=f"{exc.subject}: {exc.why}", hint=hint))
        return WriteError(exc.subject, why, exc.errno)

    def _finish(self) -> RunResult:
        from ..infer.metrics import save_evaluation
        from ..report.report import export_run

        s, st = self.s, self.state
        keep = s.cfg.train.keep
        self._save_weights("last", len(st.history), st.history[-1]["val_acc"])
        if self._stop_agreed():  # stopped after the last step: resume.pt lets --resume evaluate
            return self._interrupted()
        if not self.main:
            return self._result("finished")  # rank 0 scores the kept checkpoint on the whole split
        self.sink(PhaseChanged("evaluating", f"{keep} checkpoint on the validation split"))
        try:
            evaluation, epoch = s.final_evaluation(self.folder.weights(keep), stop=self._stop_wanted)
        except EvaluationStopped:
            return self._stopped_after_training(export=True)
        save_evaluation(self.run_dir, evaluation, {"checkpoint": keep, "epoch": epoch})
        self.sink(
            EvalDone(
                checkpoint=keep,
                accuracy=evaluation.accuracy,
                loss=evaluation.loss,
                classes=tuple(evaluation.classes),
                confusion=tuple(tuple(int(v) for v in row) for row in evaluation.confusion.tolist()),
            )
        )
        # The summary says finished only once the exports exist: a full disk here leaves the run
        # resumable (resume.pt is kept until then) instead of "finished" without its report.
        summary = self._summary("finished", eval_accuracy=evaluation.accuracy, eval_checkpoint=keep)
        self.sink(PhaseChanged("exporting", "report, curves and confusion matrix"))
        export_run(self.run_dir, summary=summary)
        if self._stop_wanted():  # asked during the exports: not finished, --resume evaluates again
            return self._stopped_after_training(export=False)
        self.folder.write_summary(summary)
        self.folder.weights("resume").unlink(missing_ok=True)
        self._run_finished("finished")
        return self._result("finished")


def number_or(value: object, default: float) -> float:
    """A number from a summary field, or ``default`` when it is missing or not a number."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default
