"""The headless commands as a user runs them: train, eval, predict, runs, compare, attach, --detach.

Every command runs in a subprocess (``python -m vit_tui``), with signals and kill -9 where the
behaviour under them is the point.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from data_fixtures import one_thread  # noqa: F401 - an autouse fixture
from PIL import Image
from test_engine_train import CLASSES, TINY, make_dataset, tiny_config

from vit_tui.commands.train import stop_signals
from vit_tui.config import apply_overrides
from vit_tui.engine.runs.folder import RunFolder
from vit_tui.engine.telemetry.events import CheckpointSaved, StepsLogged, null_sink
from vit_tui.engine.train.trainer import train
from vit_tui.presets import preset

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
SETS = [arg for item in TINY for arg in ("--set", item)]
TRAIN_IMAGES = 192  # 24 steps per epoch: room to land a signal mid-epoch
METRIC_KEYS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr")


def vit(home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "vit_tui", "--home", str(home), *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, env=ENV, timeout=timeout)


def start(home: Path, *args: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "vit_tui", "--home", str(home), *map(str, args)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)


def wait_for_event(run_dir: Path, wanted, process: subprocess.Popen, timeout: float = 90) -> None:
    follower = RunFolder(run_dir).follow()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(wanted(e) for e in follower.poll()):
            return
        assert process.poll() is None, process.communicate()
        time.sleep(0.01)
    raise AssertionError("event never came")


def metric_values(run_dir: Path) -> list[tuple]:
    return [tuple(row[k] for k in METRIC_KEYS) for row in RunFolder(run_dir).read_metrics()]



@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("home")
    make_dataset(home / "data" / "tiny", TRAIN_IMAGES, 48)
    return home


@pytest.fixture(scope="module")
def first_run(home) -> tuple[Path, subprocess.CompletedProcess]:
    out = vit(home, "train", "--data", home / "data/tiny", *SETS, "--out", home / "runs/first")
    assert out.returncode == 0, out.stderr
    return home / "runs/first", out


def test_train_prints_one_plain_line_per_epoch(first_run):
    run_dir, out = first_run
    lines = out.stdout.splitlines()
    epoch_lines = [line for line in lines if line.startswith("epoch ")]
    assert len(epoch_lines) == 2 and "val loss" in epoch_lines[0] and "img/s" in epoch_lines[0]
    assert lines[-1].startswith("finished") and str(run_dir) in lines[-1]
    assert "\x1b[" not in out.stdout  # no terminal codes in a log
    assert RunFolder(run_dir).read_summary()["status"] == "finished"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["train", "--data", "{data}", "--set", "model.hedas=2"], "did you mean model.heads"),
        (["train", "--data", "{home}/nowhere", *SETS], "no such dataset folder"),
        (["train", "--data", "{data}", *SETS, "--out", "{home}/runs/first"], "already exists"),
        (["train", "--resume", "{home}/runs/first"], "already finished"),
        (["eval", "no-such-run"], "no run here"),
        (["predict", "first", "{home}/missing.jpg"], "image file not found"),
    ],
)
def test_bad_input_exits_2_with_one_line(home, first_run, args, needle):
    out = vit(home, *(a.format(home=home, data=home / "data/tiny") for a in args))
    assert out.returncode == 2, out
    assert len(out.stderr.strip().splitlines()) == 1 and out.stderr.startswith("vit-tui: ")
    assert needle in out.stderr and "Traceback" not in out.stderr


@pytest.mark.slow
def test_kill_9_mid_run_then_resume_matches_uninterrupted(home, tmp_path):
    epochs = ["--set", "train.epochs=3"]
    baseline = train(tiny_config(home / "data/tiny", "train.epochs=3"), null_sink, runs_root=tmp_path)

    run_dir = home / "runs/killed"
    process = start(home, "train", "--data", home / "data/tiny", *SETS, *epochs, "--out", run_dir)
    wait_for_event(run_dir, lambda e: isinstance(e, CheckpointSaved) and e.kind == "resume", process)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    assert RunFolder(run_dir).read_summary()["status"] == "running"  # it never got to say anything
    assert len(RunFolder(run_dir).read_metrics()) < 3

    out = vit(home, "train", "--resume", run_dir)
    assert out.returncode == 0, out.stderr
    assert "resuming at epoch" in out.stdout
    assert metric_values(run_dir) == metric_values(baseline.run_dir)


def test_stop_signals_set_the_cancel_flag_and_a_second_one_is_only_noted():
    cancel = threading.Event()
    notes: list[str] = []
    before = signal.getsignal(signal.SIGTERM)
    with stop_signals(cancel, notes.append):
        for signum in (signal.SIGTERM, signal.SIGHUP):
            cancel.clear()
            os.kill(os.getpid(), signum)
            assert cancel.wait(5)
        assert "SIGHUP" in notes[-1] and "resumable checkpoint" in notes[-1]
        os.kill(os.getpid(), signal.SIGINT)  # a second one must not cut the checkpoint short
        time.sleep(0.2)
    assert signal.getsignal(signal.SIGTERM) is before
    assert "SIGINT: already stopping" in notes[-1]


def test_ctrl_c_saves_a_resumable_checkpoint_and_exits_130(home):
    run_dir = home / "runs/stopped"
    process = start(home, "train", "--data", home / "data/tiny", *SETS, "--set", "train.epochs=50", "--out", run_dir)
    wait_for_event(run_dir, lambda e: isinstance(e, StepsLogged), process)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "interrupted" in stdout and f"vit-tui train --resume {run_dir}" in stdout
    assert RunFolder(run_dir).read_summary()["status"] == "interrupted"
    state = torch.load(run_dir / "weights/resume.pt", weights_only=True)
    assert state["global_step"] >= 1


def test_eval_predict_runs_and_compare(home, first_run, tmp_path):
    run_dir, _ = first_run
    einsum = tiny_config(home / "data/tiny", "model.attention=einsum")
    second = train(einsum, null_sink, runs_root=home / "runs", name="second")

    out = vit(home, "eval", "first", "--checkpoint", "last")
    assert out.returncode == 0, out.stderr
    assert "accuracy" in out.stdout and "confusion matrix" in out.stdout
    assert all(name in out.stdout for name in CLASSES)

    images = sorted((home / "data/tiny/val").glob("*.jpg"))[:2]
    out = vit(home, "predict", run_dir, *images, "--top-k", "2")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith(str(image)) for line, image in zip(lines, images))
    assert all(line.count("%") == 2 for line in lines)

    out = vit(home, "runs")
    assert out.returncode == 0, out.stderr
    assert "first" in out.stdout and "second" in out.stdout and "finished" in out.stdout

    out = vit(home, "compare", "first", second.run_dir, "--out", tmp_path / "cmp")
    assert out.returncode == 0, out.stderr
    for name in ("comparison.md", "comparison.csv", "compare_curves.png", "compare_confusion.png"):
        assert (tmp_path / "cmp" / name).is_file(), name
    with Image.open(tmp_path / "cmp" / "compare_confusion.png") as image:
        assert image.width > 1.5 * image.height  # two matrices side by side
    assert "einsum" in (tmp_path / "cmp" / "comparison.md").read_text()
    again = vit(home, "compare", "first", "second", "--out", tmp_path / "cmp")
    assert again.returncode == 2 and "--force" in again.stderr


@pytest.mark.slow
def test_detach_then_attach_follows_to_the_end(home):
    run_dir = home / "runs/background"
    epochs = ["--set", "train.epochs=3"]
    out = vit(home, "train", "--detach", "--data", home / "data/tiny", *SETS, *epochs, "--out", run_dir)
    assert out.returncode == 0, out.stderr
    assert str(run_dir) in out.stdout and "attach" in out.stdout
    pid = RunFolder(run_dir).read_summary()["pid"]
    assert pid != os.getpid()

    attached = vit(home, "attach", run_dir, timeout=180)
    assert attached.returncode == 0, attached.stderr
    assert sum(line.startswith("epoch ") for line in attached.stdout.splitlines()) == 3
    assert attached.stdout.splitlines()[-1].startswith("finished in")
    assert RunFolder(run_dir).read_summary()["status"] == "finished"
    log = (run_dir / "train.log").read_text()
    assert log.count("\nepoch ") + log.startswith("epoch ") == 3


@pytest.mark.slow
def test_reference_preset_trains_at_the_reference_shape(tmp_path):
    five = ["airplane", "bus", "cat", "dog", "pizza"]
    data = make_dataset(tmp_path / "ref", 40, 20, size=64, classes=five)
    cfg = apply_overrides(preset("reference"), [f"data.dataset={data}", "train.epochs=2"])
    result = train(cfg, null_sink, runs_root=tmp_path / "runs")
    assert result.status == "finished"
    summary = RunFolder(result.run_dir).read_summary()
    assert summary["params"] == 39_993_005 and summary["classes"] == five
    assert summary["step_path"].startswith("eager") and summary["precision"] == "fp32"
    assert len(RunFolder(result.run_dir).read_metrics()) == 2
