"""Fault cases for processes: one writer per run or dataset, signals, and resuming after them.

Every case runs the real command in a subprocess (``python -m vit_tui``) and sends real signals
with ``os.kill``; the process tree is read from ``/proc`` to check that no child outlives a build.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from data_fixtures import one_thread  # noqa: F401 - an autouse fixture
from test_engine_train import TINY, make_dataset, tiny_config

from vit_tui.config import apply_overrides
from vit_tui.engine.parallel.detach import start_detached
from vit_tui.engine.runs.folder import (
    RunFolder,
)
from vit_tui.engine.telemetry.events import (
    CheckpointSaved,
    EpochEnded,
    PhaseChanged,
    RunStarted,
    StepsLogged,
    from_json,
    null_sink,
)
from vit_tui.engine.train.trainer import train
from vit_tui.errors import UserError
from vit_tui.locks import FolderLock, holder
from vit_tui.run_layout import LOCK_FILE

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
SETS = [arg for item in TINY for arg in ("--set", item)]
TRAIN_IMAGES, VAL_IMAGES = 96, 24
STEPS_PER_EPOCH = TRAIN_IMAGES // 8


# --- helpers --------------------------------------------------------------------------------


def command(home: Path, *args: object) -> list[str]:
    return [sys.executable, "-m", "vit_tui", "--home", str(home), *map(str, args)]


def vit(home: Path, *args: object, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(command(home, *args), capture_output=True, text=True, env=ENV, timeout=timeout)


def start(home: Path, *args: object) -> subprocess.Popen:
    return subprocess.Popen(command(home, *args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)


def wait_until(check, process: subprocess.Popen | None = None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the process ended first: {process.communicate()}")
        time.sleep(0.02)
    raise AssertionError("timed out")


def events(run_dir: Path) -> list:
    lines = (run_dir / "events.jsonl").read_text(encoding="utf-8").splitlines()
    return [from_json(line) for line in lines if line.strip()]


def steps_logged(run_dir: Path) -> bool:
    return (run_dir / "events.jsonl").is_file() and any(isinstance(e, StepsLogged) for e in events(run_dir))


def one_line_error(out: subprocess.CompletedProcess, *needles: str) -> None:
    assert out.returncode == 2, out
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vit-tui: "), out.stderr
    assert "Traceback" not in out.stderr
    for needle in needles:
        assert needle in out.stderr, out.stderr


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting for its parent counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(") ", 1)[1][:1] != "Z"


def descendants(pid: int) -> set[int]:
    """Every process below ``pid``, from the parent ids in ``/proc/*/stat``."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(") ", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def hold_lock(expr: str) -> subprocess.Popen:
    """Another process holding a lock (``expr`` builds it), until killed."""
    code = f"import sys, time\nfrom vit_tui.locks import *\nlock = {expr}.acquire()\nprint('held', flush=True)\ntime.sleep(600)"
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=ENV)
    assert holder.stdout.readline().strip() == "held"
    return holder


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` with its bytes (the lock file aside)."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file() and p.name != LOCK_FILE
    }



@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("home")
    make_dataset(home / "data" / "tiny", TRAIN_IMAGES, VAL_IMAGES)
    return home


class CancelOn:
    """A sink that sets a cancel flag (or raises) when it sees an event matching ``wanted``."""

    def __init__(self, wanted, raise_instead: BaseException | None = None) -> None:
        self.wanted = wanted
        self.raise_instead = raise_instead
        self.flag = __import__("threading").Event()

    def __call__(self, event) -> None:
        if self.wanted(event):
            if self.raise_instead is not None:
                raise self.raise_instead
            self.flag.set()


def stopped_run(home: Path, name: str, wanted, *extra: str, raise_instead: BaseException | None = None) -> Path:
    """A run of the tiny config stopped when the event ``wanted`` comes."""
    cfg = tiny_config(home / "data" / "tiny", *extra)
    stop = CancelOn(wanted, raise_instead)
    if raise_instead is not None:
        with pytest.raises(type(raise_instead)):
            train(cfg, stop, stop.flag, runs_root=home / "runs", name=name)
    else:
        assert train(cfg, stop, stop.flag, runs_root=home / "runs", name=name).status == "interrupted"
    return home / "runs" / name


def after_epoch(epoch: int):
    return lambda e: isinstance(e, EpochEnded) and e.epoch == epoch


# --- one writer per run and per dataset -------------------------------------------------------


def test_two_resumes_started_together_train_once(home):
    run_dir = stopped_run(home, "race", after_epoch(1))
    racers = [start(home, "train", "--resume", run_dir, "--set", "train.epochs=500") for _ in range(2)]
    try:
        wait_until(lambda: any(r.poll() is not None for r in racers), timeout=60)
        loser = next(r for r in racers if r.poll() is not None)
        winner = next(r for r in racers if r is not loser)
        wait_until(lambda: RunFolder(run_dir).read_summary().get("pid") == winner.pid, winner)
        winner.send_signal(signal.SIGSTOP)  # hold its files still while another one tries
        before = snapshot(run_dir)
        late = vit(home, "train", "--resume", run_dir, "--detach")
        assert snapshot(run_dir) == before
        listed = vit(home, "runs")
        assert "running" in next(line for line in listed.stdout.splitlines() if "race" in line)
    finally:
        for racer in racers:
            if racer.poll() is None:
                racer.send_signal(signal.SIGCONT)
                racer.send_signal(signal.SIGTERM)
    outs = {r.pid: r.communicate(timeout=60) for r in racers}
    one_line_error(late, f"{run_dir}: is running (pid {winner.pid})")
    assert loser.returncode == 2 and f"{run_dir}: is running (pid {winner.pid})" in outs[loser.pid][1]
    assert winner.returncode == 130, outs[winner.pid]
    assert RunFolder(run_dir).read_summary()["status"] == "interrupted" and (run_dir / "weights/resume.pt").is_file()
    assert [e.pid for e in events(run_dir) if isinstance(e, RunStarted)][1:] == [winner.pid]
    global_steps = [r["global_step"] for r in RunFolder(run_dir).read_steps()]
    assert global_steps == sorted(set(global_steps))


def test_detaching_the_same_run_twice_starts_one_trainer(home):
    run_dir = stopped_run(home, "detached", after_epoch(1))
    cfg = apply_overrides(RunFolder(run_dir).read_config(), ["train.epochs=500"])
    start_detached(cfg, resume=run_dir)
    pid = RunFolder(run_dir).read_summary()["pid"]
    try:
        before = (run_dir / "config.toml").read_bytes()
        with pytest.raises(UserError, match=f"is running \\(pid {pid}\\)"):
            start_detached(apply_overrides(cfg, ["train.epochs=600"]), resume=run_dir)
        assert (run_dir / "config.toml").read_bytes() == before
    finally:
        os.kill(pid, signal.SIGTERM)
    wait_until(lambda: RunFolder(run_dir).lock_holder() is None)
    assert [e.pid for e in events(run_dir) if isinstance(e, RunStarted)][1:] == [pid]
    wait_until(lambda: RunFolder(run_dir).read_summary()["status"] == "interrupted")


def test_a_running_summary_without_a_lock_holder_is_interrupted_even_if_its_pid_lives(home):
    run_dir = stopped_run(home, "stale", after_epoch(1))
    summary = RunFolder(run_dir).read_summary()
    # The pid recorded by a dead trainer now belongs to another live process (here: this one).
    RunFolder(run_dir).write_summary({**summary, "status": "running", "pid": os.getpid()})
    assert RunFolder(run_dir).effective_status(RunFolder(run_dir).read_summary()) == "interrupted"
    listed = vit(home, "runs")
    row = next(line for line in listed.stdout.splitlines() if "stale" in line)
    assert "interrupted" in row
    RunFolder(run_dir).check_resume_target()  # and it may be resumed


def _folder_source(root: Path) -> Path:
    from PIL import Image

    for name in ("red", "blue"):
        (root / "src" / name).mkdir(parents=True, exist_ok=True)
        for k in range(3):
            Image.new("RGB", (40, 40), (200 if name == "red" else 0, k * 40, 0)).save(root / "src" / name / f"{k}.png")
    return root / "src"


@pytest.mark.parametrize("action", ["demo", "import"])
def test_a_second_build_into_a_folder_being_built_is_refused(tmp_path, action):
    target = tmp_path / "data" / "set"
    args = ["data", "demo", "--per-class-train", "2", "--per-class-val", "1"] if action == "demo" else []
    if action == "import":
        args = ["data", "import", _folder_source(tmp_path)]
    target.parent.mkdir()
    holder = hold_lock(f"build_lock({str(target)!r})")
    try:
        out = vit(tmp_path, *args, "--out", target)
    finally:
        holder.kill()
        holder.wait()
    one_line_error(out, f"{target}: is being built (pid {holder.pid})")
    assert sorted(p.name for p in target.parent.iterdir()) == [".set.lock"]  # the holder's, nothing of ours
    done = vit(tmp_path, *args, "--out", target)  # the kernel dropped the killed holder's lock
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in target.parent.iterdir()) == ["set"]


# --- signals ----------------------------------------------------------------------------------


@pytest.mark.parametrize("signals", ["SIGTERM", "SIGHUP", "SIGHUP SIGTERM"])
def test_a_signal_during_a_dataset_build_removes_the_partial_folder_and_every_child(tmp_path, signals):
    args = ["data", "demo", "--per-class-train", "4000", "--per-class-val", "10", "--workers", "2"]
    build = start(tmp_path, *args, "--out", tmp_path / "set")
    children: set[int] = set()

    def building() -> bool:
        children.update(descendants(build.pid))
        return any(tmp_path.glob(".set.*.partial")) and len(children) >= 3

    try:
        wait_until(building, build)  # the forkserver and both workers
        time.sleep(0.3)  # and images drawn (a worker still unpickling its start-up data prints a traceback)
        for name in signals.split():
            os.kill(build.pid, getattr(signal, name))
        out, err = build.communicate(timeout=60)
    finally:
        if build.poll() is None:
            build.kill()
    assert build.returncode == 130, err
    assert err.strip().splitlines() == ["vit-tui: interrupted"], err
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no partial folder, no lock file
    wait_until(lambda: not any(alive(pid) for pid in children), timeout=10)


@pytest.mark.parametrize("signals", ["SIGINT SIGTERM", "SIGHUP SIGTERM"])  # a pair of one kind arrives as one
def test_a_signal_while_training_saves_a_resumable_checkpoint_even_when_a_second_follows(home, signals):
    run_dir = home / "runs" / f"signal-{signals.replace(' ', '-')}"
    process = start(home, "train", "--data", home / "data/tiny", *SETS, "--set", "train.epochs=200", "--out", run_dir)
    try:
        wait_until(lambda: steps_logged(run_dir), process)
        for name in signals.split():
            os.kill(process.pid, getattr(signal, name))
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, err
    assert "Traceback" not in err
    summary = RunFolder(run_dir).read_summary()
    assert summary["status"] == "interrupted" and (run_dir / "weights/resume.pt").is_file()
    assert f"continue with: vit-tui train --resume {run_dir}" in out
    assert not any(alive(pid) for pid in descendants(process.pid))


def last_checkpoint(e) -> bool:
    return isinstance(e, CheckpointSaved) and e.kind == "last"


def evaluating(e) -> bool:
    return isinstance(e, PhaseChanged) and e.phase == "evaluating"


@pytest.mark.parametrize(
    ("case", "wanted", "raise_instead"),
    [
        ("stop after the last step", last_checkpoint, None),
        ("killed during final evaluation", evaluating, KeyboardInterrupt()),
    ],
)
def test_a_run_stopped_in_its_final_evaluation_resumes_to_finished(home, case, wanted, raise_instead):
    run_dir = stopped_run(home, case.replace(" ", "-"), wanted, raise_instead=raise_instead)
    assert RunFolder(run_dir).read_summary()["status"] == "interrupted"
    steps_before = RunFolder(run_dir).read_steps()
    out = vit(home, "train", "--resume", run_dir)
    assert out.returncode == 0, out.stderr
    summary = RunFolder(run_dir).read_summary()
    assert summary["status"] == "finished" and summary["epochs_done"] == summary["epochs"] == 2
    assert (run_dir / "report.md").is_file() and (run_dir / "evaluation.json").is_file()
    assert not (run_dir / "weights/resume.pt").exists()
    assert RunFolder(run_dir).read_steps() == steps_before  # nothing trained again


# --- resuming with other settings, and what a resume replays ----------------------------------


@pytest.fixture(scope="module")
def two_of_three(home) -> Path:
    """A run of three epochs stopped after its second."""
    return stopped_run(home, "two-of-three", after_epoch(2), "train.epochs=3")


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("train.batch_size=16", "train.batch_size: is 16 but the run was trained with 8"),
        ("train.optimizer=sgd", "train.optimizer: is 'sgd' but the run was trained with 'adamw'"),
        ("train.epochs=1", "train.epochs: is 1 but the run already trained 2 epoch(s); resume with --set train.epochs=2"),
    ],
)
def test_a_resume_that_cannot_continue_the_schedule_is_refused(two_of_three, setting, message):
    before = snapshot(two_of_three)
    cfg = apply_overrides(RunFolder(two_of_three).read_config(), [setting])
    with pytest.raises(UserError) as caught:
        train(cfg, null_sink, resume=two_of_three)
    assert str(caught.value).startswith(message)
    assert snapshot(two_of_three) == before


def test_a_refused_resume_says_so_in_one_line_and_keeps_the_run_config(home, two_of_three):
    before = snapshot(two_of_three)
    out = vit(home, "train", "--resume", two_of_three, "--set", "train.batch_size=16", "--detach")
    one_line_error(out, "train.batch_size: is 16 but the run was trained with 8")
    assert snapshot(two_of_three) == before  # --detach did not write the refused config.toml


def test_a_resume_drops_the_events_logged_after_its_checkpoint(home):
    into_epoch_2 = lambda e: isinstance(e, StepsLogged) and e.epoch == 2  # noqa: E731
    run_dir = stopped_run(home, "replayed", into_epoch_2, raise_instead=KeyboardInterrupt())
    assert any(isinstance(e, StepsLogged) and e.epoch == 2 for e in events(run_dir))  # logged after resume.pt
    out = vit(home, "train", "--resume", run_dir)
    assert out.returncode == 0, out.stderr
    logged = [e.global_step for e in events(run_dir) if isinstance(e, StepsLogged)]
    assert logged == sorted(set(logged)) and logged[-1] == 2 * STEPS_PER_EPOCH
    assert [e.epoch for e in events(run_dir) if isinstance(e, EpochEnded)] == [1, 2]
    assert [r["global_step"] for r in RunFolder(run_dir).read_steps()] == logged


def test_a_lock_names_no_stale_pid(tmp_path):
    path = tmp_path / ".lock"
    with FolderLock(path, "runs/x"):
        assert holder(path) == os.getpid()
    assert path.read_text() == ""  # released: no pid left for the next holder's readers to mistake
    fd = os.open(path, os.O_RDWR)
    try:
        # A holder that has locked but not yet written its pid, over a killed holder's leftover.
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.pwrite(fd, b"%d\n" % _dead_pid(), 0)
        assert holder(path) == 0
        os.pwrite(fd, b"%d\n" % os.getpid(), 0)
        assert holder(path) == os.getpid()
    finally:
        os.close(fd)
    assert holder(path) is None


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid
