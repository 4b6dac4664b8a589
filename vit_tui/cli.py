"""The ``vit-tui`` command: no arguments opens the app; subcommands run headless.

Each subcommand lives in ``vit_tui.commands.<name>`` with ``register(subparsers)``; heavy
imports (torch, textual) happen inside the command that needs them, so ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import signal
import sys
import threading
from collections.abc import Iterator

from . import __version__
from .engine.device.environment import prepare_process_environment
from .errors import UserError, name_too_long

COMMAND_MODULES = ("data", "model", "train", "evaluate", "runs", "tui", "serve", "export", "study", "doctor")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="vit-tui",
        description="Build COCO subsets, train and study Vision Transformers from a terminal. "
        "With no command, opens the app.",
    )
    parser.add_argument("--version", action="version", version=f"vit-tui {__version__}")
    parser.add_argument("--home", default=".", help="folder holding data/ and runs/ (default: here)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"vit_tui.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"vit_tui.commands.{name}":
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run; bad input prints one line and returns 2."""
    prepare_process_environment()  # before anything can start cuBLAS (the app included)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args.func = _app_runner(parser)
    try:
        with _stop_on_signals(args.command not in (None, "tui")):
            return int(args.func(args) or 0)
    except UserError as exc:
        print(f"vit-tui: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:
        # A path too long for the file system fails where it is first used, at any depth.
        error = name_too_long(exc)
        if error is None:
            raise
        print(f"vit-tui: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("vit-tui: interrupted", file=sys.stderr)
        return 130


@contextlib.contextmanager
def _stop_on_signals(wanted: bool) -> Iterator[None]:
    """SIGTERM and SIGHUP (an SSH drop) stop a command the way Ctrl+C does, once.

    The default action kills the process outright: a dataset build then leaves its partial
    folder and its worker processes behind. As a KeyboardInterrupt they unwind through the same
    clean-up as Ctrl+C, and later signals (an SSH drop often sends SIGHUP then SIGTERM) are
    ignored so they cannot cut that clean-up short. ``train`` replaces these while it trains;
    the app keeps its own. The previous handlers come back afterwards (tests call ``main``).
    """
    if not wanted or threading.current_thread() is not threading.main_thread():
        yield
        return
    signals = [getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)]

    def ignore(signum: int, frame: object) -> None:
        # A Python handler, not SIG_IGN: one already pending would print a "race condition" error.
        return

    def interrupt(signum: int, frame: object) -> None:
        for sig in signals:
            signal.signal(sig, ignore)
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, interrupt) for sig in signals}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _app_runner(parser: argparse.ArgumentParser):
    """The app's entry (``vit_tui.commands.tui.run_app``), or help when the app is not installed."""
    try:
        module = importlib.import_module("vit_tui.commands.tui")
    except ModuleNotFoundError:
        return lambda _args: parser.print_help() or 0
    return module.run_app


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
