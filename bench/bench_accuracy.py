"""Accuracy against training wall-clock: a preset through the engine, and the same recipe in a plain loop.

Datasets (prepared once under ``--work`` and reused):
  cifar10-5      ``../shared/data/cifar10-5.tar.gz`` unpacked and imported as ``vit-tui data import`` does
                 by default (64 px, train/ and test/ as the splits): real photographs
  demo           the built-in demo set with ``vit-tui data demo``'s defaults
  coco128-crops  the annotated objects of ``../shared/data/coco128`` cropped from the photos (pycocotools),
                 five most frequent classes with boxes of at least 16 px, at most 40 boxes a class (a
                 seeded sample), split 80/20 with seed 0: about 150 photos, so read it as a sanity check
  PATH           any dataset folder

For each run it prints one JSON line per epoch (``runner`` engine or loop, cumulative training
seconds without validation, validation accuracy) and a summary line (best accuracy, its epoch, the
training seconds to reach it, images per second). ``--variant NAME KEY=VALUE ...`` adds a run of
the preset with those settings; the plain loop (``plain_loop.py``: same model, recipe and resident
data) runs the preset itself unless ``--no-loop``.

    python bench/bench_accuracy.py --data demo --preset fast
    python bench/bench_accuracy.py --data cifar10-5 --preset fast --device cpu
    python bench/bench_accuracy.py --data cifar10-5 --preset accurate --device cuda --no-loop
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tarfile
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from plain_loop import LoopEpoch, plain_train  # noqa: E402

from vit_tui.config import RunConfig, apply_overrides  # noqa: E402
from vit_tui.data.folder import import_folder  # noqa: E402
from vit_tui.data.imaging import fit_images  # noqa: E402
from vit_tui.data.store import load_split  # noqa: E402
from vit_tui.engine.device.placement import describe_device, resolve_device  # noqa: E402
from vit_tui.engine.device.precision import resolve_precision  # noqa: E402
from vit_tui.engine.runs.folder import RunFolder  # noqa: E402
from vit_tui.engine.telemetry.events import EpochEnded  # noqa: E402
from vit_tui.engine.train.trainer import train  # noqa: E402
from vit_tui.errors import UserError  # noqa: E402
from vit_tui.presets import preset  # noqa: E402

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CROP_MIN_SIDE = 16
CROP_CLASSES = 5
CROP_CAP = 40


def prepare(name: str, work: Path, shared: Path = SHARED_DATA) -> Path:
    """The dataset folder for ``name``, built under ``work`` on first use from the data in ``shared``."""
    if name not in ("cifar10-5", "demo", "coco128-crops"):
        return Path(name)
    out = work / name
    if (out / "manifest.json").exists():
        return out
    work.mkdir(parents=True, exist_ok=True)
    if name == "demo":
        from vit_tui.data.demo import make_demo

        return make_demo(out)
    with tempfile.TemporaryDirectory() as tmp:
        if name == "cifar10-5":
            with tarfile.open(shared / "cifar10-5.tar.gz") as archive:
                archive.extractall(tmp, filter="data")
            return import_folder(Path(tmp) / "cifar10-5", out)
        crops = Path(tmp) / "crops"
        write_coco_crops(shared / "coco128", crops)
        return import_folder(crops, out)


def write_coco_crops(coco_root: Path, out: Path) -> None:
    """Crop every annotated box of the most frequent classes into ``out/<class>/``."""
    from PIL import Image
    from pycocotools.coco import COCO

    coco = COCO(str(coco_root / "annotations" / "instances_train2017.json"))
    boxes: dict[str, list[tuple[str, list[float]]]] = {}
    for ann in coco.loadAnns(coco.getAnnIds(iscrowd=False)):
        x, y, w, h = ann["bbox"]
        if min(w, h) < CROP_MIN_SIDE:
            continue
        name = coco.loadCats(ann["category_id"])[0]["name"]
        boxes.setdefault(name, []).append((coco.loadImgs(ann["image_id"])[0]["file_name"], ann["bbox"]))
    chosen = sorted(boxes, key=lambda n: len(boxes[n]), reverse=True)[:CROP_CLASSES]
    rng = random.Random(0)
    for name in chosen:
        folder = out / name.replace(" ", "-")
        folder.mkdir(parents=True)
        kept = rng.sample(boxes[name], min(CROP_CAP, len(boxes[name])))
        for i, (file_name, (x, y, w, h)) in enumerate(kept):
            with Image.open(coco_root / "train2017" / file_name) as image:
                image.convert("RGB").crop((round(x), round(y), round(x + w), round(y + h))).save(folder / f"{i}.jpg")


def emit(record: dict, out: Path | None) -> None:
    line = json.dumps(record)
    print(line, flush=True)
    if out is not None:
        with out.open("a") as handle:
            handle.write(line + "\n")


def summarize(curve: list[tuple[float, float, float]]) -> dict:
    """Best accuracy, its epoch, seconds to reach it, total seconds; ``curve`` is (seconds, acc, img/s)."""
    best = max(range(len(curve)), key=lambda i: curve[i][1])
    return {
        "best_val_acc": round(curve[best][1], 4),
        "best_epoch": best + 1,
        "seconds_to_best": round(curve[best][0], 1),
        "train_seconds": round(curve[-1][0], 1),
        "final_val_acc": round(curve[-1][1], 4),
        "images_per_s_median": round(statistics.median(c[2] for c in curve), 1),
    }


def run_engine(cfg: RunConfig, label: dict, out: Path | None) -> dict:
    curve: list[tuple[float, float, float]] = []

    def sink(event: object) -> None:
        if isinstance(event, EpochEnded):
            seconds = (curve[-1][0] if curve else 0.0) + event.seconds
            curve.append((seconds, event.val_acc, event.images_per_s))
            emit(
                {**label, "epoch": event.epoch, "train_seconds": round(seconds, 2), "val_acc": event.val_acc,
                 "train_acc": round(event.train_acc, 4)},
                out,
            )

    with tempfile.TemporaryDirectory() as runs:
        result = train(cfg, sink, runs_root=runs)
        if result.status != "finished":
            raise SystemExit(f"engine run {result.status}: {result.message}")
        path = RunFolder(result.run_dir).read_summary().get("step_path", "?")
    summary = {**label, "summary": True, **summarize(curve), "step_path": path}
    emit(summary, out)
    return summary


def run_loop(cfg: RunConfig, dataset: Path, label: dict, out: Path | None) -> dict:
    device = resolve_device(cfg.train.device)
    precision = resolve_precision(cfg.train.precision, device)
    train_split, val_split = load_split(dataset, "train", device), load_split(dataset, "val", device)
    size = cfg.model.image_size
    curve: list[tuple[float, float, float]] = []

    def on_epoch(e: LoopEpoch) -> None:
        seconds = (curve[-1][0] if curve else 0.0) + e.seconds
        curve.append((seconds, e.val_acc or 0.0, e.images / e.seconds))
        emit({**label, "epoch": e.epoch, "train_seconds": round(seconds, 2), "val_acc": e.val_acc}, out)

    plain_train(
        cfg,
        fit_images(train_split.images, size),
        train_split.labels,
        len(train_split.classes),
        precision=precision,
        val=(fit_images(val_split.images, size), val_split.labels),
        on_epoch=on_epoch,
    )
    summary = {**label, "summary": True, **summarize(curve)}
    emit(summary, out)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="cifar10-5", help="cifar10-5, demo, coco128-crops or a dataset folder")
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override for every run")
    parser.add_argument("--variant", action="append", nargs="+", default=[], metavar="NAME KEY=VALUE")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-loop", action="store_true", help="skip the plain-loop baseline")
    parser.add_argument("--no-preset", action="store_true", help="run only the variants")
    parser.add_argument("--work", type=Path, default=Path("bench/out/datasets"), help="where datasets are prepared")
    parser.add_argument("--shared", type=Path, default=SHARED_DATA, help="folder holding cifar10-5.tar.gz and coco128/")
    parser.add_argument("--out", type=Path, help="also append the JSON lines to this file")
    args = parser.parse_args()

    started = time.perf_counter()
    dataset = prepare(args.data, args.work, args.shared).absolute()
    base = apply_overrides(preset(args.preset), [f"data.dataset={dataset}", f"train.device={args.device}", *args.set])
    device = resolve_device(base.train.device)
    emit(
        {
            "data": args.data,
            "preset": args.preset,
            "device": describe_device(device),
            "torch": torch.__version__,
            "prepare_s": round(time.perf_counter() - started, 1),
        },
        args.out,
    )
    runs: list[tuple[str, RunConfig]] = [] if args.no_preset else [(args.preset, base)]
    runs += [(name, apply_overrides(base, list(overrides))) for name, *overrides in args.variant]
    for name, cfg in runs:
        label = {"runner": "engine", "data": args.data, "variant": name, "epochs": cfg.train.epochs}
        run_engine(replace(cfg, preset=args.preset), label, args.out)
    if not args.no_loop and not args.no_preset:
        run_loop(base, dataset, {"runner": "loop", "data": args.data, "variant": args.preset}, args.out)


if __name__ == "__main__":
    try:
        main()
    except UserError as exc:
        raise SystemExit(f"bench_accuracy: {exc}") from None
