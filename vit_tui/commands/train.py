"""``vit-tui train``: train a config headless, with live progress, and the display it shares with attach.

On a terminal the run shows rich progress bars (epochs with ETA, steps, loss, accuracy,
images/s) and a line per epoch; otherwise (a log file, a pipe, ``--detach``) it prints one
plain line per epoch. Ctrl+C, SIGTERM and SIGHUP stop at the next step with a resumable
checkpoint saved (exit 130); a second one does not cut that saving short.

``--nproc-per-node N`` (with ``--nnodes``, ``--node-rank``, ``--rdzv-endpoint`` across machines)
starts the same command again through torchrun, one process per device; a process that
torchrun started (by this launcher or by hand) trains its rank of the data-parallel run.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .common import EventDisplay, add_command, add_config_options, add_notify_option

STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")
EXIT_CODES = {"finished": 0, "interrupted": 130, "failed": 1}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``train``."""
    parser = add_command(subparsers, "train", run_train)
    parser.add_argument("--data", metavar="DIR", help="dataset folder (default: <home>/data/demo, made if missing)")
    add_config_options(parser)
    parser.add_argument("--out", metavar="RUN_DIR", help="run folder to create (default: <home>/runs/<generated>)")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run in place")
    parser.add_argument("--detach", action="store_true", help="run in the background; follow it with attach")
    add_notify_option(parser)
    group = parser.add_argument_group(
        "several processes (torchrun)",
        "Data-parallel training started through torchrun (python -m torch.distributed.run), one process per GPU "
        "(or CPU processes); train.batch_size is the global batch and must divide evenly among all processes. "
        "Ctrl+C stops every process with one resumable checkpoint.",
    )
    group.add_argument("--nproc-per-node", type=int, default=1, metavar="N", help="processes on this machine (default 1: no torchrun)")
    group.add_argument("--nnodes", type=int, default=1, metavar="M", help="machines taking part (default 1)")
    group.add_argument("--node-rank", type=int, default=0, metavar="R", help="this machine's number, 0 .. M-1")
    group.add_argument(
        "--rdzv-endpoint", default="", metavar="HOST:PORT", help="the machine with --node-rank 0, where all meet"
    )


def run_train(args: argparse.Namespace) -> int:
    """Build the config, then train in this process or start a detached one.

    Under torchrun every rank checks the same input; rank 0 alone says what is wrong.
    """
    from ..engine.parallel.launch import ranks_from_env
    from ..errors import UserError

    try:
        return _run_train(args)
    except UserError as exc:
        if ranks_from_env().is_main:
            raise
        return exc.exit_code


def _run_train(args: argparse.Namespace) -> int:
    from ..engine.parallel.detach import start_detached
    from ..engine.runs.folder import RunFolder
    from ..errors import UserError
    from ..run_layout import TRAIN_LOG

    cfg, runs_root, name, resume = train_request(args)
    launch = launch_request(args, cfg)
    if args.detach and args.notify:
        raise UserError("--notify", "a detached run has no terminal to tell; follow it with: vit-tui attach --notify RUN")
    if args.detach:
        run_dir = start_detached(cfg, runs_root=runs_root, name=name, resume=resume, launch=launch)
        home = "" if args.home == "." else f" --home {args.home}"
        print(f"training in the background: {run_dir}")
        print(f"  follow it:  vit-tui{home} attach {run_dir}")
        print(f"  its log:    {RunFolder(run_dir).file(TRAIN_LOG)}")
        return 0
    if launch is not None:
        return launch_here(cfg, launch, runs_root, name, resume)
    return train_here(cfg, runs_root, name, resume, notify=args.notify)


def launch_request(args: argparse.Namespace, cfg: Any) -> Any:
    """The checked torchrun launch the options ask for, or None for one process."""
    from ..engine.parallel.launch import Launch, check_launch

    launch = Launch(args.nproc_per_node, args.nnodes, args.node_rank, args.rdzv_endpoint).check()
    if launch.world_size == 1 and not launch.rdzv_endpoint:
        return None
    return check_launch(launch, cfg.train.device, cfg.train.batch_size)


def launch_here(cfg: Any, launch: Any, runs_root: Path, name: str | None, resume: Path | None) -> int:
    """Train on several processes through torchrun, in the foreground; return the run's exit code."""
    import tempfile

    from .. import config as config_mod
    from ..engine.parallel.launch import run_launcher
    from ..engine.runs.folder import RunFolder

    with tempfile.TemporaryDirectory(prefix="vit-tui-launch-") as tmp:
        control = Path(tmp)
        if resume is not None:
            if launch.node_rank == 0:
                folder = RunFolder(resume)
                folder.check_resumable(cfg)  # before the run's config.toml takes these settings
                folder.save_config(cfg)
            vit_args = ["train", "--resume", str(resume)]
        else:
            config_mod.save(cfg, control / "config.toml")
            vit_args = ["--home", str(runs_root.parent), "train", "--config", str(control / "config.toml")]
            if name is not None:
                vit_args += ["--out", str(runs_root / name)]
        vit_args += ["--data", cfg.data.dataset]
        note = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
        return run_launcher(launch, vit_args, control, lambda stop: stop_signals(stop, note))


