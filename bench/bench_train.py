"""Training-speed benchmark: vit-tui's engine against plain loops doing the same work, same process.

On one generated dataset (the demo set's shapes, written as JPEG files) at the reference's
hyper-parameters (Adam 2e-4, betas 0.9/0.999, fp32, no augmentation, 64x64, patch 16, E=100,
5 heads, 3 blocks), for each model and batch size it times:
  (a) ``memory``: the plain loop of ``plain_loop.py``: the same uint8 tensors resident on the
      device, ``randperm`` batches, ``.item()`` every step, Adam with torch's defaults;
      the baseline every ratio is taken against, at the same model and batch size;
  (b) ``engine``: ``vit_tui.engine.train.trainer.train`` with the same config;
  (c) ``jpeg`` (batch 16 only, ``--jpeg``): ``reference_loop.py``, the course reference's way:
      a DataLoader decoding the JPEG files in 2 workers (decoding included: a different job).
Each configuration prints one JSON line: median seconds per epoch over the epochs after the
first (warm-up), images per second and the ratio to (a). The engine's step path is read from
the run's summary after training, so a fallback from a captured graph shows.

    python bench/bench_train.py --device cpu --images 2048 --epochs 4
    python bench/bench_train.py --device cuda --images 7500 --epochs 4 --batches 16,256,1024
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

from plain_loop import plain_train  # noqa: E402
from reference_loop import make_loader, train_epoch  # noqa: E402

from vit_tui.config import RunConfig, apply_overrides  # noqa: E402
from vit_tui.data.demo import make_demo  # noqa: E402
from vit_tui.data.store import load_split, read_manifest  # noqa: E402
from vit_tui.engine.runs.folder import RunFolder  # noqa: E402
from vit_tui.engine.telemetry.events import EpochEnded  # noqa: E402
from vit_tui.engine.train.trainer import train  # noqa: E402
from vit_tui.model.build import build_model  # noqa: E402
from vit_tui.presets import preset  # noqa: E402

MODELS = {
    "mha": ["model.attention=mha", "model.ffn=mlp"],
    "dlstudio": [],
}
# The engine's fastest path where it has one (a captured CUDA graph; eager elsewhere, with the reason).
ENGINE = ["train.cuda_graph=auto"]


def reference_config(dataset: Path, model: str, device: str, epochs: int, batch: int = 16) -> RunConfig:
    """The reference preset on ``dataset`` with the chosen model, device, epochs and batch."""
    cfg = apply_overrides(preset("reference"), [*MODELS[model], *ENGINE])
    train_cfg = replace(cfg.train, epochs=epochs, batch_size=batch, device=device)
    return replace(cfg, data=replace(cfg.data, dataset=str(dataset)), train=train_cfg)


def time_memory_loop(dataset: Path, cfg: RunConfig, device: torch.device) -> list[float]:
    """Seconds of each epoch of the plain in-memory loop."""
    split = load_split(dataset, "train", device)
    epochs = plain_train(cfg, split.images, split.labels, len(split.classes))
    return [e.seconds for e in epochs]


def time_jpeg_loop(dataset: Path, cfg: RunConfig, device: torch.device) -> list[float]:
    """Seconds of each epoch of the reference-style DataLoader loop over the JPEG files."""
    torch.manual_seed(cfg.train.seed)
    classes = read_manifest(dataset).classes
    model = build_model(cfg.model, len(classes)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.train.lr, betas=cfg.train.betas)
    loader = make_loader(dataset / "train", classes, batch_size=cfg.train.batch_size, workers=2)
    return [train_epoch(model, loader, optimizer, device)["seconds"] for _ in range(cfg.train.epochs)]


def time_engine(cfg: RunConfig, runs: Path) -> tuple[list[float], str]:
    """Seconds of each training epoch of the engine (validation excluded), and its final step path."""
    seconds: list[float] = []

    def sink(event: object) -> None:
        if isinstance(event, EpochEnded):
            seconds.append(event.seconds)

    result = train(cfg, sink, runs_root=runs)
    if result.status != "finished":
        raise SystemExit(f"engine run {result.status}: {result.message}")
    return seconds, str(RunFolder(result.run_dir).read_summary().get("step_path", "?"))


def report(name: str, model: str, batch: int, seconds: list[float], images: int, base_ips: float | None, **extra) -> float:
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
        "ratio_vs_memory_loop": round(ips / base_ips, 2) if base_ips else 1.0,
        **extra,
    }
    print(json.dumps(line), flush=True)
    return ips


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    parser.add_argument("--images", type=int, default=2048, help="training images (default 2048)")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per configuration, the first is warm-up")
    parser.add_argument("--models", default="mha,dlstudio", help="comma list of: " + ", ".join(MODELS))
    parser.add_argument("--batches", default="16,128", help="comma list of batch sizes (default 16,128)")
    parser.add_argument("--jpeg", action="store_true", help="also time the DataLoader-over-JPEG loop at batch 16")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    print(json.dumps({"torch": torch.__version__, "device": str(device), "threads": torch.get_num_threads()}))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        per_class = max(1, args.images // 5)
        dataset = make_demo(root / "data", per_class_train=per_class, per_class_val=20, size=64, seed=0)
        images = per_class * 5
        for model in [m for m in args.models.split(",") if m]:
            for batch in [int(b) for b in args.batches.split(",") if b]:
                if batch > images:
                    continue
                cfg = reference_config(dataset, model, args.device, args.epochs, batch=batch)
                done = images // batch * batch  # both train on full batches only
                start = time.perf_counter()
                base = report("memory", model, batch, time_memory_loop(dataset, cfg, device), done, None)
                engine_seconds, path = time_engine(cfg, root / "runs")
                report("engine", model, batch, engine_seconds, done, base, step_path=path)
                if args.jpeg and batch == 16:
                    report("jpeg", model, batch, time_jpeg_loop(dataset, cfg, device), images, base)
                print(json.dumps({"model": model, "batch": batch, "wall_s": round(time.perf_counter() - start, 1)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
