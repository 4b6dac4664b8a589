"""The course experiment in one go: the reference dataset, both attention variants per seed, the figures.

With ``with_cnn`` a third variant, ``resnet18``, trains the CNN baseline (``model.arch=resnet18``
at its default width) on the reference's data and training settings, beside the two ViTs.

``reference_dataset`` builds airplane/bus/cat/dog/pizza (2,000 sampled per class with seed 5:
1,500 train, 500 val, 64 px) unless it is there; ``reproduce_plan`` makes one job per preset and
seed; ``write_reproduce_outputs`` draws the report's three figures and writes ``comparison.md``.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from .. import config as config_mod
from ..errors import UserError
from ..files import write_text
from ..model.size_estimate import describe_layout, is_cnn
from ..presets import preset
from .plan import Job, StudyPlan, name_prefix, study_name
from .results import Combination, RunRecord, combinations, read_records
from .stats import compare_seeds, mean_std, pm

VARIANTS = ("reference", "reference-einsum")
CNN_VARIANT = "resnet18"
"""The CNN baseline's label: the reference preset with ``model.arch=resnet18``."""
COMPARED_KEYS = ("model.attention", "model.arch")
REFERENCE_BUILD = {"per_class": 2000, "train_per_class": 1500, "size": 64, "seed": 5}
LOSS_PNG = "loss_curves.png"
ACCURACY_PNG = "accuracy_curves.png"
CONFUSION_PNG = "confusion_matrices.png"
COMPARISON_MD = "comparison.md"
VARIANT_COLOURS = {"reference": "#1f77b4", "reference-einsum": "#d62728", CNN_VARIANT: "#2ca02c"}


def reference_dataset(coco_root: str | os.PathLike, out: str | os.PathLike, allow_fewer: bool, progress=None) -> Path:
    """The reference dataset at ``out``, built from COCO at ``coco_root`` unless it exists already."""
    from ..data.coco import REFERENCE_CLASSES, build_coco, find_coco
    from ..data.store import DatasetError, read_manifest

    out = Path(out)
    if (out / "manifest.json").is_file():
        classes = read_manifest(out).classes
        if sorted(classes) != sorted(REFERENCE_CLASSES):
            raise UserError(
                str(out),
                f"holds classes {', '.join(classes)}, not the reference's {', '.join(REFERENCE_CLASSES)}; "
                "pass --data to train on it anyway, or --coco-out for another folder",
            )
        return out
    try:
        ann_file, images_dir = find_coco(coco_root)
    except DatasetError as exc:
        raise DatasetError(exc.subject, _reproduce_advice(exc.why, COCO_LAYOUT_ADVICE)) from None
    try:
        return build_coco(ann_file, images_dir, REFERENCE_CLASSES, out, allow_fewer=allow_fewer, progress=progress,
                          **REFERENCE_BUILD)
    except DatasetError as exc:
        if exc.subject not in BUILD_OPTIONS:
            raise
        # The build names ``data build``'s options (--classes, --per-class...), which reproduce does not have.
        advice = "pass --allow-fewer to build with fewer images" if exc.subject == "--per-class" else CLASSES_ADVICE
        raise DatasetError(f"--coco {coco_root}", _reproduce_advice(exc.why, advice)) from None


COCO_LAYOUT_ADVICE = (
    "pass --coco ROOT holding annotations/instances_train2014.json and train2014/ (or the 2017 pair), "
    "or --data DIR to train on a dataset you have"
)
CLASSES_ADVICE = (
    "the reference needs every one of airplane, bus, cat, dog and pizza: pass --coco ROOT of a full COCO train "
    "set, or --data DIR to train on a dataset you have"
)
BUILD_OPTIONS = ("--classes", "--per-class", "--train-per-class", "--size", "--resize")


def _reproduce_advice(why: str, advice: str) -> str:
    """``why`` with the advice after its last ``;`` (written for ``data build``) replaced by ``advice``."""
    return f"{why.rpartition('; ')[0] or why}; {advice}"


def _variant_config(variant: str, overrides: list[str]) -> config_mod.RunConfig:
    """A variant's config: its preset (the CNN: the reference's with ``model.arch=resnet18``) and the overrides."""
    if variant == CNN_VARIANT:
        return config_mod.apply_overrides(preset("reference"), [*overrides, f"model.arch={CNN_VARIANT}"])
    return config_mod.apply_overrides(preset(variant), overrides)


