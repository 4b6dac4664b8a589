"""What the commands share: registering a command, the options several take, and the event display.

A command registers with ``add_command`` (its words and its runner); what ``--help`` says of it
(the one-line help and the description) is kept for every command in ``help.toml`` beside this
module, so the wording can be read and kept consistent in one place. Options that mean the same
in several commands (``RUN``, ``IMAGE``, ``--checkpoint``, ``--notify``, ``--format``, the app
commands' ``--home``, and ``--preset``/``--config``/``--set`` for those taking a config) are added
by one function each, so they read and behave alike everywhere.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

from ..config import RunConfig, apply_overrides, load, validate
from ..errors import UserError
from ..presets import PRESETS, preset

Runner = Callable[[argparse.Namespace], int]
HELP_FILE = Path(__file__).with_name("help.toml")


def add_command(subparsers: argparse._SubParsersAction, path: str, run: Runner | None) -> argparse.ArgumentParser:
    """Add the command ``path`` (its words, e.g. ``"data build"``) that ``run`` carries out.

    ``run`` is None for a group of actions (``data``, ``model``). The command's one-line help
    and its description come from ``help.toml`` under the same words.
    """
    texts = command_texts(path)
    parser = subparsers.add_parser(path.split()[-1], help=texts["help"], description=texts.get("description"))
    if run is not None:
        parser.set_defaults(func=run)
    return parser


def add_actions(subparsers: argparse._SubParsersAction, name: str) -> argparse._SubParsersAction:
    """Add the command group ``name`` (e.g. ``data``) and return where its actions register."""
    group = add_command(subparsers, name, None)
    return group.add_subparsers(dest=f"{name}_command", metavar="ACTION", required=True)


def command_texts(path: str) -> dict[str, Any]:
    """The ``help`` and (where there is one) ``description`` of the command ``path``."""
    texts = _help_table()
    for word in path.split():
        texts = texts[word]
    return texts


@functools.cache
def _help_table() -> dict[str, Any]:
    return tomllib.loads(HELP_FILE.read_text(encoding="utf-8"))


def add_run_argument(parser: argparse.ArgumentParser) -> None:
    """The positional ``RUN``: a run folder, or a run's name under ``<home>/runs``."""
    parser.add_argument("run", metavar="RUN", help="run folder or name under <home>/runs")


def add_images_argument(parser: argparse.ArgumentParser) -> None:
    """The positional ``IMAGE ...``: image files, or folders standing for every image under them."""
    parser.add_argument("images", metavar="IMAGE", nargs="+", help="image files or folders of images")


def add_checkpoint_option(parser: argparse.ArgumentParser) -> None:
    """``--checkpoint best|last``: which of a run's weights."""
    parser.add_argument("--checkpoint", choices=("best", "last"), default="best", help="which weights (default best)")


def add_notify_option(parser: argparse.ArgumentParser) -> None:
    """``--notify``: tell the terminal when a followed run ends."""
    parser.add_argument(
        "--notify",
        action="store_true",
        help="when the run ends or fails, ring the terminal bell and send a desktop notification (OSC 9/777; "
        "inside tmux it needs: set -g allow-passthrough on)",
    )


def add_format_option(parser: argparse.ArgumentParser, html_help: str) -> None:
    """``--format md|html``; ``html_help`` says what html writes besides the Markdown."""
    parser.add_argument(
        "--format",
        choices=("md", "html"),
        default="md",
        help=f"md: Markdown with the PNGs beside it (default); html: {html_help}",
    )


def add_app_command(subparsers: argparse._SubParsersAction, name: str, run: Runner) -> argparse.ArgumentParser:
    """A command that runs the app (``app``, ``serve``): it takes ``--home`` after its name too."""
    parser = add_command(subparsers, name, run)
    parser.add_argument(
        "--home",
        default=argparse.SUPPRESS,
        help="folder holding data/ and runs/ (default: the global --home, else here)",
    )
    return parser


def add_config_options(parser: argparse.ArgumentParser, default_preset: str | None = "reference") -> None:
    """Add ``--preset``, ``--config`` and repeatable ``--set section.key=value``."""
    parser.add_argument(
        "--preset",
        choices=list(PRESETS),
        default=None,
        help=f"start from a named config (default: {default_preset or 'none'})",
    )
    parser.add_argument("--config", metavar="FILE", help="start from a TOML config file")
    add_set_option(parser, "override one setting, e.g. --set model.heads=4 (repeatable)")
    parser.set_defaults(default_preset=default_preset)


def add_set_option(parser: argparse.ArgumentParser, help_text: str) -> None:
    """Repeatable ``--set section.key=value``, gathered in ``args.overrides``."""
    parser.add_argument("--set", dest="overrides", metavar="KEY=VALUE", action="append", default=[], help=help_text)


def config_from_args(args: argparse.Namespace, check: bool = True) -> RunConfig:
    """The config the options describe: file or preset, then overrides, validated unless ``check`` is False."""
    if args.config and args.preset:
        raise UserError("--preset", "give either --preset or --config, not both")
    if args.config:
        cfg = load(args.config)
    elif args.preset or args.default_preset:
        cfg = preset(args.preset or args.default_preset)
    else:
        cfg = RunConfig()
    cfg = apply_overrides(cfg, args.overrides)
    return validate(cfg) if check else cfg


class EventDisplay:
    """Renders events: live rich progress bars on a terminal, plain lines elsewhere.

    Subclasses add ``_on_<EventName>`` handlers; an event without one is skipped. Entering
    starts the progress bars (on a terminal), leaving stops them.
    """

    def __init__(self, live: bool | None = None, stream: Any = None) -> None:
        from rich.console import Console

        self.stream = stream or sys.stdout
        self.live = self.stream.isatty() if live is None else live
        self.console = Console(file=self.stream, highlight=False, soft_wrap=not self.live)
        self.progress = None

    def __enter__(self) -> EventDisplay:
        if self.live:
            self.progress = make_progress(self.console)
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def note(self, text: str) -> None:
        """A line from outside the event stream (e.g. a stop request)."""
        self._line(f"[yellow]{text}[/yellow]", text)

    def _line(self, rich_text: str, plain_text: str) -> None:
        if self.live:
            self.console.print(rich_text)
        else:
            print(plain_text, file=self.stream, flush=True)

    def __call__(self, event: Any) -> None:
        handler = getattr(self, f"_on_{type(event).__name__}", None)
        if handler is not None:
            handler(event)


def make_progress(console: Any) -> Any:
    """The progress bars both displays use: description, bar, n/m, elapsed, eta, stats."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description:<12}"),
        BarColumn(bar_width=30),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[stats]}"),
        console=console,
        refresh_per_second=8,
        transient=True,
    )
