"""Fault cases of ``sweep`` and ``reproduce``: a plan is checked whole before anything is written.

Seeds, devices, repeated values, run names and the ``--out`` name are refused in one line before
``plan.json``, a run folder or the output folder exists; a study's runs never take another
study's names; one study runs in one process at a time (its lock); ``reproduce`` advises its own
options. Driven through the real CLI on the tiny generated dataset of ``test_study``.
"""

from __future__ import annotations

import contextlib
import json
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from data_fixtures import make_tiny_coco
from test_study import ENV, REPRODUCE_SETS, SWEEP_SETS, sets, vit
from tui_fixtures import make_tiny_dataset

from vit_tui.cli import main
from vit_tui.locks import holder
from vit_tui.study.results import list_studies

NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("studies")
    make_tiny_dataset(folder / "data")
    return folder


def sweep_argv(where: Path, out: str | Path, grid: list[str], seeds: str = "1", extra: tuple[str, ...] = ()) -> list:
    return ["--home", str(where), "sweep", "--data", str(where / "data" / "tiny"),
            *[arg for item in grid for arg in ("--grid", item)], "--seeds", seeds, f"--out={out}",
            *sets([*SWEEP_SETS, "model.heads=2"]), *extra]


def run_names(where: Path) -> set[str]:
    runs = where / "runs"
    return {p.name for p in runs.iterdir()} if runs.is_dir() else set()


def one_line_refusal(code: int, err: str, starts: str) -> None:
    assert code == 2, err
    assert err.startswith(f"vit-tui: {starts}"), err
    assert err.strip().count("\n") == 0 and "Traceback" not in err


# --- a plan checked whole: nothing is written when any run of it is refused ---------------------

REFUSED = [
    pytest.param(["model.heads=2,4"], "1,9223372036854775808", (), "sw", "--seeds", "out of range", id="seed-over-2**63"),
    pytest.param(["model.heads=2,4"], "1", ("--devices", "cuda:0"), "sw", "--devices", "CUDA is not available",
                 id="devices-cuda-on-a-cpu-box", marks=NO_CUDA),
    pytest.param(["train.device=cpu,cuda:0"], "1", (), "sw", "train.device", "CUDA is not available",
                 id="grid-device-cuda-on-a-cpu-box", marks=NO_CUDA),
    pytest.param(["model.heads=2,2"], "1", (), "sw", "--grid", "model.heads lists 2 twice", id="repeated-value"),
    pytest.param(["model.heads=2,4", "train.lr=1e-3,0.001"], "1", (), "sw", "--grid",
                 "train.lr lists 1e-3 and 0.001, one setting", id="one-number-spelt-twice"),
    pytest.param(["train.data_memory_budget=1GiB,1073741824"], "1", (), "sw", "--grid",
                 "1GiB and 1073741824, one setting", id="one-budget-spelt-twice"),
    pytest.param(["model.heads=2"], "1", (), "sub/..", "--out", "cannot name the study's runs", id="out-dotdot"),
    pytest.param(["model.heads=2"], "1", (), ".", "--out", "cannot name the study's runs", id="out-dot"),
    pytest.param(["model.heads=2"], "1", (), "---", "--out", "cannot name the study's runs", id="out-slugs-to-nothing"),
    pytest.param(["model.heads=2"], "1", (), ".hidden", "--out", "cannot name the study's runs", id="out-hidden-name"),
]


@pytest.mark.parametrize(("grid", "seeds", "extra", "out", "starts", "says"), REFUSED)
def test_sweep_plan_refused_whole_before_anything_is_written(
    home, tmp_path, monkeypatch, capsys, grid, seeds, extra, out, starts, says
):
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    monkeypatch.chdir(work)  # ``.`` and ``sub/..`` are this empty folder
    before = run_names(home)
    code = main(sweep_argv(home, out, grid, seeds, extra))
    err = capsys.readouterr().err
    one_line_refusal(code, err, starts)
    assert says in err
    assert run_names(home) == before, "a run folder was made"
    assert list(work.iterdir()) == [work / "sub"] and not (home / "sw").exists()


