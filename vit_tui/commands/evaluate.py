"""``vit-tui eval``, ``predict`` and ``attention``: score a run's checkpoint, classify images, show attention."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import add_checkpoint_option, add_command, add_images_argument, add_run_argument


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``eval``, ``predict`` and ``attention``: each takes a run, then the weights and device to use."""
    ev = add_command(subparsers, "eval", run_eval)
    add_run_argument(ev)
    ev.add_argument("--data", metavar="DIR", help="dataset to evaluate on (default: the run's own)")
    _add_weights_options(ev)
    ev.add_argument("--mistakes", type=int, default=5, metavar="N", help="most confident mistakes to list (default 5)")

    pr = add_command(subparsers, "predict", run_predict)
    add_run_argument(pr)
    add_images_argument(pr)
    pr.add_argument("--top-k", type=int, default=5, metavar="K", help="classes to show per image (default 5)")
    pr.add_argument(
        "--csv", metavar="FILE", help="also write the predictions to FILE: file, class_1, probability_1, ..."
    )
    _add_weights_options(pr)

    at = add_command(subparsers, "attention", run_attention)
    add_run_argument(at)
    add_images_argument(at)
    at.add_argument("--out", metavar="DIR", help="where the PNGs go (default: RUN/attention)")
    _add_weights_options(at)


def _add_weights_options(parser: argparse.ArgumentParser) -> None:
    add_checkpoint_option(parser)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default auto)")


def run_eval(args: argparse.Namespace) -> int:
    """Evaluate and print the scores as tables."""
    from rich.console import Console
    from rich.table import Table

    from ..engine.runs.folder import RunFolder


    run_dir = RunFolder.resolve(args.run, Path(args.home) / "runs").path
    _check_device(args.device)
    from ..engine.infer.evaluate import evaluate_run

    evaluation = evaluate_run(run_dir, data_dir=args.data, checkpoint=args.checkpoint, device=args.device)
    console = Console(highlight=False)
    console.print(
        f"[bold]{run_dir.name}[/bold] ({args.checkpoint} checkpoint): accuracy [bold]{evaluation.accuracy:.1%}[/bold], "
        f"mean loss {evaluation.loss:.4f}, {int(evaluation.confusion.sum()):,} images"
    )
    per_class = Table(title="per class")
    for column in ("class", "precision", "recall", "F1", "support"):
        per_class.add_column(column, justify="left" if column == "class" else "right")
    for row in evaluation.per_class:
        per_class.add_row(
            row["class"], f"{row['precision']:.3f}", f"{row['recall']:.3f}", f"{row['f1']:.3f}", str(row["support"])
        )
    console.print(per_class)
    confusion = Table(title="confusion matrix (rows true, columns predicted)")
    confusion.add_column("true \\ predicted")
    for name in evaluation.classes:
        confusion.add_column(name, justify="right")
    for i, (name, row) in enumerate(zip(evaluation.classes, evaluation.confusion.tolist())):
        confusion.add_row(name, *(f"[bold]{v}[/bold]" if i == j else str(v) for j, v in enumerate(row)))
    console.print(confusion)
    if evaluation.mistakes and args.mistakes > 0:
        mistakes = Table(title="most confident mistakes")
        for column in ("index", "file", "true", "predicted", "probability"):
            mistakes.add_column(column)
        for m in evaluation.mistakes[: args.mistakes]:
            mistakes.add_row(str(m.index), m.file, m.true, m.predicted, f"{m.probability:.3f}")
        console.print(mistakes)
    return 0


def _check_device(device: str) -> None:
    """Name ``--device``, the option typed, when the device is unknown or absent (not ``train.device``)."""
    from ..config import ConfigError
    from ..engine.device.placement import resolve_device
    from ..errors import UserError

    try:
        resolve_device(device)
    except ConfigError as exc:
        raise UserError("--device", exc.why) from None


def run_predict(args: argparse.Namespace) -> int:
    """Print the top-k classes of each image; with ``--csv``, write them too."""
    from ..data.imaging import image_files
    from ..engine.runs.folder import RunFolder
    from ..outputs import output_file

    run_dir = RunFolder.resolve(args.run, Path(args.home) / "runs").path
    image_files(args.images)  # a bad path is said before the model loads
    _check_device(args.device)
    csv_path = output_file(args.csv, "--csv", example="predictions.csv") if args.csv else None
    from ..engine.infer.predict import predict_paths, skipped_warning, write_predictions_csv

    skipped: list[Path] = []
    # The paths as typed, not the files found: an unreadable file in a named folder is skipped, a named one is not.
    predictions = predict_paths(
        run_dir, args.images, args.top_k, checkpoint=args.checkpoint, device=args.device, skipped=skipped
    )
    if skipped:
        print(skipped_warning(skipped), file=sys.stderr, flush=True)
    for prediction in predictions:
        print(f"{prediction.path}: " + ", ".join(f"{name} {prob:.1%}" for name, prob in prediction.top))
    if csv_path is not None:
        print(f"wrote {write_predictions_csv(csv_path, predictions)}")
    return 0


def run_attention(args: argparse.Namespace) -> int:
    """Write one attention figure per image and name each file written."""
    from ..data.imaging import image_files
    from ..engine.runs.folder import RunFolder

    run_dir = RunFolder.resolve(args.run, Path(args.home) / "runs").path
    from ..engine.infer.attention_maps import export_attention, refuse_cnn

    refuse_cnn(run_dir, RunFolder(run_dir).read_config().model)
    files = image_files(args.images)
    _check_device(args.device)

    for path in export_attention(run_dir, files, args.out, checkpoint=args.checkpoint, device=args.device):
        print(f"wrote {path}")
    return 0
