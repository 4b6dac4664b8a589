"""``vit-tui data build|import|demo|classes|show``: make, list and look at datasets.

Default ``--out`` folders live under ``<home>/data/``. Builds show a progress bar with images per
second and the time left, then a table of counts per class and split.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UserError
from .common import add_actions, add_command
from .data_output import counts_table, describe, print_built, progress_bar, say, split_counts

if TYPE_CHECKING:  # numpy comes with it: --help stays instant
    from ..data.imaging import Progress

REFERENCE_CLASSES = "airplane,bus,cat,dog,pizza"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``data`` and its actions."""
    actions = add_actions(subparsers, "data")
    _add_build(actions)
    _add_import(actions)
    _add_demo(actions)
    _add_classes(actions)
    _add_show(actions)


def _add_common_build_options(parser: argparse.ArgumentParser, default_out: str) -> None:
    parser.add_argument("--out", metavar="DIR", help=f"dataset folder to create (default: <home>/{default_out})")
    parser.add_argument("--force", action="store_true", help="replace an existing dataset folder at --out")
    parser.add_argument("--workers", type=int, metavar="N", help="processes decoding images (default: every CPU)")


def _add_resize(parser: argparse.ArgumentParser) -> None:
    help_text = "stretch (default, as the reference) or center-crop"
    parser.add_argument("--resize", choices=("stretch", "center-crop"), default="stretch", help=help_text)


def _add_allow_empty(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allow-empty-classes",
        action="store_true",
        help="keep a class left without train or val images (warned about on every use)",
    )


def _add_build(actions: argparse._SubParsersAction) -> None:
    build = add_command(actions, "data build", run_build)
    build.add_argument("--coco", metavar="ROOT", help="COCO root with annotations/ and train2014/ (or train2017/)")
    build.add_argument("--coco-ann", metavar="FILE", help="instances JSON, e.g. annotations/instances_train2014.json")
    build.add_argument("--coco-images", metavar="DIR", help="folder holding the images the JSON lists")
    build.add_argument(
        "--classes",
        default=REFERENCE_CLASSES,
        metavar="A,B,...",
        help=f"comma-separated names (default {REFERENCE_CLASSES})",
    )
    build.add_argument(
        "--per-class", type=int, default=2000, metavar="N", help="images sampled per class (default 2000)"
    )
    build.add_argument(
        "--train-per-class",
        type=int,
        metavar="N",
        help="of those, how many train (default 3/4 of --per-class: 1500 of 2000)",
    )
    build.add_argument("--size", type=int, default=64, metavar="PX", help="image side in pixels (default 64)")
    build.add_argument("--seed", type=int, default=5, metavar="N", help="sampling seed (default 5, as the reference)")
    _add_resize(build)
    build.add_argument("--exclusive", action="store_true", help="skip images holding two or more chosen classes")
    build.add_argument("--allow-fewer", action="store_true", help="take every image of a class that has too few")
    _add_allow_empty(build)
    _add_common_build_options(build, "data/coco5")


def _add_import(actions: argparse._SubParsersAction) -> None:
    imp = add_command(actions, "data import", run_import)
    imp.add_argument("src", metavar="DIR", help="folder with class subfolders, train/ + val/ splits, or train_data/")
    imp.add_argument("--size", type=int, default=64, metavar="PX", help="image side in pixels (default 64)")
    imp.add_argument(
        "--val-fraction", type=float, default=0.2, metavar="F", help="val share when DIR has no split (default 0.2)"
    )
    imp.add_argument("--seed", type=int, default=0, metavar="N", help="seed of that split (default 0)")
    _add_resize(imp)
    _add_allow_empty(imp)
    _add_common_build_options(imp, "data/<DIR name>")


def _add_demo(actions: argparse._SubParsersAction) -> None:
    demo = add_command(actions, "data demo", run_demo)
    demo.add_argument(
        "--per-class-train", type=int, default=600, metavar="N", help="train images per class (default 600)"
    )
    demo.add_argument("--per-class-val", type=int, default=150, metavar="N", help="val images per class (default 150)")
    demo.add_argument("--size", type=int, default=64, metavar="PX", help="image side in pixels (default 64)")
    demo.add_argument("--seed", type=int, default=0, metavar="N", help="drawing seed (default 0)")
    _add_common_build_options(demo, "data/demo")


def _add_classes(actions: argparse._SubParsersAction) -> None:
    classes = add_command(actions, "data classes", run_classes)
    classes.add_argument("--coco", metavar="ROOT", help="COCO root (2014 or 2017 layout)")
    classes.add_argument("--coco-ann", metavar="FILE", help="instances JSON")
    classes.add_argument("--sort", choices=("id", "name", "count"), default="id", help="row order (default id)")


def _add_show(actions: argparse._SubParsersAction) -> None:
    show = add_command(actions, "data show", run_show)
    show.add_argument("dataset", metavar="DIR", help="dataset folder (or a name under <home>/data/)")
    show.add_argument(
        "--per-class", type=int, default=5, metavar="N", help="images per class in samples.png (default 5)"
    )
    show.add_argument("--split", choices=("train", "val"), default="train", help="split to sample (default train)")
    show.add_argument("--seed", type=int, default=0, metavar="N", help="sampling seed (default 0)")
    show.add_argument("--samples", metavar="PNG", help="where to write the grid (default DIR/samples.png)")
    show.add_argument("--no-samples", action="store_true", help="print the counts only")


# --- running --------------------------------------------------------------------------------


def _build(
    args: argparse.Namespace, description: str, default_name: str, build: Callable[[Path, Progress], Path]
) -> int:
    """Run ``build(out, progress)`` under a progress bar, then print what it wrote and how fast."""
    out = Path(args.out) if args.out else Path(args.home) / "data" / default_name
    with progress_bar(description) as progress:
        started = time.perf_counter()
        path = build(out, progress)
    print_built(path, time.perf_counter() - started)
    return 0


