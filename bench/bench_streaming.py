"""Streaming benchmark: training throughput with the train split streamed from its mapped cache vs resident.

On one generated demo set, the same run (config, seed, batch, epochs) is trained by the engine
twice per repeat, taking turns: ``resident`` with ``train.data_memory_budget`` large enough to
hold the split on the device, ``streamed`` with a budget of 0 bytes, so every batch is gathered
from the memory-mapped uint8 cache (through pinned buffers with prefetch on CUDA). Reported per
holder: median seconds per epoch over the epochs after the first (warm-up) and over repeats,
images per second, and the streamed/resident ratio (goal: >= 0.8 on CPU). The two runs' final
training losses are compared too: they must be equal, holder for holder.

Prints a table, then one JSON line with every figure.

    python bench/bench_streaming.py --device cpu --images 2048 --epochs 4 --repeats 2
    python bench/bench_streaming.py --device cuda --images 20000 --batch 256 --epochs 4
    python bench/bench_streaming.py --images 60 --epochs 2 --repeats 1 --batch 16     # smoke test
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_train import time_engine  # noqa: E402

from vit_tui.config import RunConfig, apply_overrides  # noqa: E402
from vit_tui.data.demo import make_demo  # noqa: E402
from vit_tui.engine.runs.folder import RunFolder  # noqa: E402
from vit_tui.presets import preset  # noqa: E402

BUDGETS = {"resident": "1TiB", "streamed": "0"}


def bench_config(dataset: Path, args: argparse.Namespace, holder: str) -> RunConfig:
    """The ``--preset`` on ``dataset`` with the benchmark's device, batch, epochs and the holder's budget."""
    cfg = apply_overrides(preset(args.preset), [f"train.data_memory_budget={BUDGETS[holder]}", *args.set])
    train_cfg = replace(cfg.train, epochs=args.epochs, batch_size=args.batch, device=args.device)
    return replace(cfg, data=replace(cfg.data, dataset=str(dataset)), train=train_cfg)


def time_run(cfg: RunConfig, runs: Path) -> tuple[list[float], float, str]:
    """Seconds of each training epoch (validation excluded), the final train loss and the holder used.

    ``runs`` is a fresh folder, so the run is the one folder in it.
    """
    seconds, _ = time_engine(cfg, runs)
    run_dir = next(runs.iterdir())
    return seconds, RunFolder(run_dir).read_metrics()[-1]["train_loss"], RunFolder(run_dir).read_summary()["train_data"]["holder"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--images", type=int, default=2048, help="training images (default 2048)")
    parser.add_argument("--size", type=int, default=64, help="image side (default 64)")
    parser.add_argument("--batch", type=int, default=64, help="batch size (default 64)")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per run, the first is warm-up (default 4)")
    parser.add_argument("--repeats", type=int, default=2, help="runs per holder, taking turns (default 2)")
    parser.add_argument("--preset", default="fast", help="preset to train (default fast)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra config setting")
    args = parser.parse_args(argv)
    seconds: dict[str, list[float]] = {holder: [] for holder in BUDGETS}
    losses: dict[str, list[float]] = {holder: [] for holder in BUDGETS}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        per_class = max(1, args.images // 5)
        dataset = make_demo(root / "data", per_class_train=per_class, per_class_val=20, size=args.size, seed=0)
        images = per_class * 5 // args.batch * args.batch  # full batches only
        for repeat in range(args.repeats):
            for holder in BUDGETS:
                epochs, loss, used = time_run(bench_config(dataset, args, holder), root / f"runs-{holder}-{repeat}")
                if used != holder:
                    raise SystemExit(f"the {holder} run was {used}")
                seconds[holder] += epochs[1:] if len(epochs) > 1 else epochs
                losses[holder].append(loss)
    result = summarize(seconds, losses, images, args)
    print_table(result)
    print(json.dumps(result))
    return 0


def summarize(seconds: dict[str, list[float]], losses: dict[str, list[float]], images: int, args) -> dict:
    per_s = {holder: images / statistics.median(values) for holder, values in seconds.items()}
    return {
        "device": args.device,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "preset": args.preset,
        "images": images,
        "size": args.size,
        "batch": args.batch,
        "epochs_timed": {holder: len(values) for holder, values in seconds.items()},
        "sec_per_epoch_median": {holder: round(statistics.median(v), 4) for holder, v in seconds.items()},
        "images_per_s": {holder: round(v, 1) for holder, v in per_s.items()},
        "streamed_vs_resident": round(per_s["streamed"] / per_s["resident"], 3),
        "same_final_loss": losses["streamed"] == losses["resident"],
    }


def print_table(result: dict) -> None:
    print(f"{'holder':<10} {'s/epoch':>9} {'images/s':>10}")
    for holder in BUDGETS:
        print(f"{holder:<10} {result['sec_per_epoch_median'][holder]:>9.3f} {result['images_per_s'][holder]:>10.1f}")
    print(f"streamed / resident: {result['streamed_vs_resident']:.3f}x; same final loss: {result['same_final_loss']}")


if __name__ == "__main__":
    raise SystemExit(main())
