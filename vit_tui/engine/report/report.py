"""Exports of a run and comparisons of runs: CSV, PNG (matplotlib, Agg) and Markdown.

``export_run`` (re)writes ``confusion_matrix.csv/png``, ``curves.png`` and ``report.md`` from
the run's files (``evaluation.json`` is made by evaluating the kept checkpoint when absent);
``compare_runs`` writes the metrics side by side, overlaid curves and the confusion matrices
side by side. Neither needs torch unless a run has to be evaluated first.
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
from ...files import staged_folder, write_text, write_with
from ...outputs import claim_folder, marker_kind, output_folder
from ..infer.metrics import Evaluation, load_evaluation, save_evaluation
from ..runs.folder import checked_summary, read_config, read_metrics, read_steps, resolve_run
from .html import markdown_file_to_html

CONFUSION_CSV = "confusion_matrix.csv"
CONFUSION_PNG = "confusion_matrix.png"
CURVES_PNG = "curves.png"
REPORT_MD = "report.md"
COMPARE_CURVES_PNG = "compare_curves.png"
COMPARE_CONFUSION_PNG = "compare_confusion.png"
COMPARE_CSV = "comparison.csv"
COMPARE_MD = "comparison.md"
REPORT_HINT = "the run's numbers are unknown, so no report is made (start a new run)"
COMPARE_HINT = "the run's numbers are unknown, so it cannot be compared (leave it out)"


# --- figures -------------------------------------------------------------------------------


FIGURE_DPI = 200
"""Every PNG is written at this resolution (and says so in its pHYs chunk), sharp when printed."""
BASE_FONT_PT = 11


def figure(width: float, height: float):
    """A Matplotlib figure for a PNG export (inches); draw into it, then ``save_figure``."""
    from matplotlib.figure import Figure

    # A bare Figure renders with Agg and touches no global pyplot state (safe in worker threads).
    return Figure(figsize=(width, height), dpi=FIGURE_DPI, layout="constrained")


def readable(fig, base: float = BASE_FONT_PT) -> None:
    """Set every title, label, tick and legend font so the figure reads when pasted at half a page.

    Set per element rather than through rcParams: those are global, and exports run in worker threads.
    """
    if fig._suptitle is not None:
        fig._suptitle.set_fontsize(base + 2)
    for ax in fig.axes:
        ax.title.set_fontsize(base + 1)
        ax.xaxis.label.set_fontsize(base)
        ax.yaxis.label.set_fontsize(base)
        ax.tick_params(labelsize=base - 1)
        legend = ax.get_legend()
        if legend is not None:
            for text in legend.get_texts():
                text.set_fontsize(base - 1)


def epoch_axis(ax) -> None:
    """Label the x axis 'epoch' with whole-number ticks."""
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def save_figure(fig, path: Path) -> Path:
    """Write ``fig`` as a PNG at ``FIGURE_DPI``, all or nothing."""
    readable(fig)
    write_with(path, lambda handle: fig.savefig(handle, format="png", dpi=FIGURE_DPI))
    return path


def draw_confusion(ax, confusion: np.ndarray, classes: Sequence[str], title: str) -> None:
    """An annotated heatmap: counts and row percentages; rows true, columns predicted."""
    confusion = np.asarray(confusion)
    rows = confusion.sum(axis=1, keepdims=True)
    share = np.divide(confusion, rows, out=np.zeros(confusion.shape, dtype=float), where=rows > 0)
    ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    n = len(classes)
    ax.set_xticks(range(n), labels=list(classes), rotation=45, ha="right")
    ax.set_yticks(range(n), labels=list(classes))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=10)
    small = n > 8
    for i in range(n):
        for j in range(n):
            text = f"{confusion[i, j]}" if small else f"{confusion[i, j]}\n{share[i, j]:.0%}"
            colour = "white" if share[i, j] > 0.5 else "black"
            ax.text(j, i, text, ha="center", va="center", color=colour, fontsize=7 if small else 9)


def plot_confusion(path: Path, confusion: np.ndarray, classes: Sequence[str], title: str) -> Path:
    """``confusion_matrix.png``."""
    side = max(5.0, 0.7 * len(classes) + 2.5)
    fig = figure(side, side)
    draw_confusion(fig.add_subplot(), confusion, classes, title)
    save_figure(fig, path)
    return path


def plot_curves(path: Path, history: list[dict[str, Any]], best_epoch: int, title: str) -> Path:
    """``curves.png``: loss and accuracy per epoch, train and validation, best epoch marked."""
    fig = figure(10, 4)
    loss_ax, acc_ax = fig.subplots(1, 2)
    epochs = [row["epoch"] for row in history]
    for ax, key, label in ((loss_ax, "loss", "loss"), (acc_ax, "acc", "accuracy")):
        ax.plot(epochs, [row[f"train_{key}"] for row in history], marker="o", label=f"train {label}")
        ax.plot(epochs, [row[f"val_{key}"] for row in history], marker="o", label=f"validation {label}")
        if best_epoch > 0:
            ax.axvline(best_epoch, color="grey", linestyle=":", label=f"best epoch ({best_epoch})")
        epoch_axis(ax)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    acc_ax.set_ylim(-0.02, 1.02)
    fig.suptitle(title)
    save_figure(fig, path)
    return path


# --- one run -------------------------------------------------------------------------------


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
    run_dir = resolve_run(run_dir)
    summary = checked_summary(run_dir, REPORT_HINT) if summary is None else summary
    read_config(run_dir)  # a damaged config is refused before any file is rewritten
    history = read_metrics(run_dir)
    loaded = load_evaluation(run_dir)
    if loaded is None and history and evaluate:
        from ..infer.evaluate import evaluate_run

        keep = read_config(run_dir).train.keep
        evaluation = evaluate_run(run_dir, checkpoint=keep)
        save_evaluation(run_dir, evaluation, {"checkpoint": keep})
        loaded = load_evaluation(run_dir)
    written = []
    title = f"{run_dir.name} ({summary.get('status', '?')})"
    if history:
        written.append(plot_curves(run_dir / CURVES_PNG, history, int(summary.get("best_epoch", 0)), title))
    if loaded is not None:
        evaluation, extra = loaded
        written.append(write_confusion_csv(run_dir / CONFUSION_CSV, evaluation.confusion, evaluation.classes))
        heading = f"Validation accuracy {evaluation.accuracy:.1%}\n{run_dir.name}\n{_checkpoint_label(extra)}"
        written.append(plot_confusion(run_dir / CONFUSION_PNG, evaluation.confusion, evaluation.classes, heading))
    written.append(write_report(run_dir, summary, history, loaded))
    return written


def _checkpoint_label(extra: dict[str, Any]) -> str:
    checkpoint = extra.get("checkpoint", "best")
    epoch = extra.get("epoch")
    return f"{checkpoint} checkpoint, epoch {epoch}" if epoch else f"{checkpoint} checkpoint"


def _pct(value: float) -> str:
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
    cfg = read_config(run_dir)
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
                _pct(float(summary.get("best_val_acc", 0.0))),
                f"{float(summary.get('wall_s', 0.0)):.1f} s",
            )
        ],
    )
    lines += [f"Dataset: `{cfg.data.dataset}`; classes: {', '.join(summary.get('classes', []))}.", ""]
    if history:
        lines += ["![Loss and accuracy per epoch](curves.png)", ""]
    lines += ["## Configuration", ""]
    lines += markdown_table(("setting", "value"), [(k, f"`{config_mod.get_value(cfg, k)}`") for k in config_mod.all_keys()])
    lines += ["## Metrics per epoch", ""]
    lines += markdown_table(
        ("epoch", "train loss", "train acc", "val loss", "val acc", "lr", "seconds", "images/s"),
        [
            (
                r["epoch"],
                f"{r['train_loss']:.4f}",
                _pct(r["train_acc"]),
                f"{r['val_loss']:.4f}",
                _pct(r["val_acc"]),
                f"{r['lr']:.3g}",
                f"{r['seconds']:.2f}",
                f"{r['images_per_s']:,.0f}",
            )
            for r in history
        ],
    )
    if loaded is not None:
        lines += _evaluation_section(*loaded)
    write_text(run_dir / REPORT_MD, "\n".join(lines))
    return run_dir / REPORT_MD


def _evaluation_section(evaluation: Evaluation, extra: dict[str, Any]) -> list[str]:
    lines = [f"## Evaluation on the validation split ({_checkpoint_label(extra)})", ""]
    lines += [f"Accuracy **{_pct(evaluation.accuracy)}**, mean loss {evaluation.loss:.4f}.", ""]
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
    lines += ["![Confusion matrix](confusion_matrix.png)", ""]
    if evaluation.mistakes:
        lines += ["## Most confident mistakes", ""]
        lines += markdown_table(
            ("index", "file", "true", "predicted", "probability"),
            [(m.index, m.file, m.true, m.predicted, f"{m.probability:.3f}") for m in evaluation.mistakes[:10]],
        )
    return lines


# --- comparing runs -------------------------------------------------------------------------


def compare_runs(run_dirs: Sequence[str | os.PathLike], out_dir: str | os.PathLike) -> list[Path]:
    """Write comparison.csv/md, overlaid curves and side-by-side confusion matrices into ``out_dir``.

    Every run's files are read and checked before ``out_dir`` is made: a damaged one leaves nothing behind.
    """
    runs = [resolve_run(r) for r in run_dirs]
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
    return [(read_config(run), checked_summary(run, COMPARE_HINT), load_evaluation(run)) for run in runs]


def class_mismatch(
    runs: Sequence[Path], names: Sequence[str] | None = None, summaries: Sequence[dict[str, Any]] | None = None
) -> str | None:
    """One warning line when the runs were trained on different class lists, else None."""
    names = list(names) if names is not None else _unique_names(list(runs))
    if summaries is None:
        summaries = [checked_summary(run, COMPARE_HINT) for run in runs]
    lists = [list(summary.get("classes") or []) for summary in summaries]
    if all(classes == lists[0] for classes in lists):
        return None
    described = "; ".join(f"{name}: {', '.join(classes) or '?'}" for name, classes in zip(names, lists))
    return f"warning: the runs were trained on different classes ({described}); their accuracies do not compare"


def _unique_names(runs: list[Path]) -> list[str]:
    names = [run.name for run in runs]
    return [name if names.count(name) == 1 else str(run) for name, run in zip(names, runs)]


def _comparison_row(run: Path, name: str, cfg: config_mod.RunConfig, summary: dict[str, Any]) -> dict[str, Any]:
    history = read_metrics(run)
    seconds = [r["seconds"] for r in history]
    return {
        "run": name,
        "status": summary.get("status", "?"),
        "preset": cfg.preset or "custom",
        "attention": cfg.model.attention,
        "ffn": cfg.model.ffn,
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
    ("best val acc", lambda r: _pct(r["best_val_acc"])),
    ("final val acc", lambda r: _pct(r["final_val_acc"])),
    ("final train acc", lambda r: _pct(r["final_train_acc"])),
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
    histories = [read_metrics(run) for run in runs]
    epochs = max((len(h) for h in histories), default=0)
    lines += ["## Per epoch (train loss / validation accuracy)", ""]
    lines += markdown_table(
        ("epoch", *names),
        [
            (e + 1, *(f"{h[e]['train_loss']:.4f} / {_pct(h[e]['val_acc'])}" if e < len(h) else "" for h in histories))
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
        steps = read_steps(run)
        history = read_metrics(run)
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
