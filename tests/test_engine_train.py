"""The training engine in-process: run folder, determinism, resume equality, failures, bad input."""

from __future__ import annotations

import csv
import json
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from data_fixtures import one_thread  # noqa: F401 - an autouse fixture
from PIL import Image

from vit_tui import config as config_mod
from vit_tui.config import ConfigError, RunConfig, apply_overrides
from vit_tui.data.stage import write_dataset
from vit_tui.engine.infer.evaluate import evaluate_run
from vit_tui.engine.infer.predict import predict_paths
from vit_tui.engine.runs.checkpoint import load_model_state
from vit_tui.engine.runs.folder import RunFolder
from vit_tui.engine.runs.listing import list_runs
from vit_tui.engine.runs.tables import METRIC_FIELDS
from vit_tui.engine.telemetry.events import (
    EVENT_TYPES,
    CheckpointSaved,
    EpochEnded,
    EvalDone,
    RunFailed,
    RunFinished,
    RunStarted,
    StepsLogged,
    from_json,
    null_sink,
    to_json,
)
from vit_tui.engine.train.optimizer import lr_factor
from vit_tui.engine.train.trainer import train
from vit_tui.errors import UserError
from vit_tui.model.vit import build_model

CLASSES = ["stripes", "dots", "plain"]
# Every source of randomness and every stateful piece is on: dropout, augmentation, a warm-up
# cosine schedule, AdamW with decay, label smoothing and clipping.
TINY = [
    "model.embed_dim=32",
    "model.heads=2",
    "model.blocks=1",
    "model.image_size=32",
    "model.patch_size=8",
    "model.ffn=mlp",
    "model.attention=mha",
    "model.dropout=0.1",
    "train.epochs=2",
    "train.batch_size=8",
    "train.optimizer=adamw",
    "train.lr=2e-3",
    "train.weight_decay=0.05",
    "train.schedule=cosine",
    "train.warmup_epochs=0.5",
    "train.label_smoothing=0.1",
    "train.grad_clip=1.0",
    "train.augment=flip-crop",
    "train.device=cpu",
    "train.deterministic=true",
]
RUN_FILES = (
    "config.toml",
    "metrics.csv",
    "steps.csv",
    "events.jsonl",
    "summary.json",
    "confusion_matrix.csv",
    "confusion_matrix.png",
    "curves.png",
    "report.md",
    "evaluation.json",
    "weights/best.pt",
    "weights/last.pt",
)
TRAIN_IMAGES, VAL_IMAGES = 96, 48
STEPS_PER_EPOCH = TRAIN_IMAGES // 8


