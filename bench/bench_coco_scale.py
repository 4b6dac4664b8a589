"""COCO-scale benchmark: ``data classes`` first vs second open, and ``data build``, on a train2017-sized file.

Writes a synthetic instances file of train2017's size (118,287 images, 860,001 annotations,
80 categories; ``tests/coco_scale.py``), then times, each as a fresh ``vit-tui`` process with an
empty count cache:

  classes_first   ``vit-tui data classes --coco-ann FILE``: parses the file, counts, fills the cache;
  classes_second  the same again: served from the cache (goal: under a second, process start included);
  build           with ``--build``: ``vit-tui data build`` of 5 classes x ``--per-class`` images, every
                  image id pointing at one small JPEG (hard links), so the file's size is what is timed.
  picker_first    with ``--app``: the app's COCO class picker (Textual's headless driver, a fresh
  picker_second   process each, the cache emptied before the first): from pressing "Read classes"
                  until the picker lists every category.

Prints one JSON line.

    python bench/bench_coco_scale.py                         # full train2017 size
    python bench/bench_coco_scale.py --build --per-class 200 --app
    python bench/bench_coco_scale.py --images 2000 --annotations 15000 --build --per-class 20   # smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from coco_scale import (  # noqa: E402
    CATEGORY_IDS,
    TRAIN2017_ANNOTATIONS,
    TRAIN2017_IMAGES,
    category_name,
    write_coco_scale,
)

from vit_tui.data.coco import CLASS_CACHE_ENV  # noqa: E402


def timed_cli(args: list[str], env: dict[str, str]) -> float:
    """Seconds a ``vit-tui`` command takes as its own process; exits when it fails."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "vit_tui", *args], env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"vit-tui {' '.join(args)} failed: {done.stderr.strip()}")
    return seconds


LINKS_PER_FILE = 50_000
"""Below ext4's 65,000 hard links per file."""


def link_images(folder: Path, count: int) -> None:
    """``<id>.jpg`` for every image id, hard links to a few 96x72 JPEGs."""
    folder.mkdir()
    pixels = np.random.default_rng(0).integers(0, 256, size=(72, 96, 3), dtype=np.uint8)
    for image_id in range(1, count + 1):
        source = folder.parent / f"source-{image_id // LINKS_PER_FILE}.jpg"
        if not source.exists():
            Image.fromarray(pixels).save(source, quality=85)
        os.link(source, folder / f"{image_id:012d}.jpg")


async def _picker_seconds(ann: Path, home: Path) -> float:
    """Seconds from pressing the Data screen's "Read classes" until the picker lists every category."""
    import asyncio

    from textual.widgets import Input

    from vit_tui.tui.app import VitApp
    from vit_tui.tui.screens.data_forms import CocoForm

    app = VitApp(home, offer_demo=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("b")
        await pilot.pause()
        form = app.screen.query_one(CocoForm)
        form.query_one("#coco-ann", Input).value = str(ann)
        start = time.perf_counter()
        await pilot.click("#coco-read")
        while len(form.categories) < len(CATEGORY_IDS):
            await asyncio.sleep(0.005)
        return time.perf_counter() - start


def picker_child(ann: Path, home: Path) -> int:
    """Time the class picker once in this process and print the seconds."""
    import asyncio

    print(asyncio.run(_picker_seconds(ann, home)))
    return 0


def timed_picker(ann: Path, home: Path, env: dict[str, str]) -> float:
    """The class picker's seconds, measured in a fresh process (as a user opens the app)."""
    command = [sys.executable, __file__, "--picker-child", str(ann), "--home", str(home)]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"class picker run failed: {done.stderr.strip()[-2000:]}")
    return float(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=TRAIN2017_IMAGES, help="images in the file (train2017's)")
    parser.add_argument("--annotations", type=int, default=TRAIN2017_ANNOTATIONS, help="annotations (train2017's)")
    parser.add_argument("--build", action="store_true", help="also time data build of 5 classes")
    parser.add_argument("--per-class", type=int, default=200, help="images per class for --build (default 200)")
    parser.add_argument("--app", action="store_true", help="also time the app's class picker, first and cached")
    parser.add_argument("--picker-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.picker_child:
        return picker_child(args.picker_child, args.home)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        ann = root / "instances_train2017.json"
        start = time.perf_counter()
        write_coco_scale(ann, args.images, args.annotations)
        result = {
            "images": args.images,
            "annotations": args.annotations,
            "file_mb": round(ann.stat().st_size / 1e6, 1),
            "generate_s": round(time.perf_counter() - start, 2),
        }
        env = {**os.environ, CLASS_CACHE_ENV: str(root / "cache")}
        listing = ["data", "classes", "--coco-ann", str(ann)]
        result["classes_first_s"] = round(timed_cli(listing, env), 2)
        result["classes_second_s"] = round(timed_cli(listing, env), 2)
        if args.app:
            app_env = {**env, CLASS_CACHE_ENV: str(root / "app-cache"), "VIT_TUI_CONFIG_DIR": str(root / "settings")}
            (root / "home").mkdir()
            result["picker_first_s"] = round(timed_picker(ann, root / "home", app_env), 2)
            result["picker_second_s"] = round(timed_picker(ann, root / "home", app_env), 2)
        if args.build:
            link_images(root / "train2017", args.images)
            classes = ",".join(category_name(c) for c in CATEGORY_IDS[:5])
            train = max(1, args.per_class * 3 // 4)
            build = ["data", "build", "--coco-ann", str(ann), "--coco-images", str(root / "train2017"),
                     "--classes", classes, "--per-class", str(args.per_class), "--train-per-class", str(train),
                     "--out", str(root / "built")]  # fmt: skip
            result["build_s"] = round(timed_cli(build, env), 2)
            result["build_per_class"] = args.per_class
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
