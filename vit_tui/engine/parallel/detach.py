"""Start a training run in its own session, so it outlives the terminal (and an SSH drop).

``start_detached`` reserves the run folder, starts ``python -m vit_tui train`` in a new session
with its output in ``<run>/train.log``, and returns once the run has started (or raises the
child's one-line error). Follow it with ``vit-tui attach <run>`` or the app's runs screen.
With a ``Launch`` of several processes the child is the torchrun launcher
(``vit-tui train --nproc-per-node N``) and rank 0 names it in the summary.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from ... import config as config_mod
from ...config import RunConfig, validate
from ...errors import UserError
from ...run_layout import TRAIN_LOG
from ..runs.folder import RunFolder
from .launch import Launch, check_launch

START_TIMEOUT_S = 120.0


def start_detached(
    cfg: RunConfig,
    *,
    runs_root: str | os.PathLike = "runs",
    name: str | None = None,
    resume: str | os.PathLike | None = None,
    launch: Launch | None = None,
) -> Path:
    """Start ``cfg`` training in a detached process; return its run folder once it is running.

    ``launch`` (e.g. ``Launch(nproc_per_node=visible_devices())``) trains data-parallel under torchrun.
    """
    cfg = validate(cfg)
    if launch is not None:
        check_launch(launch, cfg.train.device, cfg.train.batch_size)
    from ...data.store import read_manifest

    read_manifest(cfg.data.dataset)  # a missing dataset is reported here, not in a log file
    if resume is not None:
        folder = RunFolder(resume)
        _check_resume_target(folder, cfg)
        # The child resumes with the run's config.toml, so this config (e.g. more epochs) goes there.
        folder.save_config(cfg)
        command = ["train", "--resume", str(folder.path), "--data", cfg.data.dataset]
        reserved = False
    else:
        folder = RunFolder.reserve(runs_root, name, cfg)
        folder.save_config(cfg)
        command = ["train", "--config", str(folder.config_path), "--out", str(folder.path), "--data", cfg.data.dataset]
        reserved = True
    if launch is not None:
        command += _launch_options(launch)
    previous_pid = int(folder.read_summary().get("pid", 0))
    child = start_child(command, folder.file(TRAIN_LOG), env={**os.environ, "PYTHONUNBUFFERED": "1"})
    _wait_until_started(child, folder, previous_pid, reserved)
    return folder.path


def _launch_options(launch: Launch) -> list[str]:
    """The ``train`` options that make the child start ``launch`` through torchrun."""
    options = ["--nproc-per-node", str(launch.nproc_per_node)]
    if launch.nnodes > 1 or launch.rdzv_endpoint:
        options += ["--nnodes", str(launch.nnodes), "--node-rank", str(launch.node_rank)]
        options += ["--rdzv-endpoint", launch.rdzv_endpoint]
    return options


def _check_resume_target(folder: RunFolder, cfg: RunConfig) -> None:
    folder.check_resume_target()
    if config_mod.load(folder.config_path).model != cfg.model:
        raise UserError(str(folder.path), "a resumed run keeps its model; change only training settings")
    # The same checks the child makes, here, before this config replaces the run's config.toml.
    folder.check_resumable(cfg)


def _wait_until_started(child: subprocess.Popen, folder: RunFolder, previous_pid: int, reserved: bool) -> None:
    """Return when the child wrote a running summary; raise its error line if it exits first."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if _started_by(folder.read_summary(), child.pid, previous_pid):
            return
        code = child.poll()
        if code is not None:
            if _started_by(folder.read_summary(), child.pid, 0):
                return  # it started and already ended (a very short run)
            message = last_error_line(folder.file(TRAIN_LOG))
            if reserved:
                folder.release()
            raise UserError("detached run", message or f"the training process exited with code {code}")
        time.sleep(0.05)


def _started_by(summary: dict, pid: int, previous_pid: int) -> bool:
    """The summary was written by ``pid``'s run: by it, or by rank 0 of the torchrun it launched."""
    writer = summary.get("launcher_pid", summary.get("pid"))
    return writer == pid and summary.get("pid") != previous_pid


def start_child(command: list[str], log_path: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start ``python -m vit_tui <command>`` in a new session, its output appended to ``log_path``.

    In its own session a Ctrl+C in the terminal does not reach it: it is stopped through its run
    (a signal or stop file), once.
    """
    with open(log_path, "a", encoding="utf-8") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "vit_tui", *command],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )


def last_error_line(log_path: Path) -> str:
    """The last line of a child process's log, without the program's "vit-tui: " prefix ("" when none)."""
    try:
        lines = [line.strip() for line in log_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except OSError:
        return ""
    if not lines:
        return ""
    last = lines[-1]
    return last.removeprefix("vit-tui: ")
