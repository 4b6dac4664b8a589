"""``vit-tui export``: a run's model as a TorchScript or ONNX file, verified, with a sidecar JSON."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``export``."""
    parser = subparsers.add_parser(
        "export",
        help="export a run's model as TorchScript or ONNX",
        description="Write a run's checkpoint as a file that runs without vit-tui: uint8 RGB images "
        "(batch, S, S, 3) in, logits out, the normalisation inside the graph. A sidecar JSON next to it "
        "(<file>.json) states the resize, the normalisation and the classes in order. Before anything is "
        "written, the exported model is checked against the PyTorch model on the run's validation images "
        "(a batch and a single image); the largest logit difference is printed. ONNX needs the export "
        "extra: pip install 'vit-tui[export]'.",
    )
    parser.add_argument("run", metavar="RUN", help="run folder or name under <home>/runs")
    parser.add_argument(
        "--format", dest="fmt", required=True, choices=("torchscript", "onnx"), help="file format to write"
    )
    parser.add_argument(
        "--out",
        metavar="FILE",
        help="model file to write, or a folder for the default name (default: "
        "RUN/export/model-<checkpoint>.torchscript.pt or .onnx); an existing file is replaced",
    )
    parser.add_argument("--checkpoint", choices=("best", "last"), default="best", help="which weights (default best)")
    parser.add_argument(
        "--data", metavar="DIR", help="dataset whose validation images verify the export (default: the run's own)"
    )
    parser.set_defaults(func=run_export)


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
