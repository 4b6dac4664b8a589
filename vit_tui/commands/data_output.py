"""What ``vit-tui data`` prints: the counts table, the report of a finished build, the progress bar."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


def split_counts(labels: Any, num_classes: int) -> list[int]:
    """Images per label."""
    import numpy as np

    return np.bincount(labels, minlength=num_classes).tolist()


def describe(manifest: Any) -> str:
    """One line: image size, source, seed, when it was built."""
    source = manifest.source
    where = source.get("annotations") or source.get("path") or source.get("generator", "")
    seed = "" if manifest.seed is None else f", seed {manifest.seed}"
    return (
        f"{manifest.image_size}x{manifest.image_size} RGB, {source.get('kind', '?')} source {where}{seed}, "
        f"built {manifest.created}"
    )


def counts_table(title: str, classes: list[str], counts: dict[str, list[int]]) -> Any:
    from rich.table import Table

    table = Table(title=title)
    table.add_column("class")
    for split in counts:
        table.add_column(split, justify="right")
    table.add_column("total", justify="right")
    for label, name in enumerate(classes):
        values = [counts[split][label] for split in counts]
        table.add_row(name, *(f"{v:,}" for v in values), f"{sum(values):,}")
    table.add_section()
    totals = [sum(counts[split]) for split in counts]
    table.add_row("[bold]all[/bold]", *(f"{v:,}" for v in totals), f"[bold]{sum(totals):,}[/bold]")
    return table


def print_built(path: Path, seconds: float) -> None:
    from rich.console import Console

    from ..data.store import SPLITS, read_manifest

    manifest = read_manifest(path)
    console = Console()
    counts = {split: [manifest.counts[split].get(c, 0) for c in manifest.classes] for split in SPLITS}
    console.print(counts_table(manifest.name, manifest.classes, counts))
    for line in report_lines(manifest):
        say(console, line)
    total = sum(manifest.total(split) for split in SPLITS)
    rate = total / seconds if seconds > 0 else 0.0
    say(
        console,
        f"wrote {path} ({manifest.total('train'):,} train / {manifest.total('val'):,} val, "
        f"{manifest.image_size}x{manifest.image_size}) in {seconds:.1f} s, {rate:,.0f} images/s",
    )


def say(console: Any, text: str) -> None:
    """Print plain text: paths are neither wrapped nor read as rich markup."""
    console.print(text, soft_wrap=True, markup=False)


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def _names(items: list[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def report_lines(manifest: Any) -> list[str]:
    from ..data.checks import class_gaps, gaps_warning

    report, lines = manifest.report, []
    counts = {split: [manifest.counts.get(split, {}).get(c, 0) for c in manifest.classes] for split in manifest.counts}
    gaps = class_gaps(manifest.classes, counts)
    if gaps:
        lines.append(gaps_warning(gaps))
    if manifest.source.get("kind") == "coco":
        multi = report.get("multi_class", 0)
        if manifest.options.get("exclusive"):
            dropped = report.get("dropped_multi_class", 0)
            lines.append(f"--exclusive dropped {_count(dropped, 'candidate image')} holding two or more chosen classes")
        else:
            shared = _count(report.get("shared_between_classes", 0), "sampled image")
            lines.append(
                f"{shared} appear under two or more classes ({_count(multi, 'image')} in the file hold "
                "several chosen classes; --exclusive drops them)"
            )
    shortfall = report.get("shortfall")
    if shortfall:
        for name, c in shortfall.items():
            lines.append(
                f"--allow-fewer: {name} has {c['got']:,} of the {c['asked']:,} images asked "
                f"({c['train']:,} train, {c['val']:,} val)"
            )
    else:  # datasets built before the shortfall was recorded
        for name, count in report.get("fewer", {}).items():
            lines.append(f"--allow-fewer: {name} has only {_count(count, 'image')}")
    for key, what in (
        ("missing", "listed image(s) not found"),
        ("unreadable", "unreadable image(s) skipped"),
        ("unlabelled", "file(s) without a <class>_ prefix skipped"),
        ("ignored", "folder(s) ignored"),
    ):
        items = report.get(key) or []
        if items:
            lines.append(f"{len(items):,} {what}: {_names(items)}")
    return lines


@contextlib.contextmanager
def progress_bar(description: str) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar with images/s and time left; yields the ``progress(done, total)`` callback.

    The bar appears with the first report, so input errors found before any work print no bar.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task: Any) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{speed:,.0f} img/s" if speed else "- img/s", style="progress.data.speed")

    bar = Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TimeElapsedColumn(),
    )
    task_ids: list[Any] = []

    def progress(done: int, total: int) -> None:
        if not task_ids:
            bar.start()
            task_ids.append(bar.add_task(description, total=total))
        bar.update(task_ids[0], completed=done, total=total)

    try:
        yield progress
    finally:
        if task_ids:
            bar.stop()
