"""``vit-tui eval`` and ``vit-tui predict``: score a run's checkpoint, classify image files."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``eval`` and ``predict``."""
    ev = subparsers.add_parser(
        "eval",
        help="evaluate a run's checkpoint on a validation split",
        description="Accuracy, per-class precision/recall/F1, the confusion matrix and the most confident mistakes.",
    )
    ev.add_argument("run", metavar="RUN", help="run folder or name under <home>/runs")
    ev.add_argument("--data", metavar="DIR", help="dataset to evaluate on (default: the run's own)")
    ev.add_argument("--checkpoint", choices=("best", "last"), default="best", help="which weights (default best)")
    ev.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps (default auto)")
    ev.add_argument("--mistakes", type=int, default=5, metavar="N", help="most confident mistakes to list (default 5)")
    ev.set_defaults(func=run_eval)

    pr = subparsers.add_parser(
        "predict", help="classify image files with a run's model", description="Top-k classes of each image."
    )
    pr.add_argument("run", metavar="RUN", help="run folder or name under <home>/runs")
    pr.add_argument("images", metavar="IMAGE", nargs="+", help="image files")
    pr.add_argument("--top-k", type=int, default=3, metavar="K", help="classes to show per image (default 3)")
    pr.add_argument("--checkpoint", choices=("best", "last"), default="best", help="which weights (default best)")
    pr.set_defaults(func=run_predict)


def run_eval(args: argparse.Namespace) -> int:
    """Evaluate and print the scores as tables."""
    from rich.console import Console
    from rich.table import Table

    from ..engine.runs import resolve_run

    run_dir = resolve_run(args.run, Path(args.home) / "runs")
    _check_device(args.device)
    from ..engine.evaluate import evaluate_run

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
    from ..engine.device import resolve_device
    from ..errors import UserError

    try:
        resolve_device(device)
    except ConfigError as exc:
        raise UserError("--device", exc.why) from None


def run_predict(args: argparse.Namespace) -> int:
    """Print the top-k classes of each image."""
    from ..engine.evaluate import check_image_path
    from ..engine.runs import resolve_run

    run_dir = resolve_run(args.run, Path(args.home) / "runs")
    for image in args.images:
        check_image_path(image)
    from ..engine.evaluate import predict_images

    results = predict_images(run_dir, args.images, checkpoint=args.checkpoint, top_k=args.top_k)
    for path, ranked in zip(args.images, results):
        print(f"{path}: " + ", ".join(f"{name} {prob:.1%}" for name, prob in ranked))
    return 0
