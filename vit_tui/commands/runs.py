"""``vit-tui runs``, ``vit-tui compare`` and ``vit-tui attach``: list, compare and follow runs."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..engine.runs.query import middle_cut
from .common import add_command, add_format_option, add_notify_option, add_run_argument

COMPARE_COLUMNS = (
    "run",
    "preset",
    "attention",
    "ffn",
    "params",
    "epochs_done",
    "best_epoch",
    "best_val_acc",
    "final_val_acc",
    "median_epoch_s",
)
EXPORT_FIELDS = ("name", "path", "status", "preset", "epochs_done", "epochs", "best_val_acc", "started", "dataset",
                 "problem")  # fmt: skip
NAME_MIN_WIDTH = 18
NAME_ROOM = 62  # what the other columns of the runs table need at the least, wrapped
POLL_S = 0.2
START_WAIT_S = 60.0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``runs``, ``compare`` and ``attach``."""
    runs = add_command(subparsers, "runs", run_list)
    runs.add_argument("dir", nargs="?", metavar="DIR", help="runs folder (default: <home>/runs)")
    runs.add_argument(
        "--filter",
        metavar="WORDS",
        default="",
        help="keep runs every word holds for: a word is looked for in name, preset, status and dataset; "
        "COLUMN OP VALUE compares a column as shown (acc>80, epochs>=20, status=finished; ops = != > >= < <= ~)",
    )
    runs.add_argument("--sort", metavar="COLUMN", help="order by run, status, preset, epochs, acc, started or dataset; "
                      "--sort=-COLUMN reverses (default: newest first)")  # fmt: skip
    output = runs.add_mutually_exclusive_group()
    output.add_argument("--csv", metavar="FILE", help="write the listed runs to FILE as CSV instead of the table")
    output.add_argument("--json", action="store_true", help="print the listed runs as JSON instead of the table")

    compare = add_command(subparsers, "compare", run_compare)
    compare.add_argument("runs", metavar="RUN", nargs="+", help="two or more run folders or names")
    compare.add_argument("--out", metavar="DIR", help="output folder (default: <home>/runs/compare-<first>-<second>)")
    compare.add_argument("--force", action="store_true", help="write into an existing --out folder")
    add_format_option(compare, "also comparison.html with the images inlined")

    attach = add_command(subparsers, "attach", run_attach)
    add_run_argument(attach)
    add_notify_option(attach)