def train_request(args: argparse.Namespace) -> tuple[Any, Path, str | None, Path | None]:
    """(config, runs root, run name, resume folder) from the command line.

    Only one process checks the output folder: under torchrun the others would race rank 0,
    which creates it.
    """
    from .. import config as config_mod
    from ..engine.parallel.launch import ranks_from_env
    from ..engine.runs.folder import RunFolder
    from ..errors import UserError, check_path_length
    from .common import config_from_args

    for option, value in (("--data", args.data), ("--out", args.out), ("--resume", args.resume)):
        if value:
            check_path_length(value, option)
    home = Path(args.home)
    resume = Path(args.resume) if args.resume else None
    if resume is not None:
        if args.preset or args.config:
            raise UserError("--resume", "continues with the run's own config; change settings with --set only")
        if args.out:
            raise UserError("--resume", "continues in the run's own folder; leave out --out")
        folder = RunFolder.resolve(resume, home / "runs")
        folder.check_resume_target()
        resume = folder.path
        cfg = config_mod.validate(config_mod.apply_overrides(folder.read_config(), args.overrides))
    else:
        cfg = config_from_args(args)
    out = Path(args.out) if args.out else None
    if ranks_from_env().is_main:
        if out is not None:
            RunFolder.check_new(out.parent, out.name)
        check_output(out, resume, home)
    dataset = dataset_path(args, cfg, home, resumed=resume is not None)
    cfg = config_mod.with_value(cfg, "data.dataset", str(dataset))
    if out is not None:
        return cfg, out.parent, out.name, None
    return cfg, home / "runs", None, resume


def check_output(out: Path | None, resume: Path | None, home: Path) -> None:
    """Prove the run folder can be written before any data or model is loaded."""
    from ..files import check_writable_dir
    from ..outputs import check_place

    if out is not None:
        check_place(out, "--out")  # the run folder itself is made, new, once the run starts
    elif resume is not None:
        check_writable_dir(resume, "--resume")
    else:
        check_writable_dir(home / "runs", "--home")


def dataset_path(args: argparse.Namespace, cfg: Any, home: Path, resumed: bool) -> Path:
    """--data, else the config's dataset under --home; the demo set is made on first use."""
    if args.data:
        return checked_dataset(Path(args.data).absolute())
    from ..errors import check_path_length

    check_path_length(cfg.data.dataset, "data.dataset")
    path = Path(cfg.data.dataset)
    if not path.is_absolute() and not resumed:
        path = home / path
    from ..data.demo import DEMO_DIR, ensure_demo

    if path.absolute() == (home / DEMO_DIR).absolute() and not (path / "manifest.json").is_file():
        print(f"making the demo dataset in {path} (first use) ...", file=sys.stderr, flush=True)
        ensure_demo(home)
    return checked_dataset(path.absolute())


def checked_dataset(path: Path) -> Path:
    """``path`` when it holds a dataset; a one-line error (before torch loads) otherwise."""
    from ..data.store import read_manifest

    read_manifest(path)
    return path


def train_here(cfg: Any, runs_root: Path, name: str | None, resume: Path | None, *, notify: bool = False) -> int:
    """Train in this process with the progress display; return the exit code.

    Under torchrun rank 0 shows the progress for all ranks; the others stay silent. ``notify``
    rings the bell and sends a desktop notification when the run ends (``engine.telemetry.notify``).
    """
    from ..engine.parallel.launch import ranks_from_env, report_exit_code
    from ..engine.train.trainer import train

    ranks = ranks_from_env()
    if not ranks.is_main:
        return report_exit_code(_train_quietly(cfg, runs_root, name, resume), ranks)
    cancel = threading.Event()
    display = TrainingDisplay()
    sink = with_notifier(display, notify)
    with display, stop_signals(cancel, display.note):
        result = train(cfg, sink, cancel, runs_root=runs_root, name=name, resume=resume)
    if result.status == "failed":
        print(f"vit-tui: training failed: {result.message}", file=sys.stderr)
        if result.hint:
            print(f"  hint: {result.hint}", file=sys.stderr)
        print(f"  run folder: {result.run_dir}", file=sys.stderr)
    return report_exit_code(EXIT_CODES.get(result.status, 1), ranks)


def with_notifier(display: Any, notify: bool) -> Any:
    """``display``, or a sink that shows each event and then tells the terminal about an ending (``--notify``)."""
    from ..engine.telemetry.notify import TerminalNotifier, tty_writer

    write = tty_writer(sys.stdout) if notify else None
    if write is None:  # not asked, or no terminal to tell
        return display
    notifier = TerminalNotifier(write)

    def sink(event: Any) -> None:
        display(event)
        notifier.event(event)

    return sink


def _train_quietly(cfg: Any, runs_root: Path, name: str | None, resume: Path | None) -> int:
    """One non-zero rank: train without a display; a signal stops it (the ranks agree on the step)."""
    from ..engine.train.trainer import train

    cancel = threading.Event()
    with stop_signals(cancel, lambda text: None):
        result = train(cfg, cancel=cancel, runs_root=runs_root, name=name, resume=resume)
    return EXIT_CODES.get(result.status, 1)


