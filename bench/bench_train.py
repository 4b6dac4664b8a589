"""Training-speed benchmark: vit-tui's engine against a reference-style loop, same process.

On one generated dataset (the demo set's shapes, written as JPEG files) it times:
  (a) ``reference_loop``: a DataLoader over the image files, 2 workers, ``.item()`` every step;
  (b) the engine (``vit_tui.engine.trainer.train``) with the same model and hyper-parameters,
      for the reference ``dlstudio`` model and the ``sdpa`` + ``mlp`` model;
  (c) the engine with the ``sdpa`` + ``mlp`` model at batch 256 and 1024.
Each configuration prints one JSON line: median seconds per epoch over the epochs after the
first (warm-up), images per second, and the ratio of images per second to (a) for that model.

    python bench/bench_train.py --device cpu --quick
    python bench/bench_train.py --device cuda --images 7500 --epochs 4
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from reference_loop import make_loader, train_epoch  # noqa: E402

from vit_tui.config import RunConfig, apply_overrides  # noqa: E402
from vit_tui.data.demo import make_demo  # noqa: E402
from vit_tui.data.store import read_manifest  # noqa: E402
from vit_tui.engine.events import EpochEnded, RunStarted  # noqa: E402
from vit_tui.engine.trainer import train  # noqa: E402
from vit_tui.model.vit import build_model  # noqa: E402
from vit_tui.presets import preset  # noqa: E402

MODELS = {
    "dlstudio": [],
    "sdpa-mlp": ["model.attention=sdpa", "model.ffn=mlp"],
}


def reference_config(dataset: Path, model: str, device: str, epochs: int, batch: int = 16) -> RunConfig:
    """The reference preset on ``dataset`` with the chosen model, device and epochs."""
    cfg = apply_overrides(preset("reference"), MODELS[model])
    train_cfg = replace(cfg.train, epochs=epochs, batch_size=batch, device=device)
    return replace(cfg, data=replace(cfg.data, dataset=str(dataset)), train=train_cfg)


def time_loop(dataset: Path, cfg: RunConfig, device: torch.device, epochs: int) -> list[float]:
    """Seconds of each epoch of the reference-style loop."""
    torch.manual_seed(cfg.train.seed)
    classes = read_manifest(dataset).classes
    model = build_model(cfg.model, len(classes)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.train.lr, betas=cfg.train.betas)
    loader = make_loader(dataset / "train", classes, batch_size=cfg.train.batch_size, workers=2)
    return [train_epoch(model, loader, optimizer, device)["seconds"] for _ in range(epochs)]


def time_engine(cfg: RunConfig, runs: Path) -> tuple[list[float], str]:
    """Seconds of each training epoch of the engine (validation excluded), and its step path."""
    seconds: list[float] = []
    path: list[str] = []

    def sink(event: object) -> None:
        if isinstance(event, EpochEnded):
            seconds.append(event.seconds)
        elif isinstance(event, RunStarted):
            path.append(event.step_path)

    result = train(cfg, sink, runs_root=runs)
    if result.status != "finished":
        raise SystemExit(f"engine run {result.status}: {result.message}")
    return seconds, path[0] if path else "?"


def report(
    name: str, model: str, batch: int, seconds: list[float], images: int, base_ips: float | None, **extra
) -> float:
    """Print one JSON line; return images per second."""
    median = statistics.median(seconds[1:] if len(seconds) > 1 else seconds)
    ips = images / median
    line = {
        "config": name,
        "model": model,
        "batch": batch,
        "sec_per_epoch_median": round(median, 4),
        "epochs_timed": max(1, len(seconds) - 1),
        "images_per_s": round(ips, 1),
        "ratio_vs_loop": round(ips / base_ips, 2) if base_ips else 1.0,
        **extra,
    }
    print(json.dumps(line), flush=True)
    return ips


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--images", type=int, default=7500, help="training images (default 7500, the reference)")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per configuration, the first is warm-up")
    parser.add_argument("--models", default="sdpa-mlp,dlstudio", help="comma list of: " + ", ".join(MODELS))
    parser.add_argument("--large", default="256,1024", help="large batch sizes for (c); empty to skip")
    parser.add_argument("--quick", action="store_true", help="short CPU run: 800 images, 3 epochs")
    args = parser.parse_args(argv)
    if args.quick:
        args.images, args.epochs = 800, 3
    device = torch.device(args.device)
    torch.backends.cudnn.benchmark = False
    print(json.dumps({"torch": torch.__version__, "device": str(device), "threads": torch.get_num_threads()}))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        per_class = max(1, args.images // 5)
        dataset = make_demo(root / "data", per_class_train=per_class, per_class_val=20, size=64, seed=0)
        images = per_class * 5
        base: dict[str, float] = {}
        for model in [m for m in args.models.split(",") if m]:
            cfg = reference_config(dataset, model, args.device, args.epochs)
            start = time.perf_counter()
            loop_seconds = time_loop(dataset, cfg, device, args.epochs)
            base[model] = report("loop", model, 16, loop_seconds, images, None)
            engine_seconds, path = time_engine(cfg, root / "runs")
            report("engine", model, 16, engine_seconds, images // 16 * 16, base[model], step_path=path)
            print(json.dumps({"model": model, "wall_s": round(time.perf_counter() - start, 1)}), flush=True)
        for batch in [int(b) for b in args.large.split(",") if b]:
            if "sdpa-mlp" not in base or batch > images:
                continue
            cfg = reference_config(dataset, "sdpa-mlp", args.device, args.epochs, batch=batch)
            engine_seconds, path = time_engine(cfg, root / "runs")
            # The engine trains on full batches only.
            report(
                "engine", "sdpa-mlp", batch, engine_seconds, images // batch * batch, base["sdpa-mlp"], step_path=path
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
