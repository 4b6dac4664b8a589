"""``train(cfg, sink, cancel)``: one training run from config to finished run folder.

Everything that can be wrong with the input (config, dataset, device, a resume checkpoint of
another shape) is checked before the run folder exists and raised as a ``UserError``. Then the
loop runs (the training data resident on the device, or streamed: see ``batches``), reading the
device-side running sums once per log point (at most ``LOG_INTERVAL_S`` apart, and at each
epoch's end). ``cancel`` is checked before every step, and between the batches of the final
evaluation and after its exports; when set, the run keeps a resumable checkpoint and ends "interrupted".
A NaN/inf loss or running out of memory ends it "failed" with a hint. A file that cannot be
written (a full disk) ends it "failed" too, keeping the last resume point, and raises a one-line
``WriteError`` naming the file and how to continue.

Under torchrun every rank runs this loop on its slice of each global batch (see
``distributed``); the ranks agree before every step on stopping and logging, the running sums
and validation metrics are summed over ranks, and rank 0 alone writes the run folder.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ...config import RunConfig, validate
from ...errors import UserError
from ...files import WriteError
from ..device.placement import describe_device, is_out_of_memory, resolve_device
from ..infer.evaluate import EvaluationStopped
from ..parallel.distributed import Group, join_group, rank_slice
from ..parallel.launch import LAUNCHER_PID_ENV, check_batch_divisible, ranks_from_env
from ..runs.checkpoint import WEIGHTS_FORMAT, capture_rng, load_checkpoint
from ..runs.folder import RunFolder, now_iso
from ..telemetry.events import (
    CheckpointSaved,
    EpochEnded,
    EvalDone,
    PhaseChanged,
    RunFailed,
    RunFinished,
    RunStarted,
    Sink,
    StepsLogged,
    null_sink,
)
from ..telemetry.sinks import TeeSink
from ..telemetry.trackers import open_trackers
from .session import Session, build_session, save_resume_state
from .trainer_slot import TRAINER_SLOT

LOG_INTERVAL_S = 0.1

__all__ = ["LOG_INTERVAL_S", "RunResult", "train"]


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


class _Diverged(Exception):
    """The running loss became NaN or infinite."""


def train(
    cfg: RunConfig,
    sink: Sink = null_sink,
    cancel: threading.Event | None = None,
    *,
    runs_root: str | os.PathLike = "runs",
    name: str | None = None,
    resume: str | os.PathLike | None = None,
) -> RunResult:
    """Train ``cfg`` into a new run folder under ``runs_root`` (or continue ``resume`` in place).

    Under torchrun (RANK and WORLD_SIZE set) this is one rank of a data-parallel run: rank 0
    checks, locks and writes the run folder and hands the resume state to the others. One run
    trains per process at a time (see ``trainer_slot``): a second one from another thread is a
    ``UserError`` naming the first.
    """
    clock0 = time.perf_counter()
    cfg = validate(cfg)
    label = f"run {Path(resume).name}" if resume is not None else f"run {name}" if name else "a new run"
    with TRAINER_SLOT.hold(label):
        return _train(cfg, sink, cancel, runs_root, name, resume, clock0)


def _train(
    cfg: RunConfig,
    sink: Sink,
    cancel: threading.Event | None,
    runs_root: str | os.PathLike,
    name: str | None,
    resume: str | os.PathLike | None,
    clock0: float,
) -> RunResult:
    ranks = ranks_from_env()
    check_batch_divisible(cfg.train.batch_size, ranks.world_size)
    cancel = cancel or threading.Event()
    resume_dir = Path(resume) if resume is not None else None
    group = join_group(ranks, resolve_device(cfg.train.device))
    lock = None
    try:
        if not group.is_main:
            sink = null_sink  # rank 0 reports for all
        resume_data = None
        if group.is_main and resume_dir is not None:
            resumed = RunFolder(resume_dir)
            resumed.check_resume_target()  # a folder that is no run gets its own message, not a lock file
            # One writer per run: a second trainer stops here, before it reads or writes anything.
            lock = resumed.lock().acquire()
            resume_data = resumed.check_resumable(cfg)
        elif group.is_main:
            RunFolder.check_new(runs_root, name)
        resume_data = group.share(resume_data)
        session = _build(cfg, sink, resume_data, group)
        run_dir = None
        if group.is_main and resume_dir is None:
            created = RunFolder.create(runs_root, name, cfg)
            lock = created.lock().acquire()
            run_dir = created.path
        elif group.is_main:
            run_dir = resume_dir
            RunFolder(run_dir).truncate_events(session.state)
        run_dir = Path(group.share(str(run_dir)))
        folder = RunFolder(run_dir)
        TRAINER_SLOT.rename(f"run {run_dir.name}")
        files = folder.events_sink() if group.is_main else None
        out = TeeSink(files, sink)
        # Their warnings go to the file and the caller; rank 0 alone feeds them.
        trackers = open_trackers(run_dir, cfg, warn=out, figures=folder.report_figures()) if group.is_main else None
        runner = _Runner(session, run_dir, TeeSink(out, trackers), cancel, clock0)
        try:
            result = runner.run(resume_data is not None)
            group.barrier()
            return result
        finally:
            if trackers is not None:
                trackers.close()
            session.train.close()
            if files is not None:
                files.close()
            session = runner = None  # the model and data go now, so their cached blocks can be returned
    finally:
        if lock is not None:
            lock.release()
        group.close()
        release_cached_memory(group.device)


def release_cached_memory(device: torch.device) -> None:
    """Give the allocator's cached blocks back to the driver after a run.

    In the app the process lives on: without this the next run's ``auto`` budget and NVML count the
    finished run's blocks as used.
    """
    if device.type == "cuda" and torch.cuda.is_initialized():
        torch.cuda.empty_cache()


def _build(cfg: RunConfig, sink: Sink, resume_data: dict | None, group: Group) -> Session:
    try:
        return build_session(cfg, sink, resume_data, group)
    except Exception as exc:
        if not is_out_of_memory(exc):
            raise
        raise UserError(
            "train.device",
            f"the data and model do not fit in {cfg.train.device} memory; use a smaller model or dataset",
        ) from None


class _Runner:
    """The loop of one run and the bookkeeping around it."""

    def __init__(self, session: Session, run_dir: Path, sink: Sink, cancel: threading.Event, clock0: float) -> None:
        self.s = session
        self.run_dir = run_dir
        self.folder = RunFolder(run_dir)
        self.sink = sink
        self.cancel = cancel
        self.state = session.state
        self.started = time.time()
        self.clock0 = clock0
        self.log_mark = (0.0, 0, 0, self.clock0)
        self.announced_path = session.step_path
        self.compiling = session.step.path == "compiled"
        self.group = session.group
        self.main = session.group.is_main
        """Whether this process writes the run folder (rank 0, or the only process)."""

    # --- top level ---------------------------------------------------------------------------

    def run(self, resuming: bool) -> RunResult:
        try:
            return self._run(resuming)
        except WriteError as exc:
            raise self._write_failed(exc) from None

    def _run(self, resuming: bool) -> RunResult:
        s, cfg = self.s, self.s.cfg
        if self.main:
            self._open_run_files(resuming)
        self.sink(
            RunStarted(
                run_dir=str(self.run_dir),
                name=self.run_dir.name,
                preset=cfg.preset,
                classes=tuple(s.classes),
                epochs=cfg.train.epochs,
                start_epoch=self.state.epoch,
                steps_per_epoch=s.steps_per_epoch,
                train_images=len(s.train),
                val_images=int(s.val_labels.shape[0]),
                params=s.params,
                device=self._device_text(),
                precision=s.precision,
                step_path=s.step_path,
                pid=os.getpid(),
                started=self.started,
            )
        )
        try:
            return self._finish() if self._loop() else self._interrupted()
        except _Diverged as exc:
            return self._fail(str(exc), f"lower train.lr (now {cfg.train.lr:g}) or set train.grad_clip")
        except WriteError:
            raise
        except KeyboardInterrupt:
            self._write_summary("interrupted")
            raise
        except Exception as exc:
            if is_out_of_memory(exc):
                smaller = max(1, cfg.train.batch_size // 2)
                return self._fail(
                    f"{s.device.type} ran out of memory at batch size {cfg.train.batch_size}",
                    f"use a smaller batch, e.g. --set train.batch_size={smaller} (or a lower train.eval_batch_size)",
                )
            self._fail(f"{type(exc).__name__}: {exc}", "")
            raise

    def _open_run_files(self, resuming: bool) -> None:
        if resuming:
            self.folder.truncate_steps(self.state.global_step)
            self.started = _number(self.folder.read_summary().get("started_ts"), self.started)
            self._repair_best()
        self.folder.save_config(self.s.cfg)
        self.folder.write_metrics(self.state.history)
        self._write_summary("running")

    def _loop(self) -> bool:
        s, st = self.s, self.state
        epochs = s.cfg.train.epochs
        self.sink(PhaseChanged("training", s.step_path))
        while st.epoch <= epochs:
            if st.perm is None:
                st.perm = torch.randperm(len(s.train), generator=s.perm_gen).to(s.train.index_device)
            if not self._train_epoch():
                return False
            self._end_epoch()
        return True

    # --- one epoch ---------------------------------------------------------------------------

    def _train_epoch(self) -> bool:
        s, st, g = self.s, self.state, self.group
        batch = s.rank_batch_size
        order = rank_slice(st.perm, g.rank, g.world_size, s.batch_size)
        step_fn = s.step
        last_log = time.perf_counter()
        epoch_clock = last_log - st.epoch_seconds
        loss_sum, correct, seen = self._totals()
        self.log_mark = (loss_sum, correct, seen, last_log)
        unlogged = 0
        while st.step < s.steps_per_epoch:
            # Decided together: every rank logs (a collective) and stops at the same step.
            log_due = unlogged > 0 and time.perf_counter() - last_log >= LOG_INTERVAL_S
            stop, log_due = g.agree(self._stop_wanted(), log_due)
            if log_due:
                self._log_point(time.perf_counter())
                last_log, unlogged = time.perf_counter(), 0
            if stop:
                st.epoch_seconds = time.perf_counter() - epoch_clock
                return False
            step_fn(order[st.step * batch : (st.step + 1) * batch])
            if st.step + 1 < s.steps_per_epoch:  # a streamed split gathers the next batch while this one computes
                s.train.prefetch(order[(st.step + 1) * batch : (st.step + 2) * batch])
            st.step += 1
            st.global_step += 1
            unlogged += 1
            if self.compiling:
                self._compiled(since=last_log)
        if unlogged:
            self._log_point(time.perf_counter())
        st.epoch_seconds = time.perf_counter() - epoch_clock
        return True

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

    def _compiled(self, since: float) -> None:
        """Report how long the first (compiling) step took; once per run."""
        self.compiling = False
        if self.s.device.type == "cuda":
            torch.cuda.synchronize(self.s.device)
        seconds = time.perf_counter() - since
        self.sink(PhaseChanged("warm-up done", f"first step with compilation took {seconds:.1f} s"))

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
            raise _Diverged(f"the training loss became {loss} at epoch {st.epoch}, step {st.step}")
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

    # --- saving ------------------------------------------------------------------------------

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

    # --- endings -----------------------------------------------------------------------------

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


def _number(value: object, default: float) -> float:
    """A number from a summary field, or ``default`` when it is missing or not a number."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default
