"""Dataset-build benchmark: vit-tui's image conversion against a plain serial loop, same images.

Source pictures: ``../shared/data/coco128/train2017`` when present (real COCO JPEGs, mostly
640x480), otherwise generated 640x480 JPEGs of the same kind. The list is repeated to reach
``--images`` conversions. Timed, each ``--repeats`` times, taking turns (medians reported):

  serial  the plain loop: ``Image.open(p).convert("RGB").resize((64, 64)).save(dst)`` per image;
  fast    vit-tui's build path: JPEG draft-mode decoding on a process pool (``--workers``), each
          image written as JPEG and decoded back, then the packed cache and manifest written
          and the folder renamed into place (``DatasetStage`` + ``convert_images``);
  fast_1  the same with one worker, to show what draft mode alone gives.

Prints one JSON object.

    python bench/bench_build.py                    # 512 conversions, every CPU, 3 repeats
    python bench/bench_build.py --images 1024 --repeats 5 --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import PIL
from PIL import Image

from vit_tui.data.imaging import ConvertTask, convert_images, default_workers
from vit_tui.data.stage import DatasetStage

COCO_IMAGES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "coco128" / "train2017"


def source_images(scratch: Path) -> tuple[list[Path], str]:
    """coco128's JPEGs, or 128 generated COCO-sized JPEGs when coco128 is absent."""
    if COCO_IMAGES.is_dir():
        return sorted(COCO_IMAGES.glob("*.jpg")), "coco128"
    folder = scratch / "generated"
    folder.mkdir()
    rng = np.random.default_rng(0)
    paths = []
    for k in range(128):
        # Smooth colour fields plus grain compress like photographs do.
        small = rng.integers(0, 256, size=(12, 16, 3), dtype=np.uint8)
        image = Image.fromarray(small).resize((640, 480), Image.Resampling.BICUBIC)
        grain = rng.normal(0, 12, size=(480, 640, 3))
        image = Image.fromarray((np.asarray(image) + grain).clip(0, 255).astype(np.uint8))
        path = folder / f"{k:012d}.jpg"
        image.save(path, quality=90)
        paths.append(path)
    return paths, "generated 640x480"


def plain_serial(sources: list[Path], out: Path, size: int) -> None:
    out.mkdir()
    for index, src in enumerate(sources):
        Image.open(src).convert("RGB").resize((size, size)).save(out / f"{index:06d}.jpg", quality=95)


def vit_tui_build(sources: list[Path], out: Path, size: int, workers: int) -> None:
    with DatasetStage(out) as stage:
        tasks = [
            ConvertTask(str(src), str(stage.split_dir("train") / f"a_{i:06d}.jpg")) for i, src in enumerate(sources)
        ]
        images = convert_images(tasks, size, workers=workers)
        kept = [image for image in images if image is not None]
        stage.commit(
            classes=["a", "b"],
            splits={"train": (np.stack(kept), np.zeros(len(kept), np.int64), [Path(t.dst).name for t in tasks])},
            image_size=size,
            name="bench",
            source={"kind": "bench"},
        )


def timed(methods: dict[str, Callable[[Path], None]], scratch: Path, repeats: int) -> dict[str, list[float]]:
    """Seconds per run of each method; methods take turns so a busy spell hits them alike."""
    seconds: dict[str, list[float]] = {name: [] for name in methods}
    for attempt in range(repeats):
        for name, run in methods.items():
            out = scratch / f"{name}-{attempt}"
            started = time.perf_counter()
            run(out)
            seconds[name].append(time.perf_counter() - started)
            shutil.rmtree(out)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=512, help="conversions per timed run (default 512)")
    parser.add_argument("--size", type=int, default=64, help="output side in pixels (default 64)")
    parser.add_argument("--workers", type=int, default=default_workers(), help="pool size (default: every CPU)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per method (default 3)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-build-") as tmp:
        scratch = Path(tmp)
        pictures, origin = source_images(scratch)
        sources = (pictures * (args.images // len(pictures) + 1))[: args.images]
        for path in pictures:  # same warm page cache for every method
            path.read_bytes()
        methods = {
            "serial": lambda out: plain_serial(sources, out, args.size),
            "fast": lambda out: vit_tui_build(sources, out, args.size, args.workers),
            "fast_1": lambda out: vit_tui_build(sources, out, args.size, 1),
        }
        times = timed(methods, scratch, args.repeats)
    serial, fast, fast_one = times["serial"], times["fast"], times["fast_1"]
    serial_median, fast_median = statistics.median(serial), statistics.median(fast)
    result = {
        "source": origin,
        "images": args.images,
        "size": args.size,
        "workers": args.workers,
        "cpus": os.cpu_count(),
        "repeats": args.repeats,
        "serial_s": [round(s, 3) for s in serial],
        "fast_s": [round(s, 3) for s in fast],
        "fast_1_worker_s": [round(s, 3) for s in fast_one],
        "serial_median_s": round(serial_median, 3),
        "fast_median_s": round(fast_median, 3),
        "fast_1_worker_median_s": round(statistics.median(fast_one), 3),
        "speedup": round(serial_median / fast_median, 2),
        "speedup_1_worker": round(serial_median / statistics.median(fast_one), 2),
        "serial_images_per_s": round(args.images / serial_median, 1),
        "fast_images_per_s": round(args.images / fast_median, 1),
        "python": platform.python_version(),
        "pillow": PIL.__version__,
        "machine": platform.machine(),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