def reproduce_plan(
    dataset: Path, seeds: list[int], *, epochs: int | None, overrides: list[str], out_dir: Path, runs_root: Path,
    with_cnn: bool = False,
) -> StudyPlan:  # fmt: skip
    """Both presets (and with ``with_cnn`` the CNN) for every seed on ``dataset``; ``overrides`` apply to all."""
    for key in COMPARED_KEYS:
        if any(item.partition("=")[0].strip() == key for item in overrides):
            raise UserError("--set", f"{key} is what reproduce compares; it cannot be overridden")
    variants = (*VARIANTS, CNN_VARIANT) if with_cnn else VARIANTS
    name = study_name(out_dir)
    prefix = name_prefix(name, out_dir, runs_root, "reproduce", [f"{v}-seed{s}" for v in variants for s in seeds])
    jobs = []
    for variant in variants:
        cfg = _variant_config(variant, overrides)
        if epochs is not None:
            cfg = config_mod.with_value(cfg, "train.epochs", epochs)
        cfg = config_mod.with_value(cfg, "data.dataset", str(dataset.absolute()))
        for seed in seeds:
            job_cfg = replace(cfg, train=replace(cfg.train, seed=seed))  # checked whole by ``check_plan``
            jobs.append(Job(f"{prefix}-{variant}-seed{seed}", job_cfg, variant, {"preset": variant}, seed))
    spec = {
        "dataset": str(dataset.absolute()),
        "seeds": seeds,
        "epochs": epochs,
        "overrides": list(overrides),
        "with_cnn": with_cnn,
    }
    return StudyPlan("reproduce", name, out_dir, runs_root, tuple(jobs), spec)


# --- outputs --------------------------------------------------------------------------------


def write_reproduce_outputs(out_dir: str | os.PathLike, html: bool = False) -> list[Path]:
    """The three figures and ``comparison.md`` (and ``comparison.html``) from the finished runs."""
    out = Path(out_dir)
    plan, records = read_records(out)
    variants = [c for c in combinations(records) if c.finished]
    if not variants:
        raise UserError(str(out), "no finished run yet; run reproduce to train them")
    written = [plot_loss(out / LOSS_PNG, variants), plot_accuracy(out / ACCURACY_PNG, variants)]
    confusion = plot_confusions(out / CONFUSION_PNG, variants)
    if confusion is not None:
        written.append(confusion)
    written.append(_write_comparison(out / COMPARISON_MD, plan, records, variants, written))
    if html:
        from ..engine.report.html import markdown_file_to_html

        written.append(markdown_file_to_html(out / COMPARISON_MD))
    return written


def _attention(run: RunRecord) -> str:
    """The run's attention variant; ``none (CNN)`` for the CNN."""
    from ..engine.runs.folder import RunFolder

    try:
        model = RunFolder(run.path).read_config().model
    except UserError:
        return "?"
    return "none (CNN)" if is_cnn(model) else model.attention


def _network(run: RunRecord) -> str:
    """A panel's title words: ``dlstudio attention`` or ``resnet18 CNN, width 16``."""
    from ..engine.runs.folder import RunFolder

    try:
        model = RunFolder(run.path).read_config().model
    except UserError:
        return "?"
    return describe_layout(model) if is_cnn(model) else f"{model.attention} attention"


