"""Fixed inputs for the app's tests: a tiny dataset and run folders with known contents.

Run folders are written with the engine's own writers (config, summary, metrics, events file
and ``evaluation.json``) and fixed numbers, so screens that show them are the same on every
machine and every day: no clocks, no temporary paths on screen.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from vit_tui import config as config_mod
from vit_tui.config import RunConfig, apply_overrides
from vit_tui.data.stage import write_dataset
from vit_tui.engine.infer.metrics import Evaluation, Mistake, save_evaluation
from vit_tui.engine.runs.folder import RunFolder
from vit_tui.engine.telemetry.events import EpochEnded, EvalDone, RunFinished, RunStarted, StepsLogged
from vit_tui.engine.telemetry.sinks import FileSink
from vit_tui.presets import preset

CLASSES = ["circle", "square", "triangle"]
TINY_SETTINGS = [
    "model.image_size=32",
    "model.patch_size=8",
    "model.embed_dim=16",
    "model.heads=2",
    "model.blocks=1",
    "model.attention=mha",
    "model.ffn=mlp",
    "train.epochs=1",
    "train.batch_size=16",
    "train.device=cpu",
    "train.precision=fp32",
    "train.deterministic=true",
    "train.eval_batch_size=64",
]


def tiny_config(dataset: str = "data/tiny", extra: list[str] | None = None) -> RunConfig:
    """The fast preset shrunk to a model that trains one epoch in about a second on a CPU."""
    cfg = apply_overrides(preset("fast"), [*TINY_SETTINGS, *(extra or [])])
    return replace(cfg, data=replace(cfg.data, dataset=dataset))


def _draw(label: int, index: int, size: int) -> np.ndarray:
    """A plain picture per class: a filled disc, a square or a triangle on a grey ramp."""
    yy, xx = np.mgrid[0:size, 0:size]
    image = np.zeros((size, size, 3), dtype=np.uint8)
    image[...] = (40 + 3 * xx // 2)[..., None]
    c = size / 2 + (index % 3) - 1
    r = size / 4
    if label == 0:
        mask = (xx - c) ** 2 + (yy - c) ** 2 <= r * r
    elif label == 1:
        mask = (abs(xx - c) <= r) & (abs(yy - c) <= r)
    else:
        mask = (yy >= c - r) & (yy <= c + r) & (abs(xx - c) <= (yy - (c - r)) / 2)
    colour = [(230, 80, 60), (60, 200, 90), (70, 110, 230)][label]
    image[mask] = colour
    return image


def make_tiny_dataset(data_root: Path, name: str = "tiny", train_per_class: int = 12, val_per_class: int = 4) -> Path:
    """A three-class 32x32 dataset under ``data_root/name``."""
    splits = {}
    for split, count in (("train", train_per_class), ("val", val_per_class)):
        images = [_draw(label, k, 32) for label in range(len(CLASSES)) for k in range(count)]
        labels = [label for label in range(len(CLASSES)) for _ in range(count)]
        splits[split] = (np.stack(images), np.asarray(labels, dtype=np.int64))
    return write_dataset(data_root / name, list(CLASSES), splits, name=name, source={"kind": "test"}, seed=0)


def make_fixed_run(
    runs_root: Path,
    name: str,
    *,
    attention: str = "dlstudio",
    status: str = "finished",
    epochs: int = 3,
    epochs_done: int = 3,
    skill: float = 0.0,
    evaluated: bool = True,
    dataset: str = "data/tiny",
    started: str = "2024-05-01 12:00:00",
) -> Path:
    """A run folder with fixed metrics; ``skill`` shifts its accuracies so two runs differ."""
    run_dir = runs_root / name
    run_dir.mkdir(parents=True)
    cfg = apply_overrides(preset("reference"), [f"model.attention={attention}", f"train.epochs={epochs}"])
    cfg = replace(cfg, data=replace(cfg.data, dataset=dataset))
    config_mod.save(cfg, run_dir / "config.toml")
    history = [_epoch(e, epochs, skill) for e in range(1, epochs_done + 1)]
    best = max(history, key=lambda h: h.val_acc) if history else None
    history = [replace(h, is_best=best is not None and h.epoch == best.epoch,
                       best_epoch=best.epoch if best else 0, best_val_acc=best.val_acc if best else 0.0)
               for h in history]  # fmt: skip
    RunFolder(run_dir).write_metrics([_metric_row(h) for h in history])
    _write_events(run_dir, name, cfg, history, status, skill, evaluated)
    RunFolder(run_dir).write_summary({
            "status": status, "name": name, "preset": cfg.preset, "pid": 0, "started": started,
            "started_ts": 1714564800.0 + len(name), "dataset": dataset, "classes": CLASSES,
            "train_images": 36, "val_images": 12, "params": 1_234_567, "device": "cpu",
            "precision": "fp32", "step_path": "eager", "epochs": epochs, "epochs_done": epochs_done,
            "best_epoch": best.epoch if best else 0, "best_val_acc": best.val_acc if best else 0.0,
            "final_val_acc": history[-1].val_acc if history else 0.0, "wall_s": 12.5 * epochs_done,
        })  # fmt: skip
    if evaluated:
        save_evaluation(run_dir, fixed_evaluation(skill), {"checkpoint": "best"})
    return run_dir


def _epoch(epoch: int, epochs: int, skill: float) -> EpochEnded:
    return EpochEnded(
        epoch=epoch, epochs=epochs, train_loss=round(1.1 - 0.2 * epoch - skill / 2, 4),
        train_acc=round(0.4 + 0.15 * epoch + skill, 4), val_loss=round(1.15 - 0.15 * epoch - skill / 3, 4),
        val_acc=round(0.38 + 0.1 * epoch + skill - (0.15 if epoch == 3 else 0.0), 4), lr=2e-4,
        seconds=12.5, images_per_s=2880.0, is_best=False, best_epoch=0, best_val_acc=0.0,
    )  # fmt: skip


def _metric_row(h: EpochEnded) -> dict:
    return {
        "epoch": h.epoch, "train_loss": h.train_loss, "train_acc": h.train_acc, "val_loss": h.val_loss,
        "val_acc": h.val_acc, "lr": h.lr, "seconds": h.seconds, "images_per_s": h.images_per_s,
    }  # fmt: skip


def _write_events(
    run_dir: Path, name: str, cfg: RunConfig, history, status: str, skill: float, evaluated: bool
) -> None:
    sink = FileSink(run_dir / "events.jsonl")
    sink(RunStarted(
        run_dir=str(run_dir), name=name, preset=cfg.preset, classes=tuple(CLASSES), epochs=cfg.train.epochs,
        start_epoch=0, steps_per_epoch=3, train_images=36, val_images=12, params=1_234_567, device="cpu",
        precision="fp32", step_path="eager", pid=0, started=1714564800.0,
    ))  # fmt: skip
    for h in history:
        for step in range(1, 4):
            sink(StepsLogged(
                epoch=h.epoch, step=step, steps_per_epoch=3, global_step=3 * (h.epoch - 1) + step,
                loss=round(h.train_loss + 0.05 * (2 - step), 4), acc=round(h.train_acc - 0.02 * (2 - step), 4),
                lr=h.lr, images_per_s=2880.0, elapsed_s=4.0 * step,
            ))  # fmt: skip
        sink(h)
    best = next((h for h in history if h.is_best), None)
    if evaluated and best is not None:
        evaluation = fixed_evaluation(skill)
        sink(EvalDone("best", evaluation.accuracy, evaluation.loss, tuple(CLASSES),
                      tuple(tuple(int(v) for v in row) for row in evaluation.confusion)))  # fmt: skip
    sink(RunFinished(
        status=status, run_dir=str(run_dir), epochs_done=len(history), best_epoch=best.epoch if best else 0,
        best_val_acc=best.val_acc if best else 0.0, final_val_acc=history[-1].val_acc if history else 0.0,
        wall_s=12.5 * len(history),
    ))  # fmt: skip
    sink.close()


def fixed_evaluation(skill: float = 0.0) -> Evaluation:
    """A known confusion matrix over ``CLASSES`` (4 validation images per class)."""
    confusion = (
        np.array([[3, 1, 0], [1, 2, 1], [0, 1, 3]]) if skill < 0.05 else np.array([[4, 0, 0], [1, 3, 0], [0, 1, 3]])
    )
    total = confusion.sum()
    per_class = []
    for i, name in enumerate(CLASSES):
        tp = confusion[i, i]
        precision = tp / confusion[:, i].sum()
        recall = tp / confusion[i].sum()
        f1 = 2 * precision * recall / (precision + recall)
        per_class.append({"class": name, "precision": float(precision), "recall": float(recall), "f1": float(f1),
                          "support": int(confusion[i].sum())})  # fmt: skip
    mistakes = [
        Mistake(index=1, file="circle_val_000001.jpg", true="circle", predicted="square", probability=0.81),
        Mistake(index=6, file="square_val_000005.jpg", true="square", predicted="triangle", probability=0.67),
        Mistake(index=9, file="triangle_val_000009.jpg", true="triangle", predicted="square", probability=0.55),
    ]
    return Evaluation(
        accuracy=float(np.trace(confusion) / total),
        loss=0.7321,
        classes=list(CLASSES),
        confusion=confusion,
        per_class=per_class,
        mistakes=mistakes,
    )


async def wait_until(pilot, predicate, timeout: float = 30.0, step: float = 0.05) -> None:
    """Let the app run until ``predicate()`` holds (fails the test after ``timeout`` seconds)."""
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout}s waiting for {getattr(predicate, '__name__', 'condition')}"
            )
        await pilot.pause(step)


STUDY_SKILLS = {"heads=2": (0.0, 0.02), "heads=4": (0.1, 0.13)}
"""Per combination, the skill of each seed's fixed run: heads=4 is clearly better than heads=2."""