def _options(args: argparse.Namespace, *names: str) -> dict[str, Any]:
    """The options a builder takes under the same names as the command's."""
    return {name: getattr(args, name) for name in names}


def _check_workers(args: argparse.Namespace) -> None:
    if args.workers is not None and args.workers < 1:
        raise UserError("--workers", f"must be 1 or more, got {args.workers}")


BUILDER_OPTIONS = ("size", "seed", "resize", "force", "workers", "allow_empty_classes")
"""Options ``data build`` and ``data import`` pass on as they are."""


def run_build(args: argparse.Namespace) -> int:
    """Build a COCO subset."""
    from ..data.coco import build_coco, find_coco

    _check_workers(args)
    ann, images = _coco_paths(args, find_coco)
    options = _options(args, "classes", "per_class", "exclusive", "allow_fewer", *BUILDER_OPTIONS)
    options["train_per_class"] = _train_share(args.per_class, args.train_per_class)

    def convert(out: Path, progress: Progress) -> Path:
        return build_coco(ann, images, out_dir=out, progress=progress, **options)

    return _build(args, "converting", "coco5", convert)


def _train_share(per_class: int, train_per_class: int | None) -> int:
    """``--train-per-class``, or the reference's 3/4 of ``--per-class`` when not given."""
    if train_per_class is not None:
        return train_per_class
    return min(max(1, round(per_class * 3 / 4)), max(1, per_class - 1))


def _coco_paths(args: argparse.Namespace, find_coco: Callable[[str], tuple[Path, Path]]) -> tuple[Path, Path]:
    ann = Path(args.coco_ann) if args.coco_ann else None
    images = Path(args.coco_images) if args.coco_images else None
    if args.coco and (ann is None or images is None):
        found_ann, found_images = find_coco(args.coco)
        ann, images = ann or found_ann, images or found_images
    if ann is None:
        raise UserError("--coco-ann", "pass --coco ROOT, or --coco-ann FILE with --coco-images DIR")
    if images is None:
        guess = ann.parent.parent / ann.stem.split("_", 1)[-1]  # annotations/instances_train2014.json -> train2014/
        if not guess.is_dir():
            raise UserError("--coco-images", f"pass the folder holding the images ({guess} does not exist)")
        images = guess
    return ann, images


def run_import(args: argparse.Namespace) -> int:
    """Import an image folder."""
    from ..data.folder import import_folder

    _check_workers(args)
    src = Path(args.src)
    options = _options(args, "val_fraction", *BUILDER_OPTIONS)
    return _build(
        args, "importing", src.absolute().name or "imported",
        lambda out, progress: import_folder(src, out, progress=progress, **options),
    )


def run_demo(args: argparse.Namespace) -> int:
    """Draw the demo dataset."""
    from ..data.demo import make_demo

    _check_workers(args)
    options = _options(args, "per_class_train", "per_class_val", "size", "seed", "force", "workers")
    return _build(args, "drawing", "demo", lambda out, progress: make_demo(out, progress=progress, **options))


def run_classes(args: argparse.Namespace) -> int:
    """List the categories of a COCO instances file."""
    from rich.console import Console
    from rich.table import Table

    from ..data.coco import coco_class_counts, find_coco

    if args.coco_ann:
        ann = Path(args.coco_ann)
    elif args.coco:
        ann = find_coco(args.coco)[0]
    else:
        raise UserError("--coco-ann", "pass --coco-ann FILE or --coco ROOT")
    counts = coco_class_counts(ann)
    rows = counts.rows
    order = {"id": lambda r: r[1], "name": lambda r: r[0], "count": lambda r: (-r[2], r[0])}[args.sort]
    table = Table(title=f"{len(rows)} categories in {ann.name}")
    table.add_column("id", justify="right")
    table.add_column("name")
    table.add_column("images", justify="right")
    for name, cat_id, count in sorted(rows, key=order):
        table.add_row(str(cat_id), name, f"{count:,}")
    console = Console()
    console.print(table)
    if counts.cached:
        console.print("counts from the cache (the file is unchanged since it was last read)", style="dim")
    return 0


def run_show(args: argparse.Namespace) -> int:
    """Print counts and write samples.png."""
    from rich.console import Console

    from ..data.checks import class_gaps, gaps_warning, skipped_warning
    from ..data.preview import write_samples
    from ..data.store import SPLITS, load_split_arrays, read_manifest

    folder = _dataset_folder(args)
    manifest = read_manifest(folder)
    if not args.no_samples:  # a picture that cannot be written is refused before the images load
        from ..outputs import output_file

        samples = output_file(args.samples or folder / "samples.png", "--samples", example="samples.png")
    arrays = {split: load_split_arrays(folder, split) for split in SPLITS}
    counts = {split: split_counts(arrays[split].labels, len(manifest.classes)) for split in SPLITS}
    console = Console()
    console.print(counts_table(manifest.name, manifest.classes, counts))
    say(console, describe(manifest))
    gaps = class_gaps(manifest.classes, counts)
    if gaps:
        say(console, gaps_warning(gaps))
    for split in SPLITS:
        if arrays[split].skipped:
            say(console, skipped_warning(split, arrays[split].skipped))
    if not args.no_samples:
        target = write_samples(folder, samples, per_class=args.per_class, split=args.split, seed=args.seed)
        say(console, f"samples: {target}")
    return 0


def _dataset_folder(args: argparse.Namespace) -> Path:
    folder = Path(args.dataset)
    named = Path(args.home) / "data" / args.dataset
    if not (folder / "manifest.json").is_file() and (named / "manifest.json").is_file():
        return named
    return folder
