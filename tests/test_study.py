"""``vit-tui sweep``, ``vit-tui reproduce`` and the HTML reports, run as a user runs them.

Every command runs in a subprocess on a tiny three-class dataset with a tiny model, one epoch a
run; the sweep (2 x 2 combinations x 2 seeds) is trained once and shared by the tests that read it.
"""

from __future__ import annotations

import base64
import csv
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
from data_fixtures import SHARED_DATA
from PIL import Image
from scipy import stats
from tui_fixtures import make_tiny_dataset

from vit_tui import config as config_mod
from vit_tui.engine.runs.folder import RunFolder
from vit_tui.engine.runs.listing import list_runs
from vit_tui.study.results import leaderboard, list_studies
from vit_tui.study.stats import compare_seeds, mean_std

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
MODEL = ["model.image_size=32", "model.patch_size=8", "model.embed_dim=16", "model.blocks=1"]
RUN = ["train.epochs=1", "train.batch_size=16", "train.device=cpu", "train.eval_batch_size=64"]
SWEEP_SETS = [*MODEL, "model.attention=mha", "model.ffn=mlp", "model.stem=patch", *RUN, "train.precision=fp32"]
REPRODUCE_SETS = [*MODEL, "model.heads=2", *RUN]
GRID = ["--grid", "model.heads=2,4", "--grid", "train.lr=1e-3,3e-4"]
COCO128 = SHARED_DATA / "coco128"
EXTERNAL_REF = re.compile(r"""(?:src|href)\s*=\s*["'](?!data:)""", re.IGNORECASE)


def vit(home: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "vit_tui", "--home", str(home), *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, env=ENV, timeout=timeout)


def sets(items: list[str]) -> list[str]:
    return [arg for item in items for arg in ("--set", item)]


def sweep_args(home: Path, out: str = "sw", seeds: str = "1,2", grid: list[str] = GRID) -> list[str]:
    return ["sweep", "--data", home / "data" / "tiny", *grid, "--seeds", seeds, "--out", home / out,
            *sets(SWEEP_SETS), "--format", "html"]


def png_dpi(path: Path) -> float:
    with Image.open(path) as image:
        return min(image.info["dpi"])


def assert_self_contained(html_path: Path, md_path: Path) -> None:
    """No reference to another file; one inlined PNG per image the Markdown links."""
    text = html_path.read_text(encoding="utf-8")
    assert not EXTERNAL_REF.search(text), EXTERNAL_REF.search(text)
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text)
    linked = re.findall(r"^!\[[^\]]*\]\(([^)]+)\)$", md_path.read_text(encoding="utf-8"), re.MULTILINE)
    assert len(images) == len(linked) > 0
    for encoded, name in zip(images, linked):
        assert base64.b64decode(encoded) == (md_path.parent / name).read_bytes()


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("study")
    make_tiny_dataset(folder / "data")
    return folder


@pytest.fixture(scope="module")
def swept(home: Path) -> subprocess.CompletedProcess:
    done = vit(home, *sweep_args(home))
    assert done.returncode == 0, done.stderr
    return done


# --- sweep --------------------------------------------------------------------------------------


def test_sweep_writes_a_row_per_combination_with_mean_and_std_of_its_seeds(home, swept):
    rows = list(csv.DictReader((home / "sw" / "sweep.csv").open(encoding="utf-8")))
    assert sorted((r["model.heads"], r["train.lr"]) for r in rows) == [
        ("2", "1e-3"), ("2", "3e-4"), ("4", "1e-3"), ("4", "3e-4")
    ]
    for row in rows:
        runs = [home / "runs" / f"sw-heads{row['model.heads']}-lr{row['train.lr']}-seed{seed}" for seed in (1, 2)]
        summaries = [json.loads((run / "summary.json").read_text()) for run in runs]
        accuracies = [s["best_val_acc"] for s in summaries]
        assert float(row["best_val_acc_mean"]) == pytest.approx(statistics.mean(accuracies))
        assert float(row["best_val_acc_std"]) == pytest.approx(statistics.stdev(accuracies))
        assert float(row["wall_s_mean"]) == pytest.approx(statistics.mean(s["wall_s"] for s in summaries))
        assert int(row["params"]) == summaries[0]["params"] > 0
        assert row["finished"] == "2" and float(row["epochs_mean"]) == 1.0
        assert all(s["status"] == "finished" for s in summaries)
    assert png_dpi(home / "sw" / "sweep.png") >= 150
    markdown = (home / "sw" / "sweep.md").read_text(encoding="utf-8")
    assert "](sweep.png)" in markdown and str(home) not in markdown.split("## Runs")[1]
    assert "Best against runner-up" in markdown


