"""A run's report: ``export_run`` (re)writes ``confusion_matrix.csv/png``, ``curves.png`` and
``report.md`` from the run's files (``evaluation.json`` is made by evaluating the kept checkpoint
when absent). It needs torch only when a run has to be evaluated first.
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
from ...files import write_text
from ...run_layout import CONFUSION_CSV, CONFUSION_PNG, CURVES_PNG, REPORT_MD
from ..infer.metrics import Evaluation, load_evaluation, save_evaluation
from ..runs.folder import RunFolder
from .figures import plot_confusion, plot_curves

REPORT_HINT = "the run's numbers are unknown, so no report is made (start a new run)"


def write_confusion_csv(path: Path, confusion: np.ndarray, classes: Sequence[str]) -> Path:
    """Rows true, columns predicted, class names as headers."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["true\\predicted", *classes])
    for name, row in zip(classes, np.asarray(confusion).tolist()):
        writer.writerow([name, *row])
    write_text(path, out.getvalue())
    return path


def export_run(
    run_dir: str | os.PathLike, evaluate: bool = True, summary: dict[str, Any] | None = None
) -> list[Path]:
    """(Re)write the run's confusion matrix CSV/PNG, curves PNG and report; return the paths.

    Without ``evaluation.json`` the kept checkpoint is evaluated first, unless ``evaluate`` is
    False (then the report leaves the evaluation out). ``summary`` stands in for ``summary.json``
    when the caller writes that only after the exports succeed.
    """
    folder = RunFolder.resolve(run_dir)
    run_dir = folder.path
    summary = folder.checked_summary(REPORT_HINT) if summary is None else summary
    folder.read_config()  # a damaged config is refused before any file is rewritten
    history = folder.read_metrics()
    loaded = load_evaluation(run_dir)
    if loaded is None and history and evaluate:
        from ..infer.evaluate import evaluate_run

        keep = folder.read_config().train.keep
        evaluation = evaluate_run(run_dir, checkpoint=keep)
        save_evaluation(run_dir, evaluation, {"checkpoint": keep})
        loaded = load_evaluation(run_dir)
    written = []
    title = f"{run_dir.name} ({summary.get('status', '?')})"
    if history:
        written.append(plot_curves(folder.file(CURVES_PNG), history, int(summary.get("best_epoch", 0)), title))
    if loaded is not None:
        evaluation, extra = loaded
        written.append(write_confusion_csv(folder.file(CONFUSION_CSV), evaluation.confusion, evaluation.classes))
        heading = f"Validation accuracy {evaluation.accuracy:.1%}\n{run_dir.name}\n{_checkpoint_label(extra)}"
        written.append(plot_confusion(folder.file(CONFUSION_PNG), evaluation.confusion, evaluation.classes, heading))
    written.append(write_report(run_dir, summary, history, loaded))
    return written


def _checkpoint_label(extra: dict[str, Any]) -> str:
    checkpoint = extra.get("checkpoint", "best")
    epoch = extra.get("epoch")
    return f"{checkpoint} checkpoint, epoch {epoch}" if epoch else f"{checkpoint} checkpoint"


def percent(value: float) -> str:
    """A share as a percentage with one decimal."""
    return f"{value:.1%}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """A Markdown pipe table as lines, with a blank line after it."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines + [""]


def write_report(
    run_dir: Path,
    summary: dict[str, Any],
    history: list[dict[str, Any]],
    loaded: tuple[Evaluation, dict[str, Any]] | None,
) -> Path:
    """``report.md``: overview, config table, per-epoch metrics, evaluation and figures."""
    folder = RunFolder(run_dir)
    cfg = folder.read_config()
    lines = [f"# Run {run_dir.name}", ""]
    lines += markdown_table(
        ("status", "preset", "device", "parameters", "epochs", "best epoch", "best val acc", "wall time"),
        [
            (
                summary.get("status", "?"),
                cfg.preset or "custom",
                summary.get("device", "?"),
                f"{int(summary.get('params', 0)):,}",
                f"{summary.get('epochs_done', 0)}/{cfg.train.epochs}",
                summary.get("best_epoch", 0),
                percent(float(summary.get("best_val_acc", 0.0))),
                f"{float(summary.get('wall_s', 0.0)):.1f} s",
            )
        ],
    )
    lines += [f"Dataset: `{cfg.data.dataset}`; classes: {', '.join(summary.get('classes', []))}.", ""]
    if history:
        lines += [f"![Loss and accuracy per epoch]({CURVES_PNG})", ""]
    lines += ["## Configuration", ""]
    lines += markdown_table(("setting", "value"), [(k, f"`{config_mod.get_value(cfg, k)}`") for k in config_mod.all_keys()])
    lines += ["## Metrics per epoch", ""]
    lines += markdown_table(
        ("epoch", "train loss", "train acc", "val loss", "val acc", "lr", "seconds", "images/s"),
        [
            (
                r["epoch"],
                f"{r['train_loss']:.4f}",
                percent(r["train_acc"]),
                f"{r['val_loss']:.4f}",
                percent(r["val_acc"]),
                f"{r['lr']:.3g}",
                f"{r['seconds']:.2f}",
                f"{r['images_per_s']:,.0f}",
            )
            for r in history
        ],
    )
    if loaded is not None:
        lines += _evaluation_section(*loaded)
    write_text(folder.file(REPORT_MD), "\n".join(lines))
    return folder.file(REPORT_MD)


def _evaluation_section(evaluation: Evaluation, extra: dict[str, Any]) -> list[str]:
    lines = [f"## Evaluation on the validation split ({_checkpoint_label(extra)})", ""]
    lines += [f"Accuracy **{percent(evaluation.accuracy)}**, mean loss {evaluation.loss:.4f}.", ""]
    lines += markdown_table(
        ("class", "precision", "recall", "F1", "support"),
        [
            (r["class"], f"{r['precision']:.3f}", f"{r['recall']:.3f}", f"{r['f1']:.3f}", r["support"])
            for r in evaluation.per_class
        ],
    )
    lines += ["### Confusion matrix (rows true, columns predicted)", ""]
    lines += markdown_table(
        ("true \\ predicted", *evaluation.classes),
        [(name, *row) for name, row in zip(evaluation.classes, evaluation.confusion.tolist())],
    )
    lines += [f"![Confusion matrix]({CONFUSION_PNG})", ""]
    if evaluation.mistakes:
        lines += ["## Most confident mistakes", ""]
        lines += markdown_table(
            ("index", "file", "true", "predicted", "probability"),
            [(m.index, m.file, m.true, m.predicted, f"{m.probability:.3f}") for m in evaluation.mistakes[:10]],
        )
    return lines
