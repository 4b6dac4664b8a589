"""Comparing runs: ``compare_runs`` writes the metrics side by side (``comparison.csv/md``), overlaid
curves and the confusion matrices side by side; ``write_comparison`` does it all or nothing into an
output folder. No torch.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ... import config as config_mod
from ...errors import UserError
from ...figures import epoch_axis, figure, save_figure
from ...files import staged_folder, write_text
from ...model.size_estimate import is_cnn
from ...outputs import claim_folder, marker_kind, output_folder
from ..infer.metrics import Evaluation, load_evaluation
from ..runs.folder import RunFolder
from .figures import draw_confusion
from .html import markdown_file_to_html
from .report import markdown_table, percent

COMPARE_CURVES_PNG = "compare_curves.png"


COMPARE_CONFUSION_PNG = "compare_confusion.png"


COMPARE_CSV = "comparison.csv"


COMPARE_MD = "comparison.md"


COMPARE_HINT = "the run's numbers are unknown, so it cannot be compared (leave it out)"


def compare_runs(run_dirs: Sequence[str | os.PathLike], out_dir: str | os.PathLike) -> list[Path]:
    """Write comparison.csv/md, overlaid curves and side-by-side confusion matrices into ``out_dir``.

    Every run's files are read and checked before ``out_dir`` is made: a damaged one leaves nothing behind.
    """
    runs = [RunFolder.resolve(r).path for r in run_dirs]
    if len(runs) < 2:
        raise UserError("compare", "give at least two runs")
    names = _unique_names(runs)
    inputs = read_compare_inputs(runs)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = [_comparison_row(run, name, *files[:2]) for run, name, files in zip(runs, names, inputs)]
    written = [_write_comparison_csv(out / COMPARE_CSV, rows)]
    written.append(_plot_compare_curves(out / COMPARE_CURVES_PNG, runs, names))
    evaluations = [files[2] for files in inputs]
    if any(e is not None for e in evaluations):
        written.append(_plot_compare_confusion(out / COMPARE_CONFUSION_PNG, names, evaluations))
    summaries = [files[1] for files in inputs]
    written.append(_write_comparison_md(out / COMPARE_MD, rows, runs, names, written, summaries))
    return written


def write_comparison(
    run_dirs: Sequence[str | os.PathLike], out_dir: str | os.PathLike, *, force: bool = False, html: bool = False
) -> list[Path]:
    """Compare the runs into ``out_dir``, all or nothing; returns the files as they stand there.

    ``out_dir`` is new, empty, or a comparison vit-tui made (replaced only with ``force``). The
    files are made in a temporary sibling that replaces ``out_dir`` once every one is written.
    """
    out = output_folder(out_dir, "--out", kind="compare", force=force, made_by_us=_comparison_made)
    with staged_folder(out) as stage:
        claim_folder(stage, "compare")
        written = compare_runs(run_dirs, stage)
        if html:
            written.append(markdown_file_to_html(stage / COMPARE_MD))
    return [out / path.name for path in written]


def _comparison_made(folder: Path) -> str | None:
    # Comparisons written before the marker existed are recognised by their two tables.
    if marker_kind(folder) == "compare" or ((folder / COMPARE_CSV).is_file() and (folder / COMPARE_MD).is_file()):
        return "compare"
    return None


def read_compare_inputs(
    runs: Sequence[Path],
) -> list[tuple[config_mod.RunConfig, dict[str, Any], tuple[Evaluation, dict[str, Any]] | None]]:
    """(config, summary, evaluation or None) of each run; a damaged file is a ``UserError`` naming it."""
    folders = [RunFolder(run) for run in runs]
    return [(f.read_config(), f.checked_summary(COMPARE_HINT), load_evaluation(f.path)) for f in folders]


def class_mismatch(
    runs: Sequence[Path], names: Sequence[str] | None = None, summaries: Sequence[dict[str, Any]] | None = None
) -> str | None:
    """One warning line when the runs were trained on different class lists, else None."""
    names = list(names) if names is not None else _unique_names(list(runs))
    if summaries is None:
        summaries = [RunFolder(run).checked_summary(COMPARE_HINT) for run in runs]
    lists = [list(summary.get("classes") or []) for summary in summaries]
    if all(classes == lists[0] for classes in lists):
        return None
    described = "; ".join(f"{name}: {', '.join(classes) or '?'}" for name, classes in zip(names, lists))
    return f"warning: the runs were trained on different classes ({described}); their accuracies do not compare"


def _unique_names(runs: list[Path]) -> list[str]:
    names = [run.name for run in runs]
    return [name if names.count(name) == 1 else str(run) for name, run in zip(names, runs)]


def _comparison_row(run: Path, name: str, cfg: config_mod.RunConfig, summary: dict[str, Any]) -> dict[str, Any]:
    history = RunFolder(run).read_metrics()
    seconds = [r["seconds"] for r in history]
    return {
        "run": name,
        "status": summary.get("status", "?"),
        "preset": cfg.preset or "custom",
        "attention": "none (CNN)" if is_cnn(cfg.model) else cfg.model.attention,
        "ffn": "none (CNN)" if is_cnn(cfg.model) else cfg.model.ffn,
        "params": int(summary.get("params", 0)),
        "epochs_done": len(history),
        "best_epoch": int(summary.get("best_epoch", 0)),
        "best_val_acc": float(summary.get("best_val_acc", 0.0)),
        "final_val_acc": history[-1]["val_acc"] if history else 0.0,
        "final_train_acc": history[-1]["train_acc"] if history else 0.0,
        "final_train_loss": history[-1]["train_loss"] if history else 0.0,
        "median_epoch_s": float(np.median(seconds)) if seconds else 0.0,
        "wall_s": float(summary.get("wall_s", 0.0)),
    }


def _write_comparison_csv(path: Path, rows: list[dict[str, Any]]) -> Path:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, out.getvalue())
    return path


COMPARE_COLUMNS = (
    ("run", lambda r: r["run"]),
    ("preset", lambda r: r["preset"]),
    ("attention", lambda r: r["attention"]),
    ("ffn", lambda r: r["ffn"]),
    ("params", lambda r: f"{r['params']:,}"),
    ("epochs", lambda r: r["epochs_done"]),
    ("best epoch", lambda r: r["best_epoch"]),
    ("best val acc", lambda r: percent(r["best_val_acc"])),
    ("final val acc", lambda r: percent(r["final_val_acc"])),
    ("final train acc", lambda r: percent(r["final_train_acc"])),
    ("s/epoch", lambda r: f"{r['median_epoch_s']:.2f}"),
)


def _write_comparison_md(
    path: Path,
    rows: list[dict[str, Any]],
    runs: list[Path],
    names: list[str],
    written: list[Path],
    summaries: list[dict[str, Any]],
) -> Path:
    lines = ["# Comparison", ""]
    mismatch = class_mismatch(runs, names, summaries)
    if mismatch:
        lines += [f"**{mismatch}**", ""]
    lines += markdown_table([header for header, _ in COMPARE_COLUMNS], [[fmt(r) for _, fmt in COMPARE_COLUMNS] for r in rows])
    histories = [RunFolder(run).read_metrics() for run in runs]
    epochs = max((len(h) for h in histories), default=0)
    lines += ["## Per epoch (train loss / validation accuracy)", ""]
    lines += markdown_table(
        ("epoch", *names),
        [
            (e + 1, *(f"{h[e]['train_loss']:.4f} / {percent(h[e]['val_acc'])}" if e < len(h) else "" for h in histories))
            for e in range(epochs)
        ],
    )
    lines += [f"![{p.stem}]({p.name})" for p in written if p.suffix == ".png"]
    write_text(path, "\n".join(lines) + "\n")
    return path


def _plot_compare_curves(path: Path, runs: list[Path], names: list[str]) -> Path:
    fig = figure(11, 7.5)
    axes = fig.subplots(2, 2)
    panels = (
        (axes[0][0], "training loss (running)", "loss"),
        (axes[0][1], "training accuracy (running)", "acc"),
        (axes[1][0], "validation loss", "val_loss"),
        (axes[1][1], "validation accuracy", "val_acc"),
    )
    for run, name in zip(runs, names):
        folder = RunFolder(run)
        steps, history = folder.read_steps(), folder.read_metrics()
        per_epoch = {int(r["epoch"]): r for r in history}
        x_steps = [s["epoch"] - 1 + s["step"] / max(1, _steps_per_epoch(steps, s["epoch"])) for s in steps]
        for ax, _, key in panels[:2]:
            line = ax.plot(x_steps, [s[key] for s in steps], label=name, linewidth=1.2)
            colour = line[0].get_color()
            train_key = "train_loss" if key == "loss" else "train_acc"
            ax.plot(list(per_epoch), [r[train_key] for r in per_epoch.values()], "o", color=colour, markersize=4)
        for ax, _, key in panels[2:]:
            ax.plot(list(per_epoch), [r[key] for r in per_epoch.values()], marker="o", label=name)
    for ax, title, key in panels:
        ax.set_title(title)
        epoch_axis(ax)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        if key in ("acc", "val_acc"):
            ax.set_ylim(-0.02, 1.02)
    save_figure(fig, path)
    return path


def _steps_per_epoch(steps: list[dict[str, Any]], epoch: int) -> int:
    return max((s["step"] for s in steps if s["epoch"] == epoch), default=1)


def _plot_compare_confusion(
    path: Path, names: list[str], evaluations: list[tuple[Evaluation, dict[str, Any]] | None]
) -> Path:
    shown = [(name, loaded) for name, loaded in zip(names, evaluations) if loaded is not None]
    n_classes = max(len(loaded[0].classes) for _, loaded in shown)
    side = max(4.5, 0.7 * n_classes + 2.5)
    fig = figure(side * len(shown), side)
    axes = np.atleast_1d(fig.subplots(1, len(shown)))
    for ax, (name, (evaluation, _)) in zip(axes, shown):
        draw_confusion(ax, evaluation.confusion, evaluation.classes, f"{name}\naccuracy {evaluation.accuracy:.1%}")
    save_figure(fig, path)
    return path