def test_sweep_runs_are_normal_runs_grouped_by_their_study(home, swept):
    names = {info.name for info in list_runs(home / "runs")}
    planned = {f"sw-heads{h}-lr{lr}-seed{s}" for h in (2, 4) for lr in ("1e-3", "3e-4") for s in (1, 2)}
    assert planned <= names
    groups = [g for g in list_studies(home / "runs") if g.name == "sw"]
    assert len(groups) == 1 and groups[0].kind == "sweep"
    assert {p.name for p in groups[0].runs} == planned
    board = leaderboard(home / "sw")
    assert len(board) == 4
    assert [c.mean_std()[0] for c in board] == sorted((c.mean_std()[0] for c in board), reverse=True)


def test_sweep_html_and_compare_html_are_self_contained(home, swept):
    assert_self_contained(home / "sw" / "sweep.html", home / "sw" / "sweep.md")
    first, second = home / "runs" / "sw-heads2-lr1e-3-seed1", home / "runs" / "sw-heads4-lr1e-3-seed1"
    done = vit(home, "compare", first, second, "--out", home / "cmp", "--format", "html")
    assert done.returncode == 0, done.stderr
    assert_self_contained(home / "cmp" / "comparison.html", home / "cmp" / "comparison.md")
    done = vit(home, "report", first, "--format", "html")
    assert done.returncode == 0, done.stderr
    assert_self_contained(first / "report.html", first / "report.md")
    for png in [*first.glob("*.png"), *(home / "cmp").glob("*.png")]:
        assert png_dpi(png) >= 150, png


def test_sweep_rerun_keeps_finished_runs_and_trains_only_the_missing_one(home, swept):
    removed = home / "runs" / "sw-heads4-lr3e-4-seed2"
    kept = sorted(p for p in (home / "runs").glob("sw-*") if p != removed)
    before = {p.name: RunFolder(p).read_summary()["started_ts"] for p in kept}
    import shutil

    shutil.rmtree(removed)
    done = vit(home, *sweep_args(home))
    assert done.returncode == 0, done.stderr
    assert "8 runs, 7 finished before (kept)" in done.stdout
    assert done.stdout.count("starting ") == 1 and "starting sw-heads4-lr3e-4-seed2" in done.stdout
    assert RunFolder(removed).read_summary()["status"] == "finished"
    assert {p.name: RunFolder(p).read_summary()["started_ts"] for p in kept} == before


def test_sweep_refuses_another_sweep_in_the_same_folder(home, swept):
    plan = (home / "sw" / "plan.json").read_text()
    done = vit(home, *sweep_args(home, grid=["--grid", "model.heads=2,4"]))
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "holds another sweep" in done.stderr
    assert (home / "sw" / "plan.json").read_text() == plan


@pytest.mark.parametrize(
    ("grid", "named"),
    [
        ("model.heads=2,two", "model.heads"),
        ("model.hedas=2,4", "model.hedas"),
        ("model.heads=3,4", "model.embed_dim"),  # 16 is not divisible by 3: refused before any run
        ("train.seed=1,2", "--grid"),
    ],
)
def test_sweep_bad_grid_is_one_line_naming_the_field(home, grid, named):
    done = vit(home, *sweep_args(home, out="bad", grid=["--grid", grid]))
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"vit-tui: {named}") and done.stderr.strip().count("\n") == 0
    assert "Traceback" not in done.stderr
    assert not (home / "bad" / "plan.json").exists()


