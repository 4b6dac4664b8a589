"""Options shared by the commands that take a config: ``--preset``, ``--config``, ``--set``."""

from __future__ import annotations

import argparse

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
    parser.add_argument(
        "--set",
        dest="overrides",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="override one setting, e.g. --set model.heads=4 (repeatable)",
    )
    parser.set_defaults(default_preset=default_preset)


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