def patterned_images(count: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Three learnable patterns (stripes, dots, plain) under random colours and noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % 3
    images = rng.integers(0, 50, size=(count, size, size, 3)).astype(np.int16)
    yy, xx = np.mgrid[0:size, 0:size]
    masks = [(yy // 4) % 2 == 0, ((yy % 8) < 3) & ((xx % 8) < 3), np.zeros((size, size), bool)]
    for i, label in enumerate(labels):
        colour = rng.integers(80, 200, size=3)
        images[i][masks[label]] += colour
        images[i] += rng.integers(0, 40)
    return images.clip(0, 255).astype(np.uint8), labels


def make_dataset(path: Path, train: int, val: int, size: int = 32, classes: list[str] = CLASSES) -> Path:
    return write_dataset(
        path,
        classes,
        {"train": patterned_images(train, size, 1), "val": patterned_images(val, size, 2)},
        name=path.name,
        source={"kind": "test"},
    )



@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("data") / "tiny", TRAIN_IMAGES, VAL_IMAGES)


def tiny_config(dataset: Path, *extra: str) -> RunConfig:
    return config_mod.validate(apply_overrides(RunConfig(preset="test"), [f"data.dataset={dataset}", *TINY, *extra]))


@pytest.fixture(scope="module")
def baseline(tmp_path_factory, dataset):
    root = tmp_path_factory.mktemp("runs")
    sink: list = []
    cfg = tiny_config(dataset)
    result = train(cfg, sink.append, runs_root=root, name="base")
    return cfg, result, sink


class CancelAfter:
    """A cancel flag that turns on after ``steps`` checks (the trainer checks once per step)."""

    def __init__(self, steps: int) -> None:
        self.steps = steps
        self.calls = 0

    def is_set(self) -> bool:
        self.calls += 1
        return self.calls > self.steps


def metric_values(run_dir: Path) -> list[tuple]:
    keys = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr")
    return [tuple(row[k] for k in keys) for row in RunFolder(run_dir).read_metrics()]


def test_run_folder_is_complete_and_reloadable(baseline, dataset):
    cfg, result, sink = baseline
    run = result.run_dir
    assert result.status == "finished" and run.name == "base"
    for name in RUN_FILES:
        assert (run / name).is_file(), name
    assert not (run / "weights" / "resume.pt").exists()  # a finished run keeps only best and last
    assert config_mod.load(run / "config.toml") == cfg

    metrics = RunFolder(run).read_metrics()
    assert [m["epoch"] for m in metrics] == [1, 2]
    assert tuple(metrics[0]) == METRIC_FIELDS
    assert all(0.0 <= m["val_acc"] <= 1.0 and m["seconds"] > 0 for m in metrics)
    steps = RunFolder(run).read_steps()
    assert steps and steps[-1]["global_step"] == 2 * STEPS_PER_EPOCH
    assert [s["global_step"] for s in steps] == sorted({s["global_step"] for s in steps})

    summary = RunFolder(run).read_summary()
    assert summary["status"] == "finished" and summary["classes"] == CLASSES
    assert summary["epochs_done"] == 2 and summary["params"] > 0 and summary["pid"] > 0
    assert summary["best_val_acc"] == max(m["val_acc"] for m in metrics)
    assert summary["best_epoch"] == result.best_epoch

    lines = (run / "events.jsonl").read_text().splitlines()
    events = [from_json(line) for line in lines]
    started = next(i for i, e in enumerate(sink) if isinstance(e, RunStarted))
    assert events == sink[started:]  # the file has everything from the start on
    assert isinstance(events[0], RunStarted) and isinstance(events[-1], RunFinished)
    assert sum(isinstance(e, EpochEnded) for e in events) == 2

    with open(run / "confusion_matrix.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["true\\predicted", *CLASSES]
    assert [r[0] for r in rows[1:]] == CLASSES
    assert sum(int(v) for r in rows[1:] for v in r[1:]) == VAL_IMAGES

    report = (run / "report.md").read_text()
    for needle in ("| class | precision | recall | F1 | support |", "(curves.png)", "(confusion_matrix.png)"):
        assert needle in report
    assert "train.lr" in report and "stripes" in report
    for png in ("curves.png", "confusion_matrix.png"):
        with Image.open(run / png) as image:
            assert image.format == "PNG" and image.width > 300 and image.height > 300

    for kind in ("best", "last"):
        data = torch.load(run / "weights" / f"{kind}.pt", weights_only=True)
        assert data["classes"] == CLASSES and config_mod.loads(data["config"]) == cfg
        model = build_model(cfg.model, len(CLASSES))
        model.load_state_dict(data["model"])


def test_same_config_gives_identical_metrics(baseline, tmp_path):
    cfg, first, _ = baseline
    second = train(cfg, null_sink, runs_root=tmp_path)
    assert metric_values(second.run_dir) == metric_values(first.run_dir)
    a = torch.load(first.run_dir / "weights/last.pt", weights_only=True)["model"]
    b = torch.load(second.run_dir / "weights/last.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_interrupted_and_resumed_twice_matches_uninterrupted(baseline, tmp_path):
    cfg, base, _ = baseline
    sink: list = []
    stopped = train(cfg, sink.append, CancelAfter(5), runs_root=tmp_path, name="r")  # mid epoch 1
    run = stopped.run_dir
    assert stopped.status == "interrupted"
    assert RunFolder(run).read_summary()["status"] == "interrupted"
    assert [e for e in sink if isinstance(e, RunFinished)][-1].status == "interrupted"
    assert [e for e in sink if isinstance(e, CheckpointSaved)][-1].kind == "resume"
    resume_state = torch.load(run / "weights/resume.pt", weights_only=True)
    assert (resume_state["epoch"], resume_state["step"]) == (1, 5)
    # An unfinished run's "last" weights are those of its resumable checkpoint.
    assert evaluate_run(run, checkpoint="last", device="cpu").confusion.sum() == VAL_IMAGES

    again = train(cfg, null_sink, CancelAfter(STEPS_PER_EPOCH + 2), resume=run)  # into epoch 2
    assert again.status == "interrupted" and len(RunFolder(run).read_metrics()) == 1
    done_sink: list = []
    done = train(cfg, done_sink.append, resume=run)
    assert done.status == "finished"
    assert [e for e in done_sink if isinstance(e, RunStarted)][0].start_epoch == 2
    assert metric_values(run) == metric_values(base.run_dir)
    a = torch.load(base.run_dir / "weights/last.pt", weights_only=True)["model"]
    b = torch.load(run / "weights/last.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    steps = [s["global_step"] for s in RunFolder(run).read_steps()]
    assert steps == sorted(set(steps))  # no log point repeated across the resumes


def test_nan_loss_fails_keeps_last_good_checkpoint_and_can_resume(dataset, tmp_path):
    cfg = tiny_config(dataset)
    first = train(cfg, null_sink, CancelAfter(STEPS_PER_EPOCH), runs_root=tmp_path, name="nan")
    run = first.run_dir
    assert first.status == "interrupted" and len(RunFolder(run).read_metrics()) == 1
    good = torch.load(run / "weights/resume.pt", weights_only=True)

    sink: list = []
    failed = train(apply_overrides(cfg, ["train.lr=1e30"]), sink.append, resume=run)
    assert failed.status == "failed"
    assert "lower train.lr" in failed.hint and "nan" in failed.message.lower() + "inf"
    assert [e for e in sink if isinstance(e, RunFailed)] and RunFolder(run).read_summary()["status"] == "failed"
    kept = torch.load(run / "weights/resume.pt", weights_only=True)
    assert all(torch.equal(good["model"][k], kept["model"][k]) for k in good["model"])
    best = torch.load(run / "weights/best.pt", weights_only=True)["model"]
    assert all(torch.isfinite(v).all() for v in best.values())

    recovered = train(cfg, null_sink, resume=run)
    assert recovered.status == "finished" and len(RunFolder(run).read_metrics()) == 2


def test_bad_input_is_a_user_error_before_any_folder(dataset, tmp_path):
    root = tmp_path / "runs"
    with pytest.raises(UserError, match="no such dataset"):
        train(tiny_config(tmp_path / "missing"), null_sink, runs_root=root)
    with pytest.raises(ConfigError, match="train.batch_size"):
        train(tiny_config(dataset, "train.batch_size=500"), null_sink, runs_root=root)
    with pytest.raises(ConfigError, match="model.embed_dim"):
        train(replace(tiny_config(dataset), model=replace(tiny_config(dataset).model, heads=3)), runs_root=root)
    assert not root.exists() or not any(root.iterdir())

    stopped = train(tiny_config(dataset), null_sink, CancelAfter(2), runs_root=root, name="s")
    with pytest.raises(UserError, match="model.embed_dim"):
        train(tiny_config(dataset, "model.embed_dim=64"), null_sink, resume=stopped.run_dir)
    with pytest.raises(UserError, match="already exists"):
        train(tiny_config(dataset), null_sink, runs_root=root, name="s")


def test_checkpoint_of_another_shape_is_one_clear_error():
    small = build_model(RunConfig().model.__class__(image_size=32, patch_size=8, embed_dim=32, heads=2, blocks=1), 3)
    other = build_model(RunConfig().model.__class__(image_size=32, patch_size=8, embed_dim=64, heads=2, blocks=1), 3)
    with pytest.raises(UserError, match="another model shape"):
        load_model_state(small, other.state_dict(), "best.pt")


def test_evaluation_and_prediction_of_a_run(baseline, dataset):
    cfg, result, sink = baseline
    evaluation = evaluate_run(result.run_dir, device="cpu")
    eval_done = [e for e in sink if isinstance(e, EvalDone)][0]
    assert evaluation.accuracy == pytest.approx(eval_done.accuracy)
    assert evaluation.confusion.tolist() == [list(row) for row in eval_done.confusion]
    assert [r["class"] for r in evaluation.per_class] == CLASSES
    assert sum(r["support"] for r in evaluation.per_class) == VAL_IMAGES
    probabilities = [m.probability for m in evaluation.mistakes]
    assert probabilities == sorted(probabilities, reverse=True)
    assert all(m.true != m.predicted and m.file for m in evaluation.mistakes)
    stored = json.loads((result.run_dir / "evaluation.json").read_text())
    assert stored["accuracy"] == pytest.approx(evaluation.accuracy)

    files = sorted((dataset / "val").glob("*.jpg"))[:2]
    ranked = [list(p.top) for p in predict_paths(result.run_dir, files, top_k=2)]
    assert len(ranked) == 2 and all(len(r) == 2 for r in ranked)
    for row in ranked:
        assert {name for name, _ in row} <= set(CLASSES) and row[0][1] >= row[1][1]
    with pytest.raises(UserError, match="not found"):
        predict_paths(result.run_dir, [dataset / "nope.jpg"])


def test_runs_listing_and_follower(baseline, tmp_path):
    _, result, sink = baseline
    infos = list_runs(result.run_dir.parent)
    info = next(i for i in infos if i.name == "base")
    assert (info.status, info.epochs_done, info.epochs, info.preset) == ("finished", 2, 2, "test")
    assert info.best_val_acc == result.best_val_acc and info.classes == CLASSES

    summary = RunFolder(result.run_dir).read_summary()
    dead = tmp_path / "dead"
    dead.mkdir()
    (dead / "config.toml").write_text((result.run_dir / "config.toml").read_text())
    (dead / "summary.json").write_text(json.dumps({**summary, "status": "running", "pid": 2**22 + 12345}))
    assert next(i for i in list_runs(tmp_path) if i.name == "dead").status == "interrupted"

    follower = RunFolder(dead).follow()
    assert follower.poll() == []
    event = [e for e in sink if isinstance(e, StepsLogged)][0]
    with open(dead / "events.jsonl", "w") as handle:
        handle.write(to_json(event) + "\n" + to_json(event)[:20])
    assert follower.poll() == [event]
    with open(dead / "events.jsonl", "a") as handle:
        handle.write(to_json(event)[20:] + "\n")
    assert follower.poll() == [event]


def test_every_event_round_trips_through_json(baseline):
    _, _, sink = baseline
    events = [*sink, RunFailed(run_dir="runs/x", message="loss became nan", hint="lower train.lr")]
    assert {type(e).__name__ for e in events} == set(EVENT_TYPES)
    for event in events:
        assert from_json(to_json(event)) == event


def test_warmup_cosine_schedule():
    factors = [lr_factor(s, 10, 100, "cosine") for s in range(100)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(factors[9:], factors[10:]))
    assert factors[-1] < 0.01 and lr_factor(50, 10, 100, "constant") == 1.0


def test_cancel_event_before_the_first_step_interrupts_cleanly(dataset, tmp_path):
    cancel = threading.Event()
    cancel.set()
    result = train(tiny_config(dataset), null_sink, cancel, runs_root=tmp_path)
    assert result.status == "interrupted" and RunFolder(result.run_dir).read_summary()["status"] == "interrupted"
    assert (result.run_dir / "weights/resume.pt").is_file()


def test_out_of_memory_fails_with_a_smaller_batch_suggested(dataset, tmp_path, monkeypatch):
    # A CUDA allocation failure cannot happen on a CPU test machine, so the step raises the real
    # exception type a CUDA step raises when memory runs out.
    from vit_tui.engine.train.step import TrainStep

    def out_of_memory(self, batch_indices):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(TrainStep, "_update", out_of_memory)
    sink: list = []
    result = train(tiny_config(dataset), sink.append, runs_root=tmp_path)
    assert result.status == "failed" and "out of memory at batch size 8" in result.message
    assert "train.batch_size=4" in result.hint
    assert [e for e in sink if isinstance(e, RunFailed)][0].hint == result.hint
    assert RunFolder(result.run_dir).read_summary()["status"] == "failed"
