"""Sweeps: every combination of a grid of settings, each over several seeds, and their leaderboard.

``sweep_plan`` turns ``--grid key=v1,v2`` options and seeds into jobs (every config is checked
before any run starts); ``write_sweep_outputs`` writes ``sweep.csv``, ``sweep.md`` and
``sweep.png`` (mean best validation accuracy per combination with ± std error bars).
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import math
from dataclasses import replace
from pathlib import Path

from .. import config as config_mod
from ..config import ConfigError, RunConfig
from ..errors import UserError
from ..files import write_text
from .plan import Job, StudyPlan, name_prefix, slug, study_name
from .results import Combination, compare_combinations, leaderboard, read_records
from .stats import pm

SWEEP_CSV = "sweep.csv"
SWEEP_MD = "sweep.md"
SWEEP_PNG = "sweep.png"
MAX_RUNS = 1000


def parse_grid(items: list[str]) -> list[tuple[str, list[str]]]:
    """``["model.heads=2,4", ...]`` as (key, values); each value is checked against its key's type."""
    grid: list[tuple[str, list[str]]] = []
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        values = [v.strip() for v in text.split(",") if v.strip()]
        if not sep or not values:
            raise UserError("--grid", f"expected section.key=value1,value2 like model.heads=2,4,8; got {item!r}")
        if key in (k for k, _ in grid):
            raise UserError("--grid", f"{key} is given twice; list all its values in one --grid")
        if key in ("train.seed", "data.dataset"):
            raise UserError("--grid", f"{key} cannot be swept; use --seeds for seeds and one sweep per dataset")
        for value in values:
            config_mod.coerce(key, value)  # an unknown key or a value of the wrong type is named here
        grid.append((key, values))
    return grid


def short_key(key: str) -> str:
    """``model.heads`` -> ``heads`` (labels and folder names)."""
    return key.rpartition(".")[2]


def sweep_plan(
    base: RunConfig,
    grid: list[tuple[str, list[str]]],
    seeds: list[int],
    *,
    out_dir: Path | None,
    runs_root: Path,
    spec: dict,
) -> StudyPlan:
    """Every combination x seed as a job; the sweep's name comes from ``out_dir`` or the spec.

    The run count is the product of the value counts, refused over ``MAX_RUNS`` before a single
    combination is made (a grid of 10^9 would not fit in memory).
    """
    check_run_count(grid, seeds)
    keys = [key for key, _ in grid]
    combos = list(itertools.product(*(values for _, values in grid))) if grid else [()]
    digest = hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:8]
    out = Path(out_dir) if out_dir is not None else runs_root.parent / "sweeps" / f"sweep-{slug(base.preset or 'custom')}-{digest}"
    name = study_name(out)
    parts = []
    for combo in combos:
        values = dict(zip(keys, combo))
        label = ", ".join(f"{short_key(k)}={v}" for k, v in values.items()) or "base"
        part = "-".join(f"{short_key(k)}{v}" for k, v in values.items()) or "base"
        parts.append((values, label, slug(part)))
    prefix = name_prefix(name, out, runs_root, "sweep", [f"{part}-seed{seed}" for _, _, part in parts for seed in seeds])
    jobs = []
    for values, label, part in parts:
        cfg = _combination_config(base, values)
        for seed in seeds:
            job_cfg = replace(cfg, train=replace(cfg.train, seed=seed))
            jobs.append(Job(f"{prefix}-{part}-seed{seed}", job_cfg, label, values, seed))
    return StudyPlan("sweep", name, out, runs_root, tuple(jobs), spec)


def check_run_count(grid: list[tuple[str, list[str]]], seeds: list[int]) -> None:
    """Refuse more than ``MAX_RUNS`` runs, counted from the value counts alone."""
    counts = [len(values) for _, values in grid]
    total = math.prod(counts) * len(seeds)
    if total > MAX_RUNS:
        shape = " x ".join(str(n) for n in counts) if len(counts) <= 6 else f"{math.prod(counts):,}"
        raise UserError(
            "--grid",
            f"{total:,} runs ({shape} combinations x {len(seeds)} seed(s)) is more than {MAX_RUNS:,}; sweep fewer values",
        )


def _combination_config(base: RunConfig, values: dict[str, str]) -> RunConfig:
    cfg = base
    for key, value in values.items():
        cfg = config_mod.with_value(cfg, key, value)
    try:
        return config_mod.validate(cfg)
    except ConfigError as exc:
        combo = ", ".join(f"{k}={v}" for k, v in values.items())
        raise ConfigError(exc.field, f"{exc.why} (in the combination {combo})") from None


# --- outputs --------------------------------------------------------------------------------


def write_sweep_outputs(out_dir: str | Path, html: bool = False) -> list[Path]:
    """``sweep.csv``, ``sweep.png`` and ``sweep.md`` (and ``sweep.html``) from the runs as they are."""
    out = Path(out_dir)
    board = leaderboard(out)
    keys = _grid_keys(board)
    written = [_write_csv(out / SWEEP_CSV, board, keys)]
    if any(c.finished for c in board):
        written.append(plot_sweep(out / SWEEP_PNG, board))
    written.append(_write_md(out / SWEEP_MD, out, board, keys, written))
    if html:
        from ..engine.report.html import markdown_file_to_html

        written.append(markdown_file_to_html(out / SWEEP_MD))
    return written


def _grid_keys(board: list[Combination]) -> list[str]:
    keys: list[str] = []
    for combo in board:
        keys += [k for k in combo.values if k not in keys]
    return keys


