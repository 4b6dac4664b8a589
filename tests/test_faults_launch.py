"""Fault suite for the launcher, the end of a run and the inputs every command takes.

More processes than the machine has devices are refused before torchrun starts; a path or a
config value too long for the file system, and a config nested too deep for the TOML parser,
are one line and exit 2; a stop during the final evaluation ends the run resumable (exit 130);
a TensorBoard folder that breaks mid-run costs one warning and no traceback from its writer thread.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from data_fixtures import one_thread  # noqa: F401 - an autouse fixture
from test_engine_train import TINY, make_dataset, tiny_config
from test_faults_process import alive, descendants

from vit_tui.cli import main
from vit_tui.engine.parallel.detach import start_detached
from vit_tui.engine.parallel.launch import (
    Launch,
    check_launch,
    check_processes_per_node,
    device_type_and_gpus,
    most_processes,
    usable_cores,
)
from vit_tui.engine.runs.folder import RunFolder
from vit_tui.engine.telemetry.events import EpochEnded, PhaseChanged, RunStarted
from vit_tui.engine.train.session import Session
from vit_tui.engine.train.trainer import train
from vit_tui.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
SETS = [arg for item in TINY for arg in ("--set", item)]
TRAIN_IMAGES, VAL_IMAGES = 96, 24
LONG_NAME = "n" * 300


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("home")
    make_dataset(home / "data" / "tiny", TRAIN_IMAGES, VAL_IMAGES)
    return home


@pytest.fixture(scope="module")
def trained(home) -> Path:
    """A finished one-epoch run of the tiny config."""
    cfg = tiny_config(home / "data" / "tiny", "train.epochs=1")
    return train(cfg, runs_root=home / "runs", name="trained").run_dir


def run_cli(capsys, *args: object) -> tuple[int, str, str]:
    """``vit-tui ARGS`` in this process: (exit code, stdout, stderr)."""
    code = main([str(arg) for arg in args])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vit-tui: "), err[:2000]
    assert len(lines[0]) < 400, lines[0][:2000]
    for needle in needles:
        assert needle in err, err


# --- processes per machine --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("device", "gpus", "cores", "processes", "refusal"),
    [
        ("cpu", 0, 2, 2, ""),
        ("cpu", 0, 2, 3, "is 3, but this machine has 2 usable CPU cores; use at most 2 (one per core)"),
        ("cpu", 0, 2, 1000, "is 1000, but this machine has 2 usable CPU cores"),
        ("cuda", 8, 2, 8, ""),  # one process per GPU, however few cores
        ("cuda", 2, 64, 3, "is 3, but this machine has 2 visible GPUs; use at most 2 (one per GPU)"),
        ("cuda", 1, 64, 2, "this machine has 1 visible GPU; use at most 1"),
        ("mps", 0, 8, 2, "mps cannot train data-parallel"),
    ],
    ids=["cpu-fits", "cpu-one-too-many", "cpu-a-thousand", "cuda-fits", "cuda-one-too-many", "cuda-one-gpu", "mps"],
)
def test_processes_per_machine_are_limited_by_its_devices(device, gpus, cores, processes, refusal):
    if not refusal:
        check_processes_per_node(processes, device, gpus, cores)
        assert processes <= most_processes(device, gpus, cores)
        return
    with pytest.raises(UserError, match="--nproc-per-node|train.device") as caught:
        check_processes_per_node(processes, device, gpus, cores)
    assert refusal in str(caught.value)


@pytest.fixture
def one_core():
    """This process (and what it starts) on one core, so that two processes are one too many anywhere."""
    if not hasattr(os, "sched_setaffinity"):
        pytest.skip("no CPU affinity on this system")
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(before)})
    yield
    os.sched_setaffinity(0, before)


def test_a_batch_hint_never_suggests_a_split_that_is_then_refused(one_core):
    assert usable_cores() == 1
    with pytest.raises(UserError, match="--nproc-per-node") as caught:
        check_launch(Launch(nproc_per_node=2), "cpu", batch_size=1001)
    assert "batch_size" not in str(caught.value)


@pytest.mark.parametrize(
    "extra",
    [["--set", "train.batch_size=8"], ["--set", "train.batch_size=1001"], ["--detach"]],
    ids=["train", "batch-they-cannot-share", "detach"],
)
def test_more_processes_than_cores_are_refused_before_torchrun_starts(home, capsys, one_core, extra):
    run_dir = home / "runs" / f"too-many-{extra[-1]}"
    before = descendants(os.getpid())
    code, _, err = run_cli(
        capsys, "--home", home, "train", "--data", home / "data/tiny", *SETS, *extra,
        "--set", "train.device=cpu", "--nproc-per-node", 2, "--out", run_dir,
    )
    started = descendants(os.getpid()) - before
    assert_one_line(code, err, "--nproc-per-node: is 2, but this machine has 1 usable CPU core; use at most 1")
    assert not started and not run_dir.exists()


def test_the_app_cannot_start_more_processes_than_cores_either(home, one_core):
    runs_root = home / "runs-from-the-app"
    cfg = tiny_config(home / "data" / "tiny", "train.device=cpu")
    with pytest.raises(UserError, match="--nproc-per-node: is 2, but this machine has 1 usable CPU core"):
        start_detached(cfg, runs_root=runs_root, launch=Launch(nproc_per_node=2))
    assert not runs_root.exists()


def test_auto_counts_the_gpus_torch_sees():
    import torch

    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    assert device_type_and_gpus("auto") == ("cuda" if gpus else "cpu", gpus)
    assert device_type_and_gpus("cpu") == ("cpu", 0)


# --- paths and values too long ------------------------------------------------------------------


def long_path_cases(home: Path, run: Path, tmp: Path) -> dict[str, list[object]]:
    long = tmp / LONG_NAME
    return {
        "train --data": ["train", "--data", long],
        "train --out": ["train", "--data", home / "data/tiny", "--out", long / "run"],
        "train --resume": ["train", "--resume", long],
        "predict IMAGE": ["predict", run, tmp / f"{LONG_NAME}.png"],
        "export --out": ["export", run, "--format", "torchscript", "--out", long / "m.pt"],
        "runs DIR": ["runs", long],
        "report TARGET": ["report", long],
        "attach RUN": ["attach", long],
    }


@pytest.mark.parametrize(
    "case",
    ["train --data", "train --out", "train --resume", "predict IMAGE", "export --out", "runs DIR", "report TARGET",
     "attach RUN"],
)
def test_a_name_too_long_for_the_file_system_is_one_line(home, trained, tmp_path, capsys, case):
    args = long_path_cases(home, trained, tmp_path)[case]
    code, _, err = run_cli(capsys, "--home", home, *args)
    assert_one_line(code, err, "bytes long (names may have 255 at most); use a shorter path")
    assert "n" * 100 not in err  # the long name is cut
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("value", "needle"),
    [("x" * 1_000_000, "is 1,000,000 bytes long"), ("a/" * 3000, "the path 'a/a/a/")],
    ids=["a-1-MB-name", "a-6-kB-path"],
)
def test_a_huge_dataset_value_in_a_config_is_one_short_line(home, tmp_path, capsys, value, needle):
    config = tmp_path / "huge.toml"
    config.write_text(f'[data]\ndataset = "{value}"\n', encoding="utf-8")
    code, _, err = run_cli(capsys, "--home", home, "train", "--config", config)
    assert_one_line(code, err, "data.dataset: ", needle, "use a shorter path")


def test_no_error_message_carries_a_huge_value():
    message = str(UserError("x" * 1_000_000, "the value " + "y" * 1_000_000 + " is wrong; " + "z " * 10_000))
    assert len(message) <= 2000
    assert message.startswith("x" * 60 + "…") and "the value " + "y" * 60 + "…" in message


# --- TOML nested too deep -----------------------------------------------------------------------


NESTED = {
    "5000-arrays": "x = " + "[" * 5000 + "]" * 5000,
    "3000-inline-tables": "x = " + "{a = " * 3000 + "1" + "}" * 3000,
}


@pytest.mark.parametrize("nesting", NESTED.values(), ids=NESTED.keys())
def test_a_config_nested_too_deep_is_not_valid_toml_in_one_line(home, tmp_path, capsys, nesting):
    config = tmp_path / "deep.toml"
    config.write_text(f"[train]\n{nesting}\n", encoding="utf-8")
    code, _, err = run_cli(capsys, "--home", home, "train", "--config", config)
    assert_one_line(code, err, f"{config}: not valid TOML (nested too deep")


@pytest.mark.parametrize("nesting", NESTED.values(), ids=NESTED.keys())
def test_a_theme_nested_too_deep_is_skipped(tmp_path, nesting):
    from vit_tui.tui.themes import load_themes

    (tmp_path / "a-deep.toml").write_text(nesting + "\n", encoding="utf-8")
    (tmp_path / "b-plain.toml").write_text('primary = "#ff0000"\n', encoding="utf-8")
    assert [theme.name for theme in load_themes(tmp_path)] == ["b-plain"]


# --- a stop during the final evaluation ---------------------------------------------------------


def assert_resumable_then_finished(home: Path, capsys, run_dir: Path) -> None:
    summary = RunFolder(run_dir).read_summary()
    assert summary["status"] == "interrupted" and summary["epochs_done"] == summary["epochs"]
    assert (run_dir / "weights/resume.pt").is_file() and not (run_dir / "evaluation.json").exists()
    code, out, err = run_cli(capsys, "--home", home, "train", "--resume", run_dir)
    assert code == 0, err
    summary = RunFolder(run_dir).read_summary()
    assert summary["status"] == "finished" and (run_dir / "evaluation.json").is_file()
    assert not (run_dir / "weights/resume.pt").exists()


@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM"])
def test_a_signal_during_the_final_evaluation_stops_the_run_resumable(home, capsys, monkeypatch, signal_name):
    evaluate = Session.final_evaluation

    def signalled(self, *args, **kwargs):
        os.kill(os.getpid(), getattr(signal, signal_name))
        return evaluate(self, *args, **kwargs)

    monkeypatch.setattr(Session, "final_evaluation", signalled)
    run_dir = home / "runs" / f"stopped-in-evaluation-{signal_name}"
    code, out, err = run_cli(capsys, "--home", home, "train", "--data", home / "data/tiny", *SETS, "--out", run_dir)
    assert code == 130, err
    assert "Traceback" not in err and f"continue with: vit-tui train --resume {run_dir}" in out
    monkeypatch.setattr(Session, "final_evaluation", evaluate)
    assert_resumable_then_finished(home, capsys, run_dir)


# Rank 0 of a torchrun job sends SIGINT to the launcher as its final evaluation starts, and waits
# until the launcher has set the stop file: the stop then arrives during that evaluation.
SIGNAL_THE_LAUNCHER = """
import os
if os.environ.get("RANK") == "0":
    import signal, time
    from vit_tui.engine.train import session

    evaluate = session.Session.final_evaluation

    def signalled(self, *args, **kwargs):
        os.kill(int(os.environ["VIT_TUI_LAUNCHER_PID"]), signal.SIGINT)
        deadline = time.monotonic() + 30
        while not os.path.exists(os.environ["VIT_TUI_STOP_FILE"]) and time.monotonic() < deadline:
            time.sleep(0.01)
        return evaluate(self, *args, **kwargs)

    session.Session.final_evaluation = signalled