@contextlib.contextmanager
def address_space_cap(extra: int):
    """At most ``extra`` more bytes of address space for this process: a grid built in memory fails, not the box."""
    used = next(int(line.split()[1]) * 1024 for line in Path("/proc/self/status").read_text().splitlines()
                if line.startswith("VmSize:"))
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (used + extra, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def test_sweep_of_a_billion_combinations_is_counted_not_built(home, capsys):
    values = ",".join(str(n) for n in range(1, 1001))
    grid = [f"train.epochs={values}", f"train.batch_size={values}", f"train.eval_batch_size={values}"]
    started = time.monotonic()
    with address_space_cap(1 << 30):
        code = main(sweep_argv(home, home / "huge", grid))
    elapsed = time.monotonic() - started
    err = capsys.readouterr().err
    one_line_refusal(code, err, "--grid")
    assert "1,000,000,000 runs (1000 x 1000 x 1000 combinations x 1 seed(s))" in err
    assert elapsed < 2, elapsed
    assert not (home / "huge").exists()


# --- run names: two studies never share one ------------------------------------------------------


def test_two_sweeps_with_same_named_out_folders_get_their_own_runs(home):
    grid = ["model.heads=2"]
    first, second = home / "a" / "twin", home / "b" / "twin"
    done = vit(home, *sweep_argv(home, first, grid)[2:])
    assert done.returncode == 0, done.stderr
    done = vit(home, *sweep_argv(home, second, grid)[2:])
    assert done.returncode == 0, done.stderr
    groups = {g.out_dir: [p.name for p in g.runs] for g in list_studies(home / "runs") if g.name == "twin"}
    assert set(groups) == {first.absolute(), second.absolute()}
    assert groups[first.absolute()] == ["twin-heads2-seed1"]  # the common case keeps its plain name
    (other,) = groups[second.absolute()]
    assert other != "twin-heads2-seed1" and other.startswith("twin-") and other.endswith("-heads2-seed1")
    assert [r["name"] for r in json.loads((second / "plan.json").read_text())["runs"]] == [other]
    (second / ".vit-tui").unlink()  # as a sweep made before output folders were marked: its plan.json says whose
    again = vit(home, *sweep_argv(home, second, grid)[2:])
    assert again.returncode == 0, again.stderr
    assert "1 runs, 1 finished before (kept)" in again.stdout and "starting" not in again.stdout
    assert (second / ".vit-tui").read_text() == "vit-tui sweep\n"


# --- one process per study -----------------------------------------------------------------------


def test_second_identical_sweep_is_refused_while_the_first_runs(home):
    argv = sweep_argv(home, home / "busy", ["model.heads=2"], extra=("--set", "train.epochs=500"))[2:]
    command = [sys.executable, "-m", "vit_tui", "--home", str(home), *argv]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        deadline = time.monotonic() + 60
        while holder(home / "busy" / ".lock") is None:
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()
            time.sleep(0.05)
        second = vit(home, *argv)
        one_line_refusal(second.returncode, second.stderr, str(home / "busy"))
        assert f"this sweep is running (pid {first.pid})" in second.stderr
    finally:
        first.send_signal(signal.SIGINT)
        out, err = first.communicate(timeout=120)
    assert first.returncode == 130, err
    assert holder(home / "busy" / ".lock") is None


# --- reproduce advises its own options ------------------------------------------------------------


def _coco(root: Path, per_class: dict[str, int] | None) -> Path:
    if per_class is not None:
        make_tiny_coco(root, per_class=per_class)
    else:
        root.mkdir()
    return root


@pytest.mark.parametrize(
    ("per_class", "extra", "says"),
    [
        pytest.param(None, (), "--coco ROOT holding annotations/", id="no-coco-layout"),
        pytest.param({"airplane": 3, "bus": 3, "cat": 3, "dog": 3}, ("--allow-fewer",), "class 'pizza'",
                     id="a-reference-class-missing"),
        pytest.param({"airplane": 3, "bus": 3, "cat": 3, "dog": 3, "pizza": 3}, (), "pass --allow-fewer",
                     id="fewer-images-than-the-reference"),
    ],
)
def test_reproduce_from_coco_advises_its_own_options(tmp_path, capsys, per_class, extra, says):
    root = _coco(tmp_path / "coco", per_class)
    code = main(["--home", str(tmp_path), "reproduce", "--coco", str(root), "--epochs", "1", *extra,
                 *sets(REPRODUCE_SETS)])
    err = capsys.readouterr().err
    assert code == 2 and err.strip().count("\n") == 0, err
    assert says in err
    for foreign in ("--coco-ann", "--coco-images", "--classes", "--per-class", "--allow-empty-classes"):
        assert foreign not in err, err
    assert not (tmp_path / "reproduce").exists() and not (tmp_path / "runs").exists()