# Enough epochs that the signal, sent after the first, lands before the run ends on a fast, idle machine.
SIGNAL_EPOCHS = 30


def test_sweep_interrupted_by_a_signal_resumes_the_interrupted_run(home):
    longer = [*sweep_args(home, out="sig", seeds="1,2", grid=["--grid", "model.heads=2"]), "--set", f"train.epochs={SIGNAL_EPOCHS}"]
    command = [sys.executable, "-m", "vit_tui", "--home", str(home), *map(str, longer)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    second = home / "runs" / "sig-heads2-seed2"
    deadline = time.monotonic() + 120
    # Stopped once its first epoch is saved: the rest of the run (and the study) is still ahead.
    while not (second / "metrics.csv").is_file() or len((second / "metrics.csv").read_text().splitlines()) < 2:
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "run the same command again to continue" in err
    first_started = RunFolder(home / "runs" / "sig-heads2-seed1").read_summary()["started_ts"]
    assert RunFolder(second).read_summary()["status"] == "interrupted"
    done = vit(home, *longer)
    assert done.returncode == 0, done.stderr
    assert "2 runs, 1 finished before (kept)" in done.stdout and "resuming sig-heads2-seed2" in done.stdout
    assert RunFolder(second).read_summary()["status"] == "finished" and RunFolder(second).read_summary()["epochs_done"] == SIGNAL_EPOCHS
    assert RunFolder(home / "runs" / "sig-heads2-seed1").read_summary()["started_ts"] == first_started


def test_sweep_function_reports_its_progress_as_events(home):
    """What the app calls: ``study.api.sweep`` with a sink, the study's events around the engine's."""
    from vit_tui.config import apply_overrides
    from vit_tui.engine.telemetry.events import RunFinished, RunStarted
    from vit_tui.presets import preset
    from vit_tui.study.api import sweep
    from vit_tui.study.events import JobEnded, JobStarted, StudyFinished, StudyStarted

    base = apply_overrides(preset("fast"), [*SWEEP_SETS, f"data.dataset={home / 'data' / 'tiny'}"])
    sink: list = []
    report = sweep(home, base, [("model.heads", ["2"])], [3], out=home / "api", sink=sink.append)
    assert report.status == "finished" and report.statuses == {"api-heads2-seed3": "finished"}
    kinds = [type(e) for e in sink if type(e) in (StudyStarted, JobStarted, RunStarted, RunFinished,
                                                          JobEnded, StudyFinished)]
    assert kinds == [StudyStarted, JobStarted, RunStarted, RunFinished, JobEnded, StudyFinished]
    assert [e for e in sink if isinstance(e, StudyFinished)][0].files == tuple(str(p) for p in report.files)
    assert {Path(p).name for p in [e for e in sink if isinstance(e, StudyFinished)][0].files} == {"sweep.csv", "sweep.png", "sweep.md"}


# --- reproduce ----------------------------------------------------------------------------------


REPRODUCE_FILES = ("loss_curves.png", "accuracy_curves.png", "confusion_matrices.png", "comparison.md")


def check_reproduction(out: Path, seeds: int) -> str:
    for name in REPRODUCE_FILES:
        assert (out / name).is_file(), name
        if name.endswith(".png"):
            assert png_dpi(out / name) >= 150
    markdown = (out / "comparison.md").read_text(encoding="utf-8")
    table = markdown.split("\n\n")[2]
    assert "| reference | dlstudio |" in table and "| reference-einsum | einsum |" in table
    assert ("±" in table) == (seeds > 1)
    for name in REPRODUCE_FILES[:3]:
        assert f"]({name})" in markdown
    return markdown


def test_reproduce_on_an_existing_dataset_writes_figures_and_comparison(home):
    done = vit(home, "reproduce", "--data", home / "data" / "tiny", "--epochs", "1", "--seeds", "1,2",
               "--out", home / "rep", *sets(REPRODUCE_SETS), "--format", "html")
    assert done.returncode == 0, done.stderr
    markdown = check_reproduction(home / "rep", seeds=2)
    assert "run two or more seeds" not in markdown and "seed-to-seed spread" in markdown
    assert_self_contained(home / "rep" / "comparison.html", home / "rep" / "comparison.md")
    runs = {p.name for p in (home / "runs").glob("rep-*")}
    assert runs == {f"rep-{v}-seed{s}" for v in ("reference", "reference-einsum") for s in (1, 2)}
    attention = {json.loads((home / "runs" / r / "study.json").read_text())["label"] for r in runs}
    assert attention == {"reference", "reference-einsum"}


def test_reproduce_with_cnn_adds_the_cnn_to_the_runs_figures_and_comparison(home):
    done = vit(home, "reproduce", "--data", home / "data" / "tiny", "--epochs", "1", "--seeds", "1", "--with-cnn",
               "--out", home / "rep-cnn", *sets([*REPRODUCE_SETS, "model.width=4"]))  # fmt: skip
    assert done.returncode == 0, done.stderr
    markdown = check_reproduction(home / "rep-cnn", seeds=1)
    assert "| resnet18 | none (CNN) |" in markdown.split("\n\n")[2]
    assert "**reference-einsum " in markdown and " vs resnet18 " in markdown  # a verdict per pair
    runs = {p.name for p in (home / "runs").glob("rep-cnn-*")}
    assert runs == {f"rep-cnn-{v}-seed1" for v in ("reference", "reference-einsum", "resnet18")}
    cnn = config_mod.load(home / "runs" / "rep-cnn-resnet18-seed1" / "config.toml")
    assert cnn.model.arch == "resnet18" and cnn.model.width == 4 and cnn.train.optimizer == "adam"
    with Image.open(home / "rep-cnn" / "accuracy_curves.png") as image:
        assert image.width > 2 * image.height  # three panels side by side


def test_reproduce_refuses_to_override_the_attention_it_compares(home):
    done = vit(home, "reproduce", "--data", home / "data" / "tiny", "--set", "model.attention=mha",
               "--out", home / "rep-bad")
    assert done.returncode == 2 and done.stderr.startswith("vit-tui: --set: model.attention")


@pytest.mark.skipif(not COCO128.is_dir(), reason="shared/data/coco128 is not here")
def test_reproduce_builds_the_reference_dataset_from_coco(tmp_path):
    done = vit(tmp_path, "reproduce", "--coco", COCO128, "--allow-fewer", "--epochs", "1", "--seeds", "1",
               "--out", tmp_path / "rep", *sets(REPRODUCE_SETS))
    assert done.returncode == 0, done.stderr
    manifest = json.loads((tmp_path / "data" / "coco5" / "manifest.json").read_text())
    assert [c["name"] if isinstance(c, dict) else c for c in manifest["classes"]] == [
        "airplane", "bus", "cat", "dog", "pizza"
    ]
    assert manifest["seed"] == 5 and manifest["image_size"] == 64
    check_reproduction(tmp_path / "rep", seeds=1)


# --- the comparison rule ------------------------------------------------------------------------


def test_mean_std_is_the_sample_standard_deviation():
    values = [0.51, 0.55, 0.49, 0.6]
    assert mean_std(values) == pytest.approx((statistics.mean(values), statistics.stdev(values)))
    assert mean_std([0.7]) == (0.7, 0.0)


def test_compare_seeds_follows_welchs_t_test():
    apart, spread = [0.60, 0.61, 0.62], [0.50, 0.51, 0.52]
    verdict = compare_seeds("a", apart, "b", spread)
    expected = stats.ttest_ind(apart, spread, equal_var=False).pvalue
    assert verdict.p_value == pytest.approx(expected) and verdict.exceeds is True
    noisy = compare_seeds("a", [0.50, 0.60, 0.55], "b", [0.52, 0.58, 0.49])
    assert noisy.p_value == pytest.approx(stats.ttest_ind([0.50, 0.60, 0.55], [0.52, 0.58, 0.49],
                                                          equal_var=False).pvalue)
    assert noisy.exceeds is False and "within the seed-to-seed spread" in noisy.text
    single = compare_seeds("a", [0.6], "b", [0.5])
    assert single.exceeds is None and "two or more seeds" in single.text
