"""Data-parallel scaling: training images/s of the engine on 1 and on N processes, same global batch.

On one generated dataset (the demo set's shapes, resident in memory) the same config trains once
per process count, each through torchrun (``python -m torch.distributed.run --standalone``; one
process is a plain run). Every rank runs ``vit_tui.engine.train.trainer.train`` headless (no UI module
is imported); rank 0 writes the run folder, whose ``metrics.csv`` holds each epoch's images/s
over all processes. The table gives the median over the epochs after the first (warm-up) and
the speed-up against one process.

    python bench/bench_distributed.py --device cpu --procs 1,2                 # CPU processes (gloo)
    python bench/bench_distributed.py --device cuda --procs 1,8 --batch 256    # 1 GPU against 8 (NCCL)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from vit_tui.config import apply_overrides, save  # noqa: E402
from vit_tui.presets import preset  # noqa: E402

# The fast preset's model on a patch stem (no BatchNorm, so CPU and CUDA runs compute the same thing).
SETTINGS = ["model.stem=patch", "train.augment=none", "train.cuda_graph=off", "train.keep=last"]


def worker(config: Path, out: Path) -> int:
    """One rank (under torchrun) or the only process: train the saved config into ``out``."""
    from vit_tui import config as config_mod
    from vit_tui.engine.train.trainer import train

    result = train(config_mod.load(config), runs_root=out.parent, name=out.name)
    return 0 if result.status == "finished" else 1


def run(procs: int, config: Path, out: Path, timeout: float) -> None:
    """Train ``config`` on ``procs`` processes of this machine."""
    me = [str(Path(__file__).resolve()), "--worker", str(config), str(out)]
    launcher = ["-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={procs}"] if procs > 1 else []
    threads = max(1, (os.cpu_count() or 1) // procs)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, *launcher, *me], check=True, env=env, timeout=timeout)


def images_per_s(out: Path) -> tuple[float, int, str]:
    """Median images/s over the epochs after the first, the epochs timed, and the run's device."""
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    rows = (out / "metrics.csv").read_text(encoding="utf-8").splitlines()
    header = rows[0].split(",")
    speeds = [float(row.split(",")[header.index("images_per_s")]) for row in rows[1:]]
    timed = speeds[1:] if len(speeds) > 1 else speeds
    return statistics.median(timed), len(timed), str(summary.get("device", "?"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--procs", default="1,2", help="comma list of process counts (default 1,2)")
    parser.add_argument("--images", type=int, default=2560, help="training images (default 2560)")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per run, the first is warm-up (default 4)")
    parser.add_argument("--batch", type=int, default=64, help="global batch, divisible by every count (default 64)")
    parser.add_argument("--preset", default="fast", help="model and recipe (default fast)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per run before giving up")
    parser.add_argument("--worker", nargs=2, metavar=("CONFIG", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(Path(args.worker[0]), Path(args.worker[1]))
    from vit_tui.data.demo import make_demo

    counts = [int(n) for n in args.procs.split(",") if n]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        per_class = max(1, args.images // 5)
        dataset = make_demo(root / "data", per_class_train=per_class, per_class_val=20, size=64, seed=0)
        overrides = [*SETTINGS, f"train.epochs={args.epochs}", f"train.batch_size={args.batch}"]
        overrides += [f"train.device={args.device}", f"data.dataset={dataset}"]
        config = root / "config.toml"
        save(apply_overrides(preset(args.preset), overrides), config)
        print(f"{'processes':>9}  {'images/s':>10}  {'speed-up':>8}  {'epochs':>6}  device")
        base = None
        for procs in counts:
            out = root / "runs" / f"procs-{procs}"
            run(procs, config, out, args.timeout)
            speed, timed, device = images_per_s(out)
            base = base or speed
            print(f"{procs:>9}  {speed:>10,.0f}  {speed / base:>7.2f}x  {timed:>6}  {device}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
