"""``vit-tui doctor`` on the CPU (its probes, its table, its JSON); on a GPU every probe must pass."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from data_fixtures import one_thread  # noqa: F401 - an autouse fixture

from vit_tui import cli
from vit_tui.engine.doctor import FAIL, PASS, SKIP, Check, Report, Skipped, diagnose, run_probe
from vit_tui.views.doctor import plain, render


@pytest.fixture(scope="module")
def cpu_report(tmp_path_factory) -> tuple[int, str, dict]:
    """One real ``vit-tui doctor --device cpu --json FILE`` in a subprocess, as a user runs it."""
    out = tmp_path_factory.mktemp("doctor") / "doctor.json"
    done = subprocess.run([sys.executable, "-m", "vit_tui", "doctor", "--device", "cpu", "--json", str(out)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    return done.returncode, done.stdout + done.stderr, json.loads(out.read_text(encoding="utf-8"))


def test_on_the_cpu_doctor_passes_what_applies_and_says_what_it_could_not_check(cpu_report) -> None:
    code, text, report = cpu_report
    assert code == 0, text
    statuses = {c["name"]: c["status"] for c in report["checks"]}
    assert statuses == {
        "train steps (eager)": PASS,
        "captured == eager, every augmentation": SKIP,
        "bf16 step": PASS,
        "streamed == resident batches": PASS,
        "NVML line": SKIP,
        "NCCL all-reduce, 2 processes": SKIP,
    }
    assert all(c["seconds"] <= 20 for c in report["checks"])
    assert report["device"] == "cpu" and report["exit_code"] == 0
    assert report["facts"]["torch"] == torch.__version__ and report["facts"]["cublas_workspace_config"]
    assert "✓ " in text or "✓ │" in text
    assert "not checked here: captured == eager, every augmentation, NVML line" in " ".join(text.split())
    assert "Traceback" not in text


def test_a_failed_probe_makes_the_exit_code_1_and_the_table_says_why() -> None:
    report = Report("cpu", {"torch": "x", "cuda_runtime": None}, [Check("a", PASS, "fine"), Check("b", FAIL, "broke")])
    assert report.exit_code == 1
    text = plain(report.as_dict())
    assert "✗ b: broke" in text and "1 passed, 1 failed: b" in text
    assert "GPUs: none visible" in text
    assert "✗" in render(report.as_dict())


def test_a_probe_is_cut_at_its_time_limit_and_a_raising_or_skipped_probe_is_reported() -> None:
    started = time.perf_counter()
    slow = run_probe("slow", lambda: time.sleep(5) or "done", limit_s=0.2)
    assert time.perf_counter() - started < 2
    assert slow.status == FAIL and slow.detail == "took longer than 0.2 s"

    def broken() -> str:
        raise RuntimeError("CUDA error: an illegal memory access\nsecond line")

    def elsewhere() -> str:
        raise Skipped("needs CUDA")

    assert run_probe("broken", broken).detail == "RuntimeError: CUDA error: an illegal memory access"
    assert (run_probe("skip", elsewhere).status, run_probe("skip", elsewhere).detail) == (SKIP, "needs CUDA")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--device", "cuda:7"], "vit-tui: train.device: cuda:7"),
        (["--device", "tpu"], "vit-tui: train.device: unknown device 'tpu'"),
        (["--json", "{tmp}"], "is a folder; name a file, e.g. doctor.json"),
        (["--json", "{tmp}/fifo"], "--json {tmp}/fifo: is a FIFO (named pipe); name a regular file"),
    ],
    ids=["cuda-missing", "unknown-device", "json-is-a-folder", "json-is-a-fifo"],
)
def test_bad_input_is_one_line_and_exit_2_before_any_probe(args, needle, tmp_path, capsys, monkeypatch) -> None:
    if args[0] == "--device" and args[1].startswith("cuda") and torch.cuda.is_available():
        pytest.skip("CUDA is here")
    os.mkfifo(tmp_path / "fifo")
    monkeypatch.setattr("vit_tui.engine.doctor.PROBES", ())  # a refused start must not get as far as probing
    code = cli.main(["doctor", *[a.format(tmp=tmp_path) for a in args]])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and needle.format(tmp=tmp_path) in err, err
    assert [p.name for p in tmp_path.iterdir()] == ["fifo"]


def test_the_doctor_command_imports_neither_rich_nor_textual_nor_torch_to_build_the_parser() -> None:
    code = (
        "import sys\nfrom vit_tui import cli\ncli.build_parser()\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'rich', 'textual', 'torch'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_without_rich_the_table_is_plain_text(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "rich.console", None)  # as on a bare GPU box
    report = Report("cpu", {"torch": "2", "cuda_runtime": None}, [Check("a", SKIP, "needs CUDA")]).as_dict()
    assert render(report) == plain(report)
    assert "— a: needs CUDA" in render(report)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_a_gpu_every_probe_that_applies_passes(tmp_path: Path) -> None:
    report = diagnose("cuda")
    statuses = {c.name: (c.status, c.detail) for c in report.checks}
    assert not report.failed, statuses
    assert statuses["captured == eager, every augmentation"][0] == PASS
    assert statuses["NVML line"][0] == PASS or "nvidia-ml-py" in statuses["NVML line"][1]
    assert report.facts["gpus"] and report.facts["gpus"][0]["capability"]

