"""Options shared by the commands that take a config: ``--preset``, ``--config``, ``--set``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..config import RunConfig, apply_overrides, load, validate
from ..errors import UserError
from ..presets import PRESETS, preset


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