def _per_epoch(runs: list[RunRecord], key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(epochs, mean, std) of a metrics column over the runs, for the epochs every run has."""
    depth = min(len(r.history) for r in runs)
    table = np.array([[r.history[e][key] for e in range(depth)] for r in runs], dtype=float)
    std = table.std(axis=0, ddof=1) if len(runs) > 1 else np.zeros(depth)
    return np.arange(1, depth + 1), table.mean(axis=0), std


def _band(ax, runs: list[RunRecord], key: str, colour: str, label: str, style: str = "-") -> None:
    epochs, mean, std = _per_epoch(runs, key)
    ax.plot(epochs, mean, style, marker="o", color=colour, label=label, markersize=4)
    if len(runs) > 1:
        ax.fill_between(epochs, mean - std, mean + std, color=colour, alpha=0.18)


def _seed_note(runs: list[RunRecord]) -> str:
    return f"{len(runs)} seeds, mean ± std" if len(runs) > 1 else f"seed {runs[0].seed}"


def plot_loss(path: Path, variants: list[Combination]) -> Path:
    """The two training-loss curves side by side: running loss of each seed, epoch means on top."""
    from ..engine.runs.folder import RunFolder

    def draw(ax, runs: list[RunRecord], colour: str) -> None:
        for number, run in enumerate(runs):
            steps = RunFolder(run.path).read_steps()
            per_epoch = max((s["step"] for s in steps), default=1)
            ax.plot([s["epoch"] - 1 + s["step"] / per_epoch for s in steps], [s["loss"] for s in steps],
                    color=colour, alpha=0.35, linewidth=1, label="running" if number == 0 else None)
        _band(ax, runs, "train_loss", colour, "epoch mean")

    return _side_by_side(path, variants, draw, "upper right", "training loss",
                         "Training loss: running (thin) and per epoch")  # fmt: skip


def plot_accuracy(path: Path, variants: list[Combination]) -> Path:
    """The two accuracy curves side by side: training and validation accuracy per epoch."""

    def draw(ax, runs: list[RunRecord], colour: str) -> None:
        _band(ax, runs, "train_acc", colour, "training", "--")
        _band(ax, runs, "val_acc", colour, "validation")
        ax.set_ylim(-0.02, 1.02)

    return _side_by_side(path, variants, draw, "lower right", "accuracy", "Accuracy per epoch")


def _side_by_side(path: Path, variants: list[Combination], draw: Callable, legend_at: str, ylabel: str,
                  title: str) -> Path:  # fmt: skip
    """One panel a variant, sharing the y axis: ``draw(ax, runs, colour)`` fills each, then the common dressing."""
    from ..figures import epoch_axis, figure, save_figure

    fig = figure(5 * max(2, len(variants)), 4.2)
    axes = np.atleast_1d(fig.subplots(1, len(variants), sharey=True))
    for ax, variant in zip(axes, variants):
        runs = variant.finished
        draw(ax, runs, VARIANT_COLOURS.get(variant.label, "#444444"))
        ax.set_title(f"{variant.label} ({_network(runs[0])})")
        epoch_axis(ax)
        ax.set_xlabel(f"epoch ({_seed_note(runs)})")
        ax.grid(alpha=0.3)
        ax.legend(loc=legend_at)
    axes[0].set_ylabel(ylabel)
    fig.suptitle(title)
    return save_figure(fig, path)


def plot_confusions(path: Path, variants: list[Combination]) -> Path | None:
    """The two confusion matrices side by side (summed over seeds), accuracies in the titles."""
    from ..engine.infer.metrics import load_evaluation
    from ..engine.report.figures import draw_confusion
    from ..figures import figure, save_figure

    panels = []
    for variant in variants:
        loaded = [load_evaluation(run.path) for run in variant.finished]
        evaluations = [item[0] for item in loaded if item is not None]
        if evaluations:
            panels.append((variant, evaluations))
    if not panels:
        return None
    n_classes = max(len(evals[0].classes) for _, evals in panels)
    side = max(5.0, 0.7 * n_classes + 2.5)
    fig = figure(side * len(panels), side + 0.3)
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    for ax, (variant, evaluations) in zip(axes, panels):
        total = np.sum([e.confusion for e in evaluations], axis=0)
        seeds = f"seed {variant.finished[0].seed}" if len(evaluations) == 1 else f"counts of {len(evaluations)} seeds"
        title = f"{variant.label} ({seeds})\nvalidation accuracy {pm([e.accuracy for e in evaluations])}"
        draw_confusion(ax, total, evaluations[0].classes, title)
    return save_figure(fig, path)


def _write_comparison(
    path: Path, plan: dict[str, Any], records: list[RunRecord], variants: list[Combination], written: list[Path]
) -> Path:
    from ..engine.report.report import markdown_table

    spec = plan.get("spec", {})
    lines = ["# Reproduction of the course experiment", ""]
    lines += [
        f"Dataset `{spec.get('dataset', '?')}`; seeds {', '.join(str(s) for s in spec.get('seeds', []))}"
        + (f"; settings `{' '.join(spec['overrides'])}`" if spec.get("overrides") else "")
        + ". Accuracies are mean ± standard deviation over seeds when there is more than one.",
        "",
    ]
    rows = []
    for variant in variants:
        runs = variant.finished
        last = [r.history[-1] for r in runs if r.history]
        seconds = [float(np.median([h["seconds"] for h in r.history])) for r in runs if r.history]
        rows.append(
            (
                variant.label,
                _attention(runs[0]),
                f"{variant.params:,}",
                len(runs),
                pm(variant.accuracies),
                pm([h["val_acc"] for h in last]),
                pm([h["train_acc"] for h in last]),
                pm([h["train_loss"] for h in last], percent=False),
                f"{mean_std([r.epochs_done for r in runs])[0]:.0f}",
                f"{mean_std(seconds)[0]:.2f}",
            )
        )
    lines += markdown_table(
        ("preset", "attention", "parameters", "seeds", "best val acc", "final val acc", "final train acc",
         "final train loss", "epochs", "s/epoch"),
        rows,
    )
    for a, b in itertools.combinations(variants, 2):
        lines += [f"**{compare_seeds(a.label, a.accuracies, b.label, b.accuracies).text}.**", ""]
    for png in written:
        if png.suffix == ".png":
            lines += [f"![{png.stem.replace('_', ' ')}]({png.name})", ""]
    lines += ["## Runs", ""]
    lines += markdown_table(
        ("run", "preset", "seed", "status", "best val acc", "epochs", "time (s)"),
        [(f"`{r.name}`", r.label, r.seed, r.status, f"{r.best_val_acc:.1%}", r.epochs_done, f"{r.wall_s:.1f}")
         for r in records],
    )
    write_text(path, "\n".join(lines))
    return path
