"""``train.log_to``: TensorBoard event files and offline W&B runs written from the event stream.

Tiny runs train in-process; their TensorBoard files are read back with tensorboard's own
``EventAccumulator`` and compared with the run's ``metrics.csv`` and ``steps.csv``. The W&B test
runs offline and skips when wandb is not installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from data_fixtures import one_thread  # noqa: F401 - an autouse fixture
from tui_fixtures import TINY_SETTINGS

from vit_tui.config import ConfigError, RunConfig, apply_overrides, dumps, loads, validate
from vit_tui.data.demo import make_demo
from vit_tui.engine.runs.folder import RunFolder
from vit_tui.engine.telemetry.events import PhaseChanged, RunStarted
from vit_tui.engine.train.trainer import train

EPOCH_TAGS = ("train/loss", "train/acc", "val/loss", "val/acc", "train/lr", "train/images_per_s")
STEP_TAGS = ("step/loss", "step/acc", "step/lr", "step/images_per_s")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return make_demo(tmp_path_factory.mktemp("data") / "demo", per_class_train=8, per_class_val=4, size=32, workers=1)


def tracked_config(dataset: Path, log_to: str, epochs: int = 1) -> RunConfig:
    settings = [
        f"data.dataset={dataset}",
        *TINY_SETTINGS,
        "train.batch_size=8",
        f"train.epochs={epochs}",
        f"train.log_to={log_to}",
    ]
    return validate(apply_overrides(RunConfig(), settings))


def test_tensorboard_files_read_back_with_the_runs_curves(dataset, tmp_path):
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    result = train(tracked_config(dataset, "tensorboard", epochs=2), runs_root=tmp_path, name="tb-run")
    assert result.status == "finished"
    reader = event_accumulator.EventAccumulator(str(result.run_dir / "tb"), size_guidance={"scalars": 0, "images": 0})
    reader.Reload()
    tags = reader.Tags()

    metrics = RunFolder(result.run_dir).read_metrics()
    columns = {"train/lr": "lr", "train/images_per_s": "images_per_s"}
    for tag in EPOCH_TAGS:
        column = columns.get(tag, tag.replace("/", "_"))
        points = reader.Scalars(tag)
        assert [p.step for p in points] == [row["epoch"] for row in metrics] == [1, 2]
        assert [p.value for p in points] == pytest.approx([row[column] for row in metrics], rel=1e-5)
    steps = RunFolder(result.run_dir).read_steps()
    for tag in STEP_TAGS:
        points = reader.Scalars(tag)
        assert [p.step for p in points] == [row["global_step"] for row in steps]
    assert [p.value for p in reader.Scalars("step/loss")] == pytest.approx([row["loss"] for row in steps], rel=1e-5)

    summary = RunFolder(result.run_dir).read_summary()
    assert reader.Scalars("hparam/best_val_acc")[0].value == pytest.approx(summary["best_val_acc"])
    assert set(tags["images"]) == {"data/samples", "eval/confusion_matrix", "eval/curves"}
    assert reader.Images("eval/confusion_matrix")[0].width > 100
    assert "_hparams_/session_start_info" in reader.PluginTagToContent("hparams")
    assert "config/text_summary" in tags["tensors"]


def test_wandb_writes_an_offline_run_in_the_run_folder(dataset, tmp_path, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.delenv("WANDB_MODE", raising=False)
    result = train(tracked_config(dataset, "wandb"), runs_root=tmp_path, name="wb-run")
    assert result.status == "finished"
    offline = list((result.run_dir / "wandb").glob("offline-run-*"))
    assert len(offline) == 1
    records = list(offline[0].glob("run-*.wandb"))
    assert len(records) == 1
    data = records[0].read_bytes()
    for tag in (*EPOCH_TAGS, *STEP_TAGS, "hparam/best_val_acc"):
        assert tag.encode() in data, tag


def test_a_tracker_that_cannot_start_warns_once_and_training_goes_on(dataset, tmp_path):
    pytest.importorskip("tensorboard")

    def block_the_tb_folder(event) -> None:
        # A file where the event files should go: the writer fails for real, as on a broken disk.
        if isinstance(event, RunStarted):
            (Path(event.run_dir) / "tb").write_text("in the way")

    events: list = []
    result = train(
        tracked_config(dataset, "tensorboard"),
        lambda e: (block_the_tb_folder(e), events.append(e)),
        runs_root=tmp_path,
        name="blocked",
    )
    assert result.status == "finished"
    warnings = [e.detail for e in events if isinstance(e, PhaseChanged) and e.phase == "warning"]
    assert len(warnings) == 1
    assert warnings[0].startswith("tensorboard logging could not start (") and "training goes on" in warnings[0]
    assert warnings[0] in (result.run_dir / "events.jsonl").read_text()


def test_log_to_from_set_toml_and_its_errors(monkeypatch):
    cfg = apply_overrides(RunConfig(), ["train.log_to=tensorboard, wandb"])
    assert cfg.train.log_to == ("tensorboard", "wandb")
    assert loads(dumps(cfg)).train.log_to == ("tensorboard", "wandb")
    assert apply_overrides(cfg, ["train.log_to="]).train.log_to == ()
    as_the_form_shows_it = "'tensorboard', 'wandb'"
    assert apply_overrides(RunConfig(), [f"train.log_to={as_the_form_shows_it}"]).train.log_to == cfg.train.log_to
    with pytest.raises(ConfigError, match=r"train\.log_to: unknown tracker 'tensorbord' \(did you mean tensorboard"):
        validate(apply_overrides(RunConfig(), ["train.log_to=tensorbord"]))
    with pytest.raises(ConfigError, match="twice"):
        validate(apply_overrides(RunConfig(), ["train.log_to=tensorboard,tensorboard"]))
    monkeypatch.setitem(sys.modules, "wandb", None)  # what an absent package looks like to the import system
    with pytest.raises(ConfigError, match=r"wandb is not installed; run pip install 'vit-tui\[trackers\]'"):
        validate(apply_overrides(RunConfig(), ["train.log_to=wandb"]))


def test_cli_refuses_an_unknown_tracker_in_one_line(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "vit_tui", "--home", str(tmp_path), "train", "--set", "train.log_to=mlflow"]
    out = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "vit-tui: train.log_to: unknown tracker 'mlflow'; choose from tensorboard, wandb"
    ]
    assert not (tmp_path / "runs").exists()
