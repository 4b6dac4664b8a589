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

import os
import threading
import time
from pathlib import Path

import torch

from ...config import RunConfig, validate
from ...errors import UserError
from ...files import WriteError
from ...locks import FolderLock
from ..device.placement import is_out_of_memory, resolve_device
from ..parallel.distributed import Group, join_group, rank_slice
from ..parallel.launch import check_batch_divisible, ranks_from_env
from ..runs.folder import RunFolder
from ..telemetry.events import (
    PhaseChanged,
    RunStarted,
    Sink,
    null_sink,
)
from ..telemetry.sinks import TeeSink
from ..telemetry.trackers import open_trackers
from .records import Diverged, RunRecords, RunResult, number_or
from .session import Session, build_session
from .trainer_slot import TRAINER_SLOT

LOG_INTERVAL_S = 0.1

__all__ = ["LOG_INTERVAL_S", "RunResult", "train"]


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
        if group.is_main:
            lock, resume_data = _check_target(cfg, runs_root, name, resume_dir)
        resume_data = group.share(resume_data)
        session = _build(cfg, sink, resume_data, group)
        run_dir = None
        if group.is_main:
            run_dir, lock = _open_folder(cfg, runs_root, name, resume_dir, session, lock)
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


def _check_target(
    cfg: RunConfig, runs_root: str | os.PathLike, name: str | None, resume_dir: Path | None
) -> tuple[FolderLock | None, dict | None]:
    """Before anything is built: a new run's name is free, or the resumed run is locked and may continue."""
    if resume_dir is None:
        RunFolder.check_new(runs_root, name)
        return None, None
    resumed = RunFolder(resume_dir)
    resumed.check_resume_target()  # a folder that is no run gets its own message, not a lock file
    # One writer per run: a second trainer stops here, before it reads or writes anything.
    lock = resumed.lock().acquire()
    try:
        return lock, resumed.check_resumable(cfg)
    except BaseException:
        lock.release()
        raise


def _open_folder(
    cfg: RunConfig,
    runs_root: str | os.PathLike,
    name: str | None,
    resume_dir: Path | None,
    session: Session,
    lock: FolderLock | None,
) -> tuple[Path, FolderLock | None]:
    """The run folder once the session is built: a new one made and locked, or the resumed one's replayed
    events dropped."""
    if resume_dir is None:
        created = RunFolder.create(runs_root, name, cfg)
        return created.path, created.lock().acquire()
    RunFolder(resume_dir).truncate_events(session.state)
    return resume_dir, lock


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


class _Runner(RunRecords):
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
        except Diverged as exc:
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
            self.started = number_or(self.folder.read_summary().get("started_ts"), self.started)
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

    def _compiled(self, since: float) -> None:
        """Report how long the first (compiling) step took; once per run."""
        self.compiling = False
        if self.s.device.type == "cuda":
            torch.cuda.synchronize(self.s.device)
        seconds = time.perf_counter() - since
        self.sink(PhaseChanged("warm-up done", f"first step with compilation took {seconds:.1f} s"))
