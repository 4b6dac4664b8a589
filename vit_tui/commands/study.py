"""``vit-tui reproduce``, ``vit-tui sweep`` and ``vit-tui report``: studies of many runs, and report files.

The work is done by ``vit_tui.study``; this module parses the options and shows progress: on a
terminal a bar over the study's runs and one over the current run's epochs, otherwise one plain
line per run. Ctrl+C, SIGTERM and SIGHUP stop the running run with a resumable checkpoint; the
same command run again keeps the finished runs and continues.
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path
from typing import Any

from .common import EventDisplay, add_command, add_config_options, add_format_option, add_set_option

EXIT_INTERRUPTED = 130


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``reproduce``, ``sweep`` and ``report``."""
    _add_reproduce(subparsers)
    _add_sweep(subparsers)
    _add_report(subparsers)


def _add_format(parser: argparse.ArgumentParser) -> None:
    add_format_option(parser, "also one self-contained .html (images inlined)")


def _add_reproduce(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(subparsers, "reproduce", run_reproduce)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--coco", metavar="ROOT", help="COCO folder (annotations/ and train2014/ or train2017/)")
    source.add_argument("--data", metavar="DIR", help="train on this existing dataset instead (e.g. data/demo)")
    parser.add_argument("--coco-out", metavar="DIR", help="where the reference dataset is built (default <home>/data/coco5)")
    parser.add_argument("--allow-fewer", action="store_true", help="build with fewer images than the reference asks")
    parser.add_argument("--epochs", type=int, metavar="N", help="epochs per run (default: the presets' 20)")
    parser.add_argument("--seeds", default="1", metavar="LIST", help="seeds, e.g. 1,2,3 (default 1)")
    parser.add_argument("--out", metavar="DIR", help="folder for figures and comparison.md (default <home>/reproduce)")
    parser.add_argument(
        "--with-cnn", action="store_true", help="also train the CNN baseline (resnet18, the reference's recipe) per seed"
    )
    add_set_option(parser, "change a setting of both presets, e.g. --set train.batch_size=64 (not model.attention)")
    _add_format(parser)


def _add_sweep(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(subparsers, "sweep", run_sweep)
    parser.add_argument(
        "--grid",
        metavar="KEY=V1,V2",
        action="append",
        default=[],
        help="a setting and its values, e.g. --grid model.heads=2,4,8 (repeatable; every combination runs)",
    )
    parser.add_argument("--seeds", default="1", metavar="LIST", help="seeds per combination, e.g. 1,2,3 (default 1)")
    parser.add_argument("--data", metavar="DIR", help="dataset folder (default: the config's, under <home>)")
    parser.add_argument("--out", metavar="DIR", help="folder for the sweep's files (default <home>/sweeps/<name>)")
    parser.add_argument(
        "--devices",
        metavar="LIST",
        help="run one job at a time on each listed device, e.g. cuda:0,cuda:1 (default: every visible GPU)",
    )
    add_config_options(parser, default_preset="fast")
    _add_format(parser)


def _add_report(subparsers: argparse._SubParsersAction) -> None:
    parser = add_command(subparsers, "report", run_report)
    parser.add_argument("target", metavar="RUN_OR_DIR", help="a run folder or name, or a sweep/reproduce --out folder")
    _add_format(parser)


# --- commands ---------------------------------------------------------------------------------


def run_reproduce(args: argparse.Namespace) -> int:
    """Build or find the dataset, train both presets per seed, write the figures and comparison."""
    from ..errors import UserError
    from ..study.api import reproduce
    from ..study.plan import parse_seeds

    seeds = parse_seeds(args.seeds)
    if args.epochs is not None and args.epochs < 1:
        raise UserError("--epochs", f"must be 1 or more, got {args.epochs}")
    options = {
        "coco": args.coco,
        "data": args.data,
        "coco_out": args.coco_out,
        "allow_fewer": args.allow_fewer,
        "seeds": seeds,
        "epochs": args.epochs,
        "overrides": args.overrides,
        "out": args.out,
        "html": args.format == "html",
        "with_cnn": args.with_cnn,
    }
    return _run(lambda sink, cancel: reproduce(args.home, **options, sink=sink, cancel=cancel))


def run_sweep(args: argparse.Namespace) -> int:
    """Plan the sweep, train its runs, write its table and figure."""
    from ..config import with_value
    from ..study.api import sweep
    from ..study.plan import parse_devices, parse_seeds
    from ..study.sweep import parse_grid
    from .common import config_from_args
    from .train import dataset_path

    grid = parse_grid(args.grid)
    seeds = parse_seeds(args.seeds)
    base = config_from_args(args, check=False)  # each combination is checked once the grid is applied
    dataset = dataset_path(args, base, Path(args.home), resumed=False)
    base = with_value(base, "data.dataset", str(dataset))
    options = {
        "out": args.out,
        "overrides": args.overrides,
        "devices": parse_devices(args.devices),
        "html": args.format == "html",
    }
    return _run(lambda sink, cancel: sweep(args.home, base, grid, seeds, **options, sink=sink, cancel=cancel))


def run_report(args: argparse.Namespace) -> int:
    """Rewrite a run's or a study's report files."""
    from ..engine.report.report import export_run
    from ..engine.runs.folder import RunFolder
    from ..run_layout import REPORT_MD
    from ..study.plan import read_plan

    target = Path(args.target)
    plan = read_plan(target) if target.is_dir() and not RunFolder(target).is_run() else None
    if plan is not None:
        written = _write_study(target, plan.get("kind", ""), args.format == "html")
    else:
        folder = RunFolder.resolve(args.target, Path(args.home) / "runs")
        written = export_run(folder.path)
        if args.format == "html":
            from ..engine.report.html import markdown_file_to_html

            written.append(markdown_file_to_html(folder.file(REPORT_MD)))
    for path in written:
        print(f"wrote {path}")
    return 0


def _write_study(out: Path, kind: str, html: bool) -> list[Path]:
    from ..study.reproduce import write_reproduce_outputs
    from ..study.sweep import write_sweep_outputs

    return write_reproduce_outputs(out, html) if kind == "reproduce" else write_sweep_outputs(out, html)


# --- running with progress ---------------------------------------------------------------------


def _run(study: Any) -> int:
    """Run ``study(sink, cancel)`` with the display and the stop signals wired; print what it wrote."""
    from .train import stop_signals

    cancel = threading.Event()
    with StudyDisplay() as display, stop_signals(cancel, display.note):
        report = study(display, cancel)
    if report.status != "finished":
        done = sum(1 for s in report.statuses.values() if s in ("finished", "failed"))
        print(
            f"stopped with {done} of {report.total} runs done; run the same command again to continue "
            "(finished runs are kept)",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    for path in report.files:
        print(f"wrote {path}")
    if report.failed:
        print(f"vit-tui: {len(report.failed)} run(s) failed and are left out of the means: "
              f"{', '.join(report.failed)}", file=sys.stderr)
    return 0


class StudyDisplay(EventDisplay):
    """Shows a study's progress: the runs done so far and the current run's epochs and loss."""

    def __init__(self, live: bool | None = None, stream: Any = None) -> None:
        super().__init__(live, stream)
        self.study_task = self.run_task = self.phase_task = None
        self.phase = ""

    def _on_StudyStarted(self, e: Any) -> None:
        kept = f", {e.kept} finished before (kept)" if e.kept else ""
        devices = ", ".join(e.devices)
        text = f"{e.kind} {e.name}: {e.total} runs{kept}; device {devices}; files in {e.out_dir}"
        self._line(f"[bold]{text}[/bold]", text)
        if self.progress is not None:
            self.study_task = self.progress.add_task("runs", total=e.total, completed=e.kept, stats="")

    def _on_StudyPhase(self, e: Any) -> None:
        if e.phase != self.phase:
            self.phase = e.phase
            self._line(f"[dim]{e.phase} ...[/dim]", f"{e.phase} ...")
            if self.progress is not None and self.phase_task is not None:
                self.progress.remove_task(self.phase_task)
                self.phase_task = None
        if self.progress is not None and e.total:
            if self.phase_task is None:
                self.phase_task = self.progress.add_task("images", total=e.total, stats="")
            self.progress.update(self.phase_task, completed=e.done)

    def _on_JobStarted(self, e: Any) -> None:
        verb = {"resume": "resuming", "restart": "restarting"}.get(e.action, "starting")
        text = f"[{e.index}/{e.total}] {verb} {Path(e.run_dir).name} ({e.label}, seed {e.seed})"
        self._line(text, text)

    def _on_JobEnded(self, e: Any) -> None:
        if e.action == "keep":
            return
        text = f"[{e.index}/{e.total}] {Path(e.run_dir).name}: {e.status}, best val acc {e.best_val_acc:.1%}"
        self._line(text, text)
        if self.progress is not None and self.study_task is not None and e.status in ("finished", "failed"):
            self.progress.advance(self.study_task)

    def _on_RunStarted(self, e: Any) -> None:
        if self.progress is None:
            return
        if self.run_task is not None:
            self.progress.remove_task(self.run_task)
        self.run_task = self.progress.add_task("epochs", total=e.epochs, completed=e.start_epoch - 1, stats="")

    def _on_StepsLogged(self, e: Any) -> None:
        if self.progress is None or self.run_task is None:
            return
        fraction = e.epoch - 1 + e.step / max(1, e.steps_per_epoch)
        stats = f"loss {e.loss:.4f}  acc {e.acc:6.1%}  {e.images_per_s:,.0f} img/s"
        self.progress.update(self.run_task, completed=fraction, description=f"epoch {e.epoch}", stats=stats)

    def _on_EpochEnded(self, e: Any) -> None:
        if self.progress is not None and self.run_task is not None:
            stats = f"val acc {e.val_acc:6.1%}  best {e.best_val_acc:6.1%}"
            self.progress.update(self.run_task, completed=e.epoch, stats=stats)

    def _on_RunFailed(self, e: Any) -> None:
        text = f"run failed: {e.message}" + (f" ({e.hint})" if e.hint else "")
        self._line(f"[red]{text}[/red]", text)
