"""``vit-tui model summary``: parameters per component, sequence length and FLOPs as a table."""

from __future__ import annotations

import argparse

from .common import add_actions, add_command, add_config_options, config_from_args


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``model summary``."""
    summary = add_command(add_actions(subparsers, "model"), "model summary", run_summary)
    add_config_options(summary)
    summary.add_argument("--classes", type=int, default=5, help="number of classes (default 5)")


def run_summary(args: argparse.Namespace) -> int:
    """Print the summary table of the configured model."""
    from rich.console import Console
    from rich.table import Table

    from ..errors import UserError
    from ..model.size_estimate import describe_layout, has_class_token, is_cnn
    from ..model.summary import summarize

    cfg = config_from_args(args)
    if args.classes < 2:
        raise UserError("--classes", f"needs at least 2 classes, got {args.classes}")
    init = _init_line(cfg, args.classes)
    summary = summarize(cfg.model, args.classes)
    m = cfg.model
    title = f"{cfg.preset or 'custom'}: {describe_layout(m)}, " + (
        f"stages {m.width}-{2 * m.width}-{4 * m.width}-{8 * m.width}, {m.image_size} px"
        if is_cnn(m)
        else f"E={m.embed_dim}, {m.heads} heads, {m.blocks} blocks, {m.image_size}/{m.patch_size}"
        + (", mean pooling" if not has_class_token(m) else "")
        + (", conv stem" if m.stem == "conv" else "")
    )
    table = Table(title=title)
    table.add_column("component")
    table.add_column("parameters", justify="right")
    table.add_column("share", justify="right")
    for name, count in summary.rows:
        table.add_row(name, f"{count:,}", f"{100 * count / summary.params:.1f}%")
    table.add_section()
    table.add_row("[bold]total[/bold]", f"[bold]{summary.params:,}[/bold]", "100.0%")
    console = Console()
    console.print(table)
    flops = f"{summary.flops_per_image / 1e6:,.1f} MFLOP per image (forward)"
    if is_cnn(m):
        console.print(f"a CNN: no tokens; ViT-only settings are ignored; {flops}")
    else:
        patches = (m.image_size // m.patch_size) ** 2
        tokens = f"{patches} patches + class token" if has_class_token(m) else f"{patches} patches, no class token"
        console.print(f"sequence length {summary.seq_len} ({tokens}), {summary.tokens_per_image} tokens per image, {flops}")
    console.print(f"total parameters: {summary.params:,}")
    if init:
        console.print(f"model.init: {init}")
    return 0


def _init_line(cfg, classes: int) -> str:
    """What ``model.init`` loads ("" for none); a ``timm:<name>`` gives ``cfg`` timm's shape first."""
    from ..model.pretrained import describe_init, init_shape, wants_init

    if not wants_init(cfg.model):
        return ""
    cfg.model = init_shape(cfg.model)
    return describe_init(cfg.model, classes)
