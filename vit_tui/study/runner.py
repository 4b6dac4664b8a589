"""Run a study's jobs: finished runs are kept, interrupted ones resumed, the rest (re)started.

With one device the runs train one after another in this process through the engine's ``train``.
With several (``devices``, e.g. every visible GPU) each device takes the next waiting run in a
``vit-tui train`` process of its own pinned to that device, and its events are read back from the
run's ``events.jsonl``. ``cancel`` stops the study: the running runs save resumable checkpoints.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .. import config as config_mod
from ..errors import UserError
from ..files import write_text
from ..locks import BusyError
from ..run_layout import STUDY_LOG, STUDY_MARKER
from .events import JobEnded, JobStarted, StudyStarted
from .plan import Job, StudyPlan, belongs_to, claim_out_dir, marker_record, read_marker

Sink = Callable[[object], None]
POLL_S = 0.2
KEPT_STATUSES = ("finished", "failed")
"""A failed run (diverged, out of memory) is a result of its combination too: rerunning repeats it."""


@dataclass(frozen=True)
class StudyOutcome:
    """How the runs went: finished when every run ended, else interrupted."""

    status: str
    statuses: dict[str, str]


def job_action(plan: StudyPlan, job: Job) -> str:
    """keep, resume, restart or new, for ``job`` as its folder stands now."""
    from ..engine.runs.folder import RunFolder

    run_dir = plan.run_dir(job)
    if not run_dir.exists():
        return "new"
    if not belongs_to(read_marker(run_dir), plan):
        raise UserError(
            str(run_dir),
            f"exists and is no run of this {plan.kind}; move it away or choose another --out",
        )
    folder = RunFolder(run_dir)
    pid = folder.training_pid()
    if pid is not None and pid != os.getpid():
        raise BusyError(str(run_dir), pid, "training it")
    summary, problem = folder.load_summary()
    status = folder.effective_status(summary) if summary and not problem else ""
    if status in KEPT_STATUSES:
        return "keep"
    if folder.is_run() and folder.weights("resume").is_file() and not problem:
        return "resume"
    return "restart"


def default_devices(plan: StudyPlan) -> list[str]:
    """One slot per visible GPU when the runs ask for ``auto`` and there are several; else one."""
    if any(job.cfg.train.device != "auto" for job in plan.jobs):
        return [""]
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    return [f"cuda:{i}" for i in range(count)] if count > 1 else [""]


def run_study(
    plan: StudyPlan,
    sink: Sink,
    cancel: threading.Event | None = None,
    devices: Sequence[str] | None = None,
) -> StudyOutcome:
    """Bring every run of ``plan`` to an end; engine and study events go to ``sink``."""
    from ..engine.train.trainer_slot import TRAINER_SLOT

    # The whole study holds the process's training slot: the app's Train screen cannot start between its runs.
    with TRAINER_SLOT.hold(f"study {plan.name}"):
        return _run_study(plan, sink, cancel or threading.Event(), devices)


def _run_study(
    plan: StudyPlan, sink: Sink, cancel: threading.Event, devices: Sequence[str] | None
) -> StudyOutcome:
    claim_out_dir(plan)
    actions = {job.name: job_action(plan, job) for job in plan.jobs}
    slots = list(devices) if devices else default_devices(plan)
    total = len(plan.jobs)
    kept = sum(1 for a in actions.values() if a == "keep")
    sink(StudyStarted(plan.kind, plan.name, str(plan.out_dir), total, kept, tuple(d or "auto" for d in slots)))
    statuses: dict[str, str] = {}
    waiting: list[tuple[int, Job]] = []
    for index, job in enumerate(plan.jobs, start=1):
        if actions[job.name] == "keep":
            statuses[job.name] = _report_kept(plan, job, index, total, sink)
        else:
            waiting.append((index, job))
    if len(slots) > 1:
        statuses.update(_run_parallel(plan, waiting, actions, slots, sink, cancel))
    else:
        statuses.update(_run_here(plan, waiting, actions, slots[0], sink, cancel))
    done = len(statuses) == total and all(s in KEPT_STATUSES for s in statuses.values())
    return StudyOutcome("finished" if done else "interrupted", statuses)


def _report_kept(plan: StudyPlan, job: Job, index: int, total: int, sink: Sink) -> str:
    from ..engine.runs.folder import RunFolder

    summary = RunFolder(plan.run_dir(job)).read_summary()
    status = str(summary.get("status", "finished"))
    best = float(summary.get("best_val_acc", 0.0))
    sink(JobEnded(index, total, str(plan.run_dir(job)), job.label, job.seed, status, best, "keep"))
    return status


def _prepare(plan: StudyPlan, job: Job, action: str, device: str) -> config_mod.RunConfig:
    """Clear a run that cannot continue and reserve a new folder (with its marker); the run's config."""
    from ..engine.runs.folder import RunFolder

    cfg = config_mod.with_value(job.cfg, "train.device", device) if device else job.cfg
    run_dir = plan.run_dir(job)
    if action == "restart":
        shutil.rmtree(run_dir)  # job_action checked the folder is this study's own run
    if action in ("new", "restart"):
        folder = RunFolder.reserve(plan.runs_root, job.name, cfg)
        write_text(folder.file(STUDY_MARKER), json.dumps(marker_record(plan, job), indent=2) + "\n", mkdir=False)
    return cfg