def csv_rows(board: list[Combination], keys: list[str]) -> list[dict[str, object]]:
    """One row per combination: its values, seeds, mean ± std of best val accuracy, epochs, time, params."""
    rows = []
    for combo in board:
        acc_mean, acc_std = combo.mean_std()
        rows.append(
            {
                **{key: combo.values.get(key, "") for key in keys},
                "combination": combo.label,
                "runs": len(combo.runs),
                "finished": len(combo.finished),
                "seeds": " ".join(str(r.seed) for r in combo.finished),
                "best_val_acc_mean": acc_mean,
                "best_val_acc_std": acc_std,
                "epochs_mean": combo.mean_std("epochs_done")[0],
                "wall_s_mean": combo.mean_std("wall_s")[0],
                "params": combo.params,
            }
        )
    return rows


def _write_csv(path: Path, board: list[Combination], keys: list[str]) -> Path:
    rows = csv_rows(board, keys)
    out = io.StringIO()
    fields = [*keys, "combination", "runs", "finished", "seeds", "best_val_acc_mean", "best_val_acc_std",
              "epochs_mean", "wall_s_mean", "params"]
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, out.getvalue())
    return path


def verdict_lines(board: list[Combination]) -> list[str]:
    """The leader against the runner-up: is the gap more than the seed-to-seed spread?"""
    ranked = [c for c in board if c.finished]
    if len(ranked) < 2:
        return []
    return [f"Best against runner-up: {compare_combinations(ranked[0], ranked[1]).text}.", ""]


def _write_md(path: Path, out: Path, board: list[Combination], keys: list[str], written: list[Path]) -> Path:
    from ..engine.report.report import markdown_table

    plan, records = read_records(out)
    spec = plan.get("spec", {})
    lines = [f"# Sweep {plan.get('name', out.name)}", ""]
    lines += [
        f"Preset `{spec.get('preset') or 'custom'}`, dataset `{spec.get('dataset', '?')}`, "
        f"seeds {', '.join(str(s) for s in spec.get('seeds', []))}"
        + (f", settings `{' '.join(spec['overrides'])}`" if spec.get("overrides") else "")
        + ". Mean ± standard deviation over the finished seeds; best validation accuracy of each run.",
        "",
    ]
    lines += markdown_table(
        ("rank", *(short_key(k) for k in keys), "best val acc", "seeds", "epochs", "time (s)", "parameters"),
        [
            (
                rank,
                *(combo.values.get(k, "") for k in keys),
                pm(combo.accuracies) if combo.finished else "-",
                f"{len(combo.finished)}/{len(combo.runs)}",
                f"{combo.mean_std('epochs_done')[0]:.0f}",
                f"{combo.mean_std('wall_s')[0]:.1f}",
                f"{combo.params:,}",
            )
            for rank, combo in enumerate(board, start=1)
        ],
    )
    lines += verdict_lines(board)
    if any(p.name == SWEEP_PNG for p in written):
        lines += [f"![Best validation accuracy per combination]({SWEEP_PNG})", ""]
    lines += ["## Runs", ""]
    lines += markdown_table(
        ("run", "combination", "seed", "status", "best val acc", "epochs", "time (s)"),
        [
            (f"`{r.name}`", r.label, r.seed, r.status, f"{r.best_val_acc:.1%}", r.epochs_done, f"{r.wall_s:.1f}")
            for r in records
        ],
    )
    write_text(path, "\n".join(lines))
    return path


def plot_sweep(path: Path, board: list[Combination]) -> Path:
    """Mean best validation accuracy per combination with ± std error bars and each seed as a dot."""
    from ..figures import figure, save_figure

    shown = [c for c in board if c.finished]
    height = max(3.0, 0.45 * len(shown) + 1.6)
    fig = figure(7.5, height)
    ax = fig.add_subplot()
    positions = list(range(len(shown)))[::-1]  # the leader on top
    means = [c.mean_std()[0] * 100 for c in shown]
    stds = [c.mean_std()[1] * 100 for c in shown]
    ax.barh(positions, means, xerr=stds, color="#6a9fd4", edgecolor="#2f5f8f", capsize=4, height=0.6,
            error_kw={"elinewidth": 1.5, "ecolor": "#1d1d1f"})
    for pos, combo in zip(positions, shown):
        ax.plot([a * 100 for a in combo.accuracies], [pos] * len(combo.accuracies), "o", color="#c0392b",
                markersize=4, zorder=3)
        mean, std = combo.mean_std()
        _value_label(ax, pos, mean * 100, std * 100, pm(combo.accuracies))
    ax.set_yticks(positions, labels=[c.label for c in shown])
    ax.set_xlabel("best validation accuracy (%): mean ± std over seeds; dots are seeds")
    ax.set_xlim(0, 100)
    ax.grid(axis="x", alpha=0.3)
    ax.set_title("Sweep: accuracy per combination")
    return save_figure(fig, path)


def _value_label(ax, position: float, mean: float, std: float, text: str) -> None:
    """The mean ± std beside its error bar, or inside the bar when that would run off the right edge."""
    if mean + std < 78:
        ax.text(mean + std + 1.5, position, text, va="center", ha="left", color="#1d1d1f", fontsize=10)
    else:  # the bar is then at least ~70% long: room for the text inside
        ax.text(2, position, text, va="center", ha="left", color="white", fontsize=10, fontweight="bold")
