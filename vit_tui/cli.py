"""The ``vit-tui`` command: no arguments opens the app; subcommands run headless.

Each subcommand lives in ``vit_tui.commands.<name>`` with ``register(subparsers)``; heavy
imports (torch, textual) happen inside the command that needs them, so ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__
from .errors import UserError

COMMAND_MODULES = ("data", "model", "train", "evaluate", "runs", "tui")


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
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args.func = _app_runner(parser)
    try:
        return int(args.func(args) or 0)
    except UserError as exc:
        print(f"vit-tui: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("vit-tui: interrupted", file=sys.stderr)
        return 130


def _app_runner(parser: argparse.ArgumentParser):
    """The app's entry (``vit_tui.commands.tui.run_app``), or help when the app is not installed."""
    try:
        module = importlib.import_module("vit_tui.commands.tui")
    except ModuleNotFoundError:
        return lambda _args: parser.print_help() or 0
    return module.run_app


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
