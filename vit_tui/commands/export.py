"""``vit-tui export``: a run's model as a TorchScript or ONNX file, verified, with a sidecar JSON."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import add_checkpoint_option, add_command, add_run_argument


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``export``."""
    parser = add_command(subparsers, "export", run_export)
    add_run_argument(parser)
    parser.add_argument(
        "--format", dest="fmt", required=True, choices=("torchscript", "onnx"), help="file format to write"
    )
    parser.add_argument(
        "--out",
        metavar="FILE",
        help="model file to write, or a folder for the default name (default: "
        "RUN/export/model-<checkpoint>.torchscript.pt or .onnx); an existing file is replaced",
    )
    add_checkpoint_option(parser)
    parser.add_argument(
        "--data", metavar="DIR", help="dataset whose validation images verify the export (default: the run's own)"
    )


def run_export(args: argparse.Namespace) -> int:
    """Export, then print where the files went and how closely the export matched."""
    from ..engine.deploy.export import require_export_packages
    from ..engine.runs.folder import RunFolder

    require_export_packages(args.fmt)  # before the slow part, so a missing package is said at once
    run_dir = RunFolder.resolve(args.run, Path(args.home) / "runs").path
    from ..engine.deploy.export import export_model

    result = export_model(run_dir, args.fmt, args.out, checkpoint=args.checkpoint, data_dir=args.data)
    sizes = " and ".join(str(b) for b in result.batch_sizes)
    print(
        f"{run_dir.name}: {result.checkpoint} checkpoint (epoch {result.epoch}, val accuracy {result.val_acc:.1%}) "
        f"exported as {result.fmt}"
    )
    print(f"  model      {result.model_path} ({result.model_path.stat().st_size / 1e6:.1f} MB)")
    print(f"  sidecar    {result.sidecar_path}")
    print(f"  attention  {result.attention_path}")
    print(
        f"  verified   on batches of {sizes} validation images: max |logit difference| {result.max_abs_diff:.2e} "
        f"(allowed {result.allowed_diff:.1e})"
    )
    return 0
