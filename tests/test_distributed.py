"""Data-parallel training on the CPU (gloo) through torchrun, in real subprocesses.

Two processes with augmentation and dropout off must end with the weights of one process
trained on the same global batch; a run interrupted by SIGINT on its launcher must resume to
the weights of an uninterrupted one; two "machines" on localhost meet through the c10d
rendezvous. Every run folder is written once, by rank 0.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from test_engine_train import TINY, make_dataset

from vit_tui import config as config_mod
from vit_tui.config import RunConfig, apply_overrides
from vit_tui.engine.parallel.distributed import rank_slice, shard
from vit_tui.engine.parallel.launch import Launch
from vit_tui.engine.runs.folder import RunFolder
from vit_tui.engine.telemetry.events import StepsLogged
from vit_tui.engine.train.trainer import train
from vit_tui.errors import UserError

# The engine tests' tiny run without dropout, augmentation or BatchNorm (the patch stem): the
# one-process run is then the same computation as two processes each taking half of every batch.
SETTINGS = [*TINY, "model.stem=patch", "model.dropout=0", "train.augment=none", "train.epochs=4"]
SETS = [arg for item in SETTINGS for arg in ("--set", item)]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
TIMEOUT_S = 120


def vit_command(home: Path, *args: object) -> list[str]:
    return [sys.executable, "-m", "vit_tui", "--home", str(home), *map(str, args)]


def vit(home: Path, *args: object) -> subprocess.CompletedProcess:
    return subprocess.run(vit_command(home, *args), capture_output=True, text=True, env=ENV, timeout=TIMEOUT_S)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def final_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(RunFolder(run_dir).weights("last"), weights_only=True)["model"]


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], atol: float) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.allclose(a[name], b[name], atol=atol, rtol=0), (name, (a[name] - b[name]).abs().max())


def assert_written_once(run_dir: Path, world_size: int) -> None:
    """One rank wrote it: no line twice, the summary counts every process."""
    summary = RunFolder(run_dir).read_summary()
    assert summary["status"] == "finished" and summary["world_size"] == world_size
    for name in ("metrics.csv", "steps.csv"):
        lines = (run_dir / name).read_text(encoding="utf-8").splitlines()
        assert len(lines) == len(set(lines)), name
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text(encoding="utf-8").splitlines()]
    kinds = [event["type"] for event in events]
    assert kinds.count("EvalDone") == 1 and [e["epoch"] for e in events if e["type"] == "EpochEnded"] == [1, 2, 3, 4]
    logged = [event["global_step"] for event in events if event["type"] == "StepsLogged"]
    assert logged == sorted(set(logged))
    assert [row["epoch"] for row in RunFolder(run_dir).read_metrics()] == [1, 2, 3, 4]
    steps = [row["global_step"] for row in RunFolder(run_dir).read_steps()]
    assert steps == sorted(set(steps)) and steps[-1] == 4 * 192 // 8
    for name in ("confusion_matrix.csv", "evaluation.json", "report.md", "weights/best.pt", "weights/last.pt"):
        assert (run_dir / name).is_file(), name
    assert not RunFolder(run_dir).weights("resume").exists()
    # The confusion matrix covers the whole validation split, not one rank's part.
    confusion = json.loads((run_dir / "evaluation.json").read_text())["confusion"]
    assert sum(map(sum, confusion)) == 48


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("home")
    make_dataset(home / "data" / "tiny", 192, 48)
    return home


@pytest.fixture(scope="module")
def one_process(home) -> Path:
    """The reference: one process, in this one, on one thread like the workers."""
    cfg = config_mod.validate(apply_overrides(RunConfig(), [f"data.dataset={home / 'data/tiny'}", *SETTINGS]))
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = train(cfg, runs_root=home / "runs", name="one")
    finally:
        torch.set_num_threads(before)
    assert result.status == "finished"
    return result.run_dir


@pytest.fixture(scope="module")
def two_machines(home) -> Path:
    """Two "machines" of one process each on localhost, meeting through the c10d rendezvous."""
    endpoint = f"127.0.0.1:{free_port()}"
    run_dir = home / "runs/nodes"
    nodes = [
        subprocess.Popen(
            vit_command(
                home, "train", "--nnodes", 2, "--node-rank", rank, "--rdzv-endpoint", endpoint,
                "--data", home / "data/tiny", *SETS, "--out", run_dir,
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
        )
        for rank in (0, 1)
    ]
    outputs = [node.communicate(timeout=TIMEOUT_S) for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], outputs
    # Rank 0 alone reports: one line per epoch over both launchers, and torchrun reported no failure.
    stdout = "".join(out for out, _ in outputs)
    assert stdout.count("epoch   1/4") == 1 and stdout.count("finished in") == 1
    assert not any("Traceback" in err or "FAILED" in err for _, err in outputs), outputs
    return run_dir


def test_rank_slices_make_up_each_global_batch() -> None:
    order = torch.randperm(50, generator=torch.Generator().manual_seed(3))
    world, batch = 4, 12
    slices = [rank_slice(order, rank, world, batch) for rank in range(world)]
    per_rank = batch // world
    for step in range(50 // batch):
        together = torch.cat([s[step * per_rank : (step + 1) * per_rank] for s in slices])
        assert together.tolist() == order[step * batch : (step + 1) * batch].tolist()
    assert rank_slice(order, 0, 1, batch).tolist() == order[:48].tolist()
    parts = [shard(order, rank, 3) for rank in range(3)]
    assert torch.cat(parts).tolist() == order.tolist() and {len(p) for p in parts} == {16, 17}


def test_two_processes_train_the_one_process_weights(one_process, two_machines) -> None:
    # Two processes each take half of every batch; DDP averages the gradients.
    assert_same_weights(final_weights(one_process), final_weights(two_machines), atol=2e-4)
    assert_written_once(two_machines, world_size=2)
    one, two = RunFolder(one_process).read_metrics(), RunFolder(two_machines).read_metrics()
    for a, b in zip(one, two):  # running sums and validation are summed over both ranks
        for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
            assert b[key] == pytest.approx(a[key], abs=1e-4), key


def test_sigint_on_the_launcher_stops_every_rank_and_resume_matches(home, two_machines) -> None:
    run_dir = home / "runs/stopped"
    command = vit_command(home, "train", "--nproc-per-node", 2, "--data", home / "data/tiny", *SETS, "--out", run_dir)
    launcher = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    follower, deadline = RunFolder(run_dir).follow(), time.monotonic() + TIMEOUT_S
    # After the first epoch's checkpoint, at the first progress of the second: most likely mid-epoch.
    while not any(isinstance(e, StepsLogged) and e.epoch >= 2 for e in follower.poll()):
        assert launcher.poll() is None and time.monotonic() < deadline, launcher.communicate()
        time.sleep(0.01)
    launcher.send_signal(signal.SIGINT)
    stdout, stderr = launcher.communicate(timeout=TIMEOUT_S)
    assert launcher.returncode == 130, stderr
    assert RunFolder(run_dir).read_summary()["status"] == "interrupted"
    assert stdout.count("interrupted after") == 1
    assert RunFolder(run_dir).weights("resume").is_file()

    resumed = vit(home, "train", "--nproc-per-node", 2, "--resume", run_dir)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.count("finished in") == 1 and "Traceback" not in resumed.stderr
    # Same slices of the same permutation, same RNG states: one machine of two processes computes
    # what two machines of one do, and the resumed run what the uninterrupted one did.
    assert_same_weights(final_weights(two_machines), final_weights(run_dir), atol=1e-6)
    assert_written_once(run_dir, world_size=2)


def test_a_batch_the_processes_cannot_share_is_refused(home) -> None:
    out = vit(home, "train", "--nproc-per-node", 2, "--data", home / "data/tiny", *SETS,
              "--set", "train.batch_size=9", "--out", home / "runs/odd")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "vit-tui: train.batch_size: 9 is the global batch and must divide evenly among the 2 processes; "
        "use a multiple of 2, e.g. --set train.batch_size=8"
    ]
    assert not (home / "runs/odd").exists()


def test_launch_options_are_checked() -> None:
    with pytest.raises(UserError, match="--rdzv-endpoint"):
        Launch(nproc_per_node=1, nnodes=2).check()
    with pytest.raises(UserError, match="--node-rank"):
        Launch(nnodes=2, node_rank=2, rdzv_endpoint="h:1").check()
    with pytest.raises(UserError, match="HOST:PORT"):
        Launch(nnodes=2, rdzv_endpoint="nohost").check()
