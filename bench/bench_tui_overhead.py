"""TUI overhead: training speed inside the app against the headless command line, same config.

Both sides train the same config on the same generated demo set, alternating, ``--repeats``
times each, every run in a fresh process (as a user runs them: OpenMP thread pools left behind
by one run would otherwise slow the next), each with its own defaults. Headless is the real
``vit-tui train`` command (its live rich display included) as a user types it; the app side
runs ``VitApp`` the way ``vit-tui`` does (``prepare_environment`` first, then Textual's headless
driver at 120x40, so every widget still updates and the compositor still draws) and presses
``t``, which trains in the app's worker thread. Each side's figure is the median over all runs
of the engine-measured epoch seconds (``metrics.csv``) after each run's first (warm-up) epoch.
Prints one JSON line.

    python bench/bench_tui_overhead.py --device cpu
    python bench/bench_tui_overhead.py --device cuda --per-class 1500 --epochs 4
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from vit_tui.config import RunConfig, apply_overrides
from vit_tui.presets import preset

# torch-importing modules are imported inside the functions, so an app child can set its
# process environment (prepare_environment) before torch loads, exactly as `vit-tui` does.


def bench_config(dataset: Path, device: str, epochs: int, batch: int) -> RunConfig:
    """The fast preset on ``dataset``: what a newcomer trains from the app."""
    cfg = apply_overrides(
        preset("fast"), [f"train.epochs={epochs}", f"train.batch_size={batch}", f"train.device={device}"]
    )
    return replace(cfg, data=replace(cfg.data, dataset=str(dataset)))


def headless_epochs(args: argparse.Namespace, home: Path) -> list[float]:
    """Epoch seconds of one run of the real ``vit-tui train`` command, with its own defaults."""
    from vit_tui.engine.runs import read_metrics

    run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=home)) / "run"
    command = [sys.executable, "-m", "vit_tui", "train", "--preset", "fast", "--data", str(home / "data" / "demo"),
               "--out", str(run_dir), "--set", f"train.epochs={args.epochs}", "--set", f"train.batch_size={args.batch}",
               "--set", f"train.device={args.device}"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"headless run failed:\n{done.stderr[-2000:]}")
    return [row["seconds"] for row in read_metrics(run_dir)]


async def _app_run(cfg: RunConfig, home: Path) -> list[float]:
    from vit_tui.tui.app import VitApp

    app = VitApp(home, offer_demo=False)
    async with app.run_test(size=(120, 40)) as pilot:
        app.state.config = cfg
        await pilot.press("3", "t")
        train_screen = app.screen_named("train")
        while train_screen.status not in ("finished", "failed", "interrupted"):
            await pilot.pause(0.1)
        if train_screen.status != "finished":
            raise SystemExit(f"in-app run ended {train_screen.status}: {train_screen.last_error}")
        return [row.seconds for row in train_screen.history]


def app_epochs(cfg: RunConfig, home: Path) -> list[float]:
    """Epoch seconds of one run trained inside the app."""
    return asyncio.run(_app_run(cfg, home))


def one_run(mode: str, args: argparse.Namespace, home: Path) -> list[float]:
    """Epoch seconds of one run in a fresh process."""
    if mode == "headless":
        return headless_epochs(args, home)
    command = [sys.executable, __file__, "--child", mode, "--home", str(home), "--device", args.device,
               "--epochs", str(args.epochs), "--batch", str(args.batch)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{mode} run failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def child(args: argparse.Namespace) -> int:
    """Train once in the app in this process and print the epoch seconds as JSON."""
    from vit_tui.tui.app import prepare_environment

    prepare_environment()  # what `vit-tui` does before the app starts
    home = Path(args.home)
    cfg = bench_config(home / "data" / "demo", args.device, args.epochs, args.batch)
    print(json.dumps(app_epochs(cfg, home)))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--per-class", type=int, default=300, help="demo training images per class")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", choices=("app",), help=argparse.SUPPRESS)
    parser.add_argument("--home", help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("VIT_TUI_CONFIG_DIR", tempfile.mkdtemp(prefix="vit-tui-bench-settings-"))
    if args.child:
        return child(args)
    with tempfile.TemporaryDirectory(prefix="vit-tui-bench-") as tmp:
        home = Path(tmp)
        from vit_tui.data.demo import make_demo

        make_demo(home / "data" / "demo", per_class_train=args.per_class, per_class_val=args.per_class // 4)
        headless, in_app = [], []
        start = time.perf_counter()
        for _ in range(args.repeats):
            headless += one_run("headless", args, home)[1:]
            in_app += one_run("app", args, home)[1:]
        result = {
            "bench": "tui_overhead",
            "device": args.device,
            "images_per_epoch": 5 * args.per_class,
            "epochs_per_run": args.epochs,
            "repeats": args.repeats,
            "headless_median_epoch_s": round(statistics.median(headless), 4),
            "app_median_epoch_s": round(statistics.median(in_app), 4),
            "app_over_headless": round(statistics.median(in_app) / statistics.median(headless), 4),
            "headless_epochs_s": [round(s, 3) for s in headless],
            "app_epochs_s": [round(s, 3) for s in in_app],
            "wall_s": round(time.perf_counter() - start, 1),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "(unset: each side's default)"),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "command": " ".join(["python", *sys.argv]),
        }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