def run_list(args: argparse.Namespace) -> int:
    """Print the runs table."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from ..engine.runs.listing import list_runs
    from ..engine.runs.query import filter_runs, parse_sort, sort_runs

    root = Path(args.dir) if args.dir else Path(args.home) / "runs"
    order = parse_sort(args.sort) if args.sort else None
    infos = filter_runs(list_runs(root), args.filter)  # a bad filter is said before anything is written
    if order is not None:
        infos = sort_runs(infos, *order)
    if args.csv or args.json:
        return _export_list(infos, args.csv)
    console = Console(highlight=False)
    if not infos and args.filter:
        console.print(f"no run in {root} passes the filter {args.filter!r}", markup=False)
        return 0
    if not infos:
        console.print(f"no runs in {root}; start one with: vit-tui train --preset fast")
        return 0
    colours = {"running": "cyan", "finished": "green", "interrupted": "yellow", "failed": "red", "damaged": "red"}
    table = Table(title=f"runs in {root}")
    # Run names often differ only at the end (seed1, seed2): the other columns wrap before a name is cut.
    name_width = min(max(len(info.name) for info in infos), max(NAME_MIN_WIDTH, console.width - NAME_ROOM))
    for column in ("name", "status", "preset", "epochs", "best val acc", "started"):
        if column == "name":
            table.add_column(column, no_wrap=True, min_width=name_width)
        elif column == "status":
            table.add_column(column, no_wrap=True, min_width=max(len(word) for word in colours))
        else:
            table.add_column(column, justify="right" if column in ("epochs", "best val acc") else "left")
    for info in infos:
        best = f"{info.best_val_acc:.1%}" if info.best_val_acc is not None else "-"
        status = f"[{colours.get(info.status, 'white')}]{info.status}[/]"
        table.add_row(
            Text(middle_cut(info.name, name_width)),
            status,
            info.preset or "custom",
            f"{info.epochs_done}/{info.epochs}",
            best,
            info.started,
        )
    console.print(table)
    for info in infos:
        if info.problem:  # the reason, whole, below the table rather than squeezed into a cell
            console.print(f"{info.name}: damaged: {info.problem}", markup=False)
    return 0


def _export_list(infos: list, csv_path: str | None) -> int:
    """The listed runs as JSON on stdout, or as a CSV file written whole."""
    import csv
    import io
    import json

    from ..files import write_text

    records = [
        {
            "name": info.name, "path": str(info.path), "status": info.status, "preset": info.preset or "custom",
            "epochs_done": info.epochs_done, "epochs": info.epochs, "best_val_acc": info.best_val_acc,
            "started": info.started, "dataset": info.dataset, "problem": info.problem,
        }
        for info in infos
    ]  # fmt: skip
    if csv_path is None:
        print(json.dumps(records, indent=2))
        return 0
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_FIELDS, lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({k: "" if v is None else v for k, v in record.items()})
    print(f"wrote {write_text(csv_path, buffer.getvalue())} ({len(records)} runs)")
    return 0


def run_compare(args: argparse.Namespace) -> int:
    """Write the comparison files and print the metrics table."""
    from rich.console import Console
    from rich.table import Table

    from ..engine.report.compare import COMPARE_CSV, class_mismatch, read_compare_inputs, write_comparison
    from ..engine.runs.folder import RunFolder
    from ..errors import UserError

    home_runs = Path(args.home) / "runs"
    runs = [RunFolder.resolve(r, home_runs).path for r in args.runs]
    if len(runs) < 2:
        raise UserError("compare", "give at least two runs")
    inputs = read_compare_inputs(runs)  # a damaged file is refused before --out is made
    out = Path(args.out) if args.out else home_runs / ("compare-" + "-".join(r.name for r in runs[:2]))
    written = write_comparison(runs, out, force=args.force, html=args.format == "html")
    import csv

    rows = list(csv.DictReader((out / COMPARE_CSV).open(encoding="utf-8")))
    console = Console(highlight=False)
    table = Table(title="comparison")
    columns = COMPARE_COLUMNS
    for column in columns:
        table.add_column(column.replace("_", " "))
    for row in rows:
        cells = []
        for column in columns:
            value = row[column]
            if column.endswith("_acc"):
                value = f"{float(value):.1%}"
            elif column == "params":
                value = f"{int(value):,}"
            elif column == "median_epoch_s":
                value = f"{float(value):.2f}"
            cells.append(value)
        table.add_row(*cells)
    console.print(table)
    mismatch = class_mismatch(runs, summaries=[summary for _, summary, _ in inputs])
    if mismatch:
        console.print(mismatch, markup=False, soft_wrap=True)
    for path in written:
        console.print(f"wrote {path}")
    return 0


def run_attach(args: argparse.Namespace) -> int:
    """Follow a run's events with the training display until it ends."""
    from ..engine.runs.folder import RunFolder
    from ..engine.telemetry.events import RunFailed, RunFinished, RunStarted
    from .train import EXIT_CODES, TrainingDisplay, with_notifier

    folder = RunFolder.resolve(args.run, Path(args.home) / "runs")
    run_dir = folder.path
    folder.checked_summary()
    follower = folder.follow()
    outcome: str | None = None
    started_pid = 0
    since = time.monotonic()
    try:
        with TrainingDisplay() as display:
            telling = with_notifier(display, args.notify)
            show = display  # what the first read replays was news before: only later events are told
            while True:
                # The run's lock, not the status, says whether more events can come (the process
                # writes "finished" before its last exports and holds the lock until it exits).
                alive = folder.training_pid() is not None
                for event in follower.poll():
                    show(event)
                    if isinstance(event, RunStarted):
                        outcome, started_pid = None, event.pid
                    elif isinstance(event, (RunFinished, RunFailed)):
                        outcome = event.status if isinstance(event, RunFinished) else "failed"
                show = telling
                summary = folder.read_summary()
                # An ending counts once it belongs to the process now named in the summary.
                if outcome is not None and (not alive or started_pid == summary.get("pid")):
                    return EXIT_CODES.get(outcome, 1)
                if not alive:
                    starting = folder.is_reserved() or not summary
                    if not (starting and time.monotonic() - since < START_WAIT_S):
                        display.note(_gone_message(run_dir, summary))
                        return EXIT_CODES.get(summary.get("status", "failed"), 1)
                time.sleep(POLL_S)
    except KeyboardInterrupt:
        print(f"\nstopped following; the run goes on. Attach again with: vit-tui attach {run_dir}")
        return 0


def _gone_message(run_dir: Path, summary: dict) -> str:
    status = summary.get("status", "?")
    if status == "running":
        return (
            f"the training process ({summary.get('pid')}) is gone without finishing (killed?); "
            f"continue with: vit-tui train --resume {run_dir}"
        )
    return f"the run is {status}"
