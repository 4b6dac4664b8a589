"""``vit-tui app`` (and plain ``vit-tui``): open the Textual app on a home folder."""

from __future__ import annotations

import argparse

from .common import add_app_command


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``app``."""
    parser = add_app_command(subparsers, "app", run_app)
    parser.add_argument(
        "--demo-per-class",
        type=int,
        default=None,
        metavar="N",
        help="training images per class in the demo set the app offers (validation gets a quarter)",
    )


def run_app(args: argparse.Namespace) -> int:
    """Run the app until the user quits."""
    from pathlib import Path

    from ..errors import UserError
    from ..tui.app import VitApp, prepare_environment

    home = Path(getattr(args, "home", ".") or ".").expanduser()
    if home.exists() and not home.is_dir():
        raise UserError(str(home), "--home must be a folder")
    demo_options = {}
    demo_per_class = getattr(args, "demo_per_class", None)
    if demo_per_class is not None:
        if demo_per_class < 4:
            raise UserError("--demo-per-class", f"needs at least 4 images per class, got {demo_per_class}")
        demo_options = {"per_class_train": demo_per_class, "per_class_val": max(1, demo_per_class // 4)}
    prepare_environment()  # before anything is written: a bad setting leaves nothing behind
    home.mkdir(parents=True, exist_ok=True)
    VitApp(home, demo_options=demo_options).run()
    return 0