def _run_here(
    plan: StudyPlan,
    waiting: list[tuple[int, Job]],
    actions: dict[str, str],
    device: str,
    sink: Sink,
    cancel: threading.Event,
) -> dict[str, str]:
    from ..engine.train.trainer import train

    statuses: dict[str, str] = {}
    for index, job in waiting:
        if cancel.is_set():
            break
        action = actions[job.name]
        cfg = _prepare(plan, job, action, device)
        run_dir = plan.run_dir(job)
        sink(JobStarted(index, len(plan.jobs), str(run_dir), job.label, job.seed, action, device or "auto"))
        if action == "resume":
            result = train(cfg, sink, cancel, resume=run_dir)
        else:
            result = train(cfg, sink, cancel, runs_root=plan.runs_root, name=job.name)
        statuses[job.name] = result.status
        sink(JobEnded(index, len(plan.jobs), str(run_dir), job.label, job.seed, result.status,
                      result.best_val_acc, action))
    return statuses


def _run_parallel(
    plan: StudyPlan,
    waiting: list[tuple[int, Job]],
    actions: dict[str, str],
    devices: Sequence[str],
    sink: Sink,
    cancel: threading.Event,
) -> dict[str, str]:
    """One worker thread per device, each running ``vit-tui train`` processes pinned to its device."""
    todo: queue.Queue[tuple[int, Job]] = queue.Queue()
    for item in waiting:
        todo.put(item)
    lock = threading.Lock()
    statuses: dict[str, str] = {}
    errors: list[BaseException] = []

    def locked_sink(event: object) -> None:
        with lock:
            sink(event)

    def worker(device: str) -> None:
        while not cancel.is_set() and not errors:
            try:
                index, job = todo.get_nowait()
            except queue.Empty:
                return
            try:
                status = _run_child(plan, job, index, actions[job.name], device, locked_sink, cancel)
            except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
                errors.append(exc)
                cancel.set()
                return
            with lock:
                statuses[job.name] = status

    threads = [threading.Thread(target=worker, args=(d,), daemon=True) for d in devices]
    for thread in threads:
        thread.start()
    for thread in threads:
        while thread.is_alive():
            thread.join(POLL_S)
    if errors:
        raise errors[0]
    return statuses


def _run_child(
    plan: StudyPlan, job: Job, index: int, action: str, device: str, sink: Sink, cancel: threading.Event
) -> str:
    from ..engine.parallel.detach import start_child
    from ..engine.runs.folder import RunFolder

    cfg = _prepare(plan, job, action, device)
    run_dir = plan.run_dir(job)
    folder = RunFolder(run_dir)
    if action == "resume":
        command = ["train", "--resume", str(run_dir), "--set", f"train.device={device}"]
    else:
        folder.save_config(cfg)
        command = ["train", "--config", str(folder.config_path), "--out", str(run_dir)]
    command += ["--data", cfg.data.dataset]
    sink(JobStarted(index, len(plan.jobs), str(run_dir), job.label, job.seed, action, device))
    follower = folder.follow()
    child = start_child(command, folder.file(STUDY_LOG))  # a Ctrl+C reaches it once, through ``cancel``
    stopping = False
    while child.poll() is None:
        if cancel.is_set() and not stopping:
            child.send_signal(signal.SIGINT)
            stopping = True
        for event in follower.poll():
            sink(event)
        time.sleep(POLL_S)
    for event in follower.poll():
        sink(event)
    summary = folder.read_summary()
    status = str(summary.get("status", "failed")) if child.returncode in (0, 1, 130) else "failed"
    if child.returncode == 2:
        from ..engine.parallel.detach import last_error_line

        raise UserError(str(run_dir), last_error_line(folder.file(STUDY_LOG)) or "the training process refused its input")
    sink(JobEnded(index, len(plan.jobs), str(run_dir), job.label, job.seed, status,
                  float(summary.get("best_val_acc", 0.0)), action))
    return status