@contextmanager
def stop_signals(cancel: threading.Event, note) -> Iterator[None]:
    """Ctrl+C, SIGTERM and SIGHUP set ``cancel``; later ones are only noted.

    Quitting on a second signal would end the run before its resume checkpoint is written (an
    SSH drop sends SIGHUP and then often SIGTERM), so the run always stops through ``cancel``.
    """

    def handler(signum: int, frame: Any) -> None:
        if cancel.is_set():
            note(f"{signal.Signals(signum).name}: already stopping; saving the resumable checkpoint first")
            return
        cancel.set()
        note(f"{signal.Signals(signum).name}: stopping after this step and saving a resumable checkpoint")

    previous = {}
    for sig_name in STOP_SIGNALS:
        sig = getattr(signal, sig_name, None)
        if sig is not None:
            previous[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class TrainingDisplay(EventDisplay):
    """Renders a run's events: live progress bars on a terminal, plain lines elsewhere.

    ``vit-tui train`` passes it to the engine as the sink; ``vit-tui attach`` feeds it the
    events read from the run's ``events.jsonl``, so both show the same thing.
    """

    def __init__(self, live: bool | None = None, stream: Any = None) -> None:
        super().__init__(live, stream)
        self.epoch_task = self.step_task = None
        self.epochs = 0
        self.outcome: str | None = None
        """finished, interrupted or failed once the run has ended."""

    # --- events ------------------------------------------------------------------------------

    def _on_RunStarted(self, e: Any) -> None:
        self.epochs = e.epochs
        resumed = f", resuming at epoch {e.start_epoch}" if e.start_epoch > 1 else ""
        text = (
            f"run {e.run_dir} ({e.preset or 'custom'}{resumed}): {e.train_images:,} train / {e.val_images:,} val "
            f"images, {len(e.classes)} classes, {e.params:,} parameters, {e.device}, {e.precision}, {e.step_path}"
        )
        self._line(f"[bold]{text}[/bold]", text)
        if self.progress is not None:
            done = e.start_epoch - 1
            self.epoch_task = self.progress.add_task("epochs", total=e.epochs, completed=done, stats="")
            self.step_task = self.progress.add_task("steps", total=e.steps_per_epoch, completed=0, stats="")

    def _on_PhaseChanged(self, e: Any) -> None:
        if self.progress is not None and self.step_task is not None:
            self.progress.update(self.step_task, description=e.phase if e.phase != "training" else "steps")
        if e.phase.startswith("warm-up") or e.phase == "note":
            self._line(f"[dim]{e.detail}[/dim]", e.detail)
        elif e.phase == "warning":
            self.note(e.detail)

    def _on_StepsLogged(self, e: Any) -> None:
        if self.progress is None or self.epoch_task is None:
            return
        stats = f"loss {e.loss:.4f}  acc {e.acc:6.1%}  {e.images_per_s:,.0f} img/s  lr {e.lr:.2e}"
        self.progress.update(self.step_task, total=e.steps_per_epoch, completed=e.step, stats=stats)
        fraction = e.epoch - 1 + e.step / max(1, e.steps_per_epoch)
        self.progress.update(self.epoch_task, completed=fraction, description=f"epoch {e.epoch}/{self.epochs}")

    def _on_EpochEnded(self, e: Any) -> None:
        best = "  * best" if e.is_best else ""
        text = (
            f"epoch {e.epoch:>3}/{e.epochs}  train loss {e.train_loss:.4f} acc {e.train_acc:6.1%}  "
            f"val loss {e.val_loss:.4f} acc {e.val_acc:6.1%}  {e.seconds:6.2f} s  {e.images_per_s:,.0f} img/s{best}"
        )
        self._line(text.replace("* best", "[green]* best[/green]"), text)
        if self.progress is not None and self.epoch_task is not None:
            self.progress.update(self.epoch_task, completed=e.epoch)

    def _on_EvalDone(self, e: Any) -> None:
        text = f"evaluation ({e.checkpoint} checkpoint): accuracy {e.accuracy:.1%}, loss {e.loss:.4f}"
        self._line(text, text)

    def _on_RunFinished(self, e: Any) -> None:
        self.outcome = e.status
        if e.status == "finished":
            text = (
                f"finished in {e.wall_s:.1f} s: best val acc {e.best_val_acc:.1%} at epoch {e.best_epoch}, "
                f"final {e.final_val_acc:.1%}; files in {e.run_dir}"
            )
            self._line(f"[bold green]{text}[/bold green]", text)
        else:
            text = f"interrupted after {e.epochs_done} epoch(s); continue with: vit-tui train --resume {e.run_dir}"
            self._line(f"[bold yellow]{text}[/bold yellow]", text)

    def _on_RunFailed(self, e: Any) -> None:
        self.outcome = "failed"
        text = f"failed: {e.message}" + (f" ({e.hint})" if e.hint else "")
        self._line(f"[bold red]{text}[/bold red]", text)