def make_fixed_study(home: Path, name: str = "sweep-fast-ab12", skills: dict | None = None) -> Path:
    """A sweep of fixed runs (one per combination and seed) with its ``plan.json`` and ``study.json`` markers.

    Written with the study package's own records, so the app reads it as it reads a real sweep.
    """
    from vit_tui.files import write_text
    from vit_tui.study.plan import PLAN_FILE, Job, StudyPlan, marker_record, plan_record

    out_dir = home / "sweeps" / name
    runs_root = home / "runs"
    jobs = []
    for label, seed_skills in (skills or STUDY_SKILLS).items():
        heads = label.split("=")[1]
        for seed, skill in enumerate(seed_skills, start=1):
            run_name = f"{name}-heads{heads}-seed{seed}"
            make_fixed_run(runs_root, run_name, attention="mha", skill=skill, evaluated=False,
                           started=f"2024-05-02 10:0{len(jobs)}:00")  # fmt: skip
            jobs.append(Job(run_name, preset("fast"), label, {"model.heads": heads}, seed))
    plan = StudyPlan("sweep", name, out_dir, runs_root, tuple(jobs), {"grid": [["model.heads", ["2", "4"]]]})
    write_text(out_dir / PLAN_FILE, json.dumps(plan_record(plan), indent=2) + "\n")
    for job in jobs:
        write_text(plan.run_dir(job) / "study.json", json.dumps(marker_record(plan, job), indent=2) + "\n")
    return out_dir


LONG_NAMES = ("fast-20261207-174940", "reference-einsum-20261208-091502")
"""Generated run names (``<preset>-<date>-<time>``), as most runs have them."""


def make_long_named_runs(home: Path) -> None:
    """Runs with generated names and a sweep with its ``<sweep>-heads<h>-seed<s>`` runs: names too long for 80 columns."""
    make_fixed_run(home / "runs", LONG_NAMES[0], skill=0.05, started="2026-12-07 17:49:40")
    make_fixed_run(home / "runs", LONG_NAMES[1], attention="einsum", status="failed", epochs=30, skill=0.1,
                   started="2026-12-08 09:15:02")  # fmt: skip
    make_fixed_study(home, "sweep-fast-3f9a2c1e")


@pytest.fixture(autouse=True)
def settings_in_tmp(tmp_path, monkeypatch):
    """App settings in the test's own folder (import it into a test module to apply it there)."""
    from vit_tui.tui.settings import SETTINGS_ENV

    monkeypatch.setenv(SETTINGS_ENV, str(tmp_path / "settings"))
