"""A study group's detail pane: its leaderboard, best mean first, as the Runs screen shows it."""

from __future__ import annotations

from pathlib import Path

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ...study.stats import pm
from ..study_groups import StudyRow

HINT = "→ shows its runs · mark runs of two combinations (space), c: is the difference beyond seed spread?"


def leaderboard_table(study: StudyRow, home: Path) -> RenderableType:
    """Title, one row per combination (mean ± std of best val accuracy, seeds, epochs, time, params), hint.

    The study's folder is shown relative to ``home`` when it lies inside it.
    """
    try:
        folder = study.out_dir.relative_to(home)
    except ValueError:
        folder = study.out_dir
    title = Text.assemble((f"{study.kind} {study.name}", "bold"), f"\nfiles in {folder}")
    if study.problem:
        return Group(title, Text(study.problem))
    table = Table(box=None, padding=(0, 1), header_style="bold")
    for name, justify in (("combination", "left"), ("best acc", "right"), ("seeds", "right"),
                          ("epochs", "right"), ("time", "right"), ("params", "right")):  # fmt: skip
        table.add_column(name, justify=justify, no_wrap=name != "combination")
    for combo in study.board:
        finished = combo.finished
        table.add_row(
            combo.label,
            pm(combo.accuracies) if finished else "–",
            f"{len(finished)}/{len(combo.runs)}",
            f"{combo.mean_std('epochs_done')[0]:.0f}" if finished else "–",
            f"{combo.mean_std('wall_s')[0]:.0f} s" if finished else "–",
            f"{combo.params:,}" if combo.params else "–",
        )
    return Group(title, Text(""), table, Text(""), Text(HINT, style="dim"))
