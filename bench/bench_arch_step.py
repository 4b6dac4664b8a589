"""Images/s of one training step (forward, backward, optimizer step) per network, on random images.

Compares ``fast``'s ViT with the CNN baseline (``model.arch=resnet18``) at several widths, at the
same batch size and each one's own preset optimizer; the median of ``--steps`` timed steps after
three warm-up steps. Data loading and augmentation are left out: only the model's cost differs.

    python bench/bench_arch_step.py --batch 64 --widths 8,16,32 --steps 10
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import replace

import torch

from vit_tui.engine.train.optimizer import make_optimizer
from vit_tui.model.build import build_model
from vit_tui.presets import preset


def images_per_second(cfg, batch: int, steps: int) -> float:
    """Median images/s of ``steps`` training steps of the network ``cfg`` describes (CPU, fp32)."""
    torch.manual_seed(0)
    model = build_model(cfg.model, 5).train()
    optimizer = make_optimizer(model, cfg, torch.device("cpu"))
    images = torch.randn(batch, 3, cfg.model.image_size, cfg.model.image_size)
    labels = torch.randint(0, 5, (batch,))
    times = []
    for step in range(steps + 3):
        start = time.perf_counter()
        loss = torch.nn.functional.cross_entropy(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step >= 3:
            times.append(time.perf_counter() - start)
    return batch / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--widths", default="8,16,32")
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    fast = preset("fast")
    rows = [("fast", fast)]
    rows += [(f"resnet18 width {w}", replace(fast, model=replace(preset("cnn").model, width=int(w)), train=preset("cnn").train))
             for w in args.widths.split(",")]  # fmt: skip
    base = None
    for name, cfg in rows:
        ips = images_per_second(cfg, args.batch, args.steps)
        base = base or ips
        print(json.dumps({"model": name, "batch": args.batch, "threads": torch.get_num_threads(),
                          "images_per_s": round(ips, 1), "vs_fast": round(ips / base, 3)}))  # fmt: skip


if __name__ == "__main__":
    main()