"""


@pytest.mark.slow  # torchrun and two workers: about 40 s on two busy cores
def test_sigint_during_the_final_evaluation_of_two_processes_stops_them_resumable(home, tmp_path, capsys):
    (tmp_path / "sitecustomize.py").write_text(textwrap.dedent(SIGNAL_THE_LAUNCHER), encoding="utf-8")
    path = os.pathsep.join([str(tmp_path), str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    run_dir = home / "runs" / "two-stopped-in-evaluation"
    command = [sys.executable, "-m", "vit_tui", "--home", str(home), "train", "--data", str(home / "data/tiny"),
               *SETS, "--set", "train.device=cpu", "--nproc-per-node", "2", "--out", str(run_dir)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = process.communicate(timeout=180)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, err
    assert "Traceback" not in err and f"continue with: vit-tui train --resume {run_dir}" in out
    assert not any(alive(pid) for pid in descendants(process.pid))
    assert RunFolder(run_dir).read_summary()["world_size"] == 2
    assert_resumable_then_finished(home, capsys, run_dir)


# --- a tracker that breaks mid-run --------------------------------------------------------------


class BreakTensorBoardAfterEpochOne:
    """A sink that replaces the run's TensorBoard folder with a file as the first epoch ends.

    It sees each event before the trackers do, so every write from that epoch on fails in
    TensorBoard's writer thread.
    """

    def __init__(self) -> None:
        self.events: list = []

    def __call__(self, event) -> None:
        self.events.append(event)
        if isinstance(event, EpochEnded) and event.epoch == 1:
            run_dir = Path(next(e.run_dir for e in self.events if isinstance(e, RunStarted)))
            shutil.rmtree(run_dir / "tb")
            (run_dir / "tb").write_text("in the way", encoding="utf-8")


def test_a_tensorboard_folder_broken_mid_run_costs_one_warning_and_no_thread_traceback(home, monkeypatch):
    pytest.importorskip("tensorboard")
    uncaught = []  # what the default hook would print to stderr as "Exception in thread ..."
    monkeypatch.setattr(threading, "excepthook", lambda args: uncaught.append(args.exc_value))
    sink = BreakTensorBoardAfterEpochOne()
    cfg = tiny_config(home / "data" / "tiny", "train.log_to=tensorboard")
    result = train(cfg, sink, runs_root=home / "runs", name="tensorboard-broken")
    assert result.status == "finished"
    warnings = [e.detail for e in sink.events if isinstance(e, PhaseChanged) and e.phase == "warning"]
    assert len(warnings) == 1 and warnings[0].startswith("tensorboard logging stopped ("), warnings
    assert uncaught == []
