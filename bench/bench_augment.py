"""Images per second of each batch augmentation on one device, against ``flip-crop`` in the same process.

Each case augments the same uint8 batch (default 256 images of 64x64, random pixels) with a seeded
generator: the flip/crop kinds, the two policies, and the float-input ops (random erasing, mixup,
CutMix, both) timed with the normalisation they follow. After ``--warmup`` calls, ``--repeats``
timed calls; the median is reported (CUDA is synchronised around each call). One JSON line per
case with images/s and the ratio to ``flip-crop``.

    python bench/bench_augment.py                       # CPU, 256 x 64x64
    python bench/bench_augment.py --device cuda --batch 1024
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import torch

from vit_tui.data.augment import augment_batch, to_model_input
from vit_tui.data.augment_mix import Mixing, random_erase
from vit_tui.data.augment_policy import apply_policy


def cases(generator: torch.Generator) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """Name -> one call on a uint8 batch."""
    return {
        "flip-crop": lambda x: augment_batch(x, "flip-crop", generator),
        "flip-resized-crop": lambda x: augment_batch(x, "flip-resized-crop", generator),
        "to_model_input": lambda x: to_model_input(x),
        "trivialaugment": lambda x: apply_policy(x, "trivialaugment", 9, generator),
        "randaugment": lambda x: apply_policy(x, "randaugment", 9, generator),
        "random_erasing=0.25 (+input)": lambda x: random_erase(to_model_input(x), 0.25, generator),
        "mixup=0.8 (+input)": lambda x: Mixing(mixup=0.8)(to_model_input(x), generator)[0],
        "cutmix=1.0 (+input)": lambda x: Mixing(cutmix=1.0)(to_model_input(x), generator)[0],
        "mixup+cutmix (+input)": lambda x: Mixing(mixup=0.8, cutmix=1.0)(to_model_input(x), generator)[0],
    }


def time_case(call: Callable[[torch.Tensor], torch.Tensor], batch: torch.Tensor, warmup: int, repeats: int) -> float:
    """Median seconds of one call."""
    sync = torch.cuda.synchronize if batch.is_cuda else (lambda: None)
    for _ in range(warmup):
        call(batch)
    sync()
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        call(batch)
        sync()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 keeps torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    data = torch.Generator().manual_seed(0)
    batch = torch.randint(0, 256, (args.batch, args.size, args.size, 3), generator=data, dtype=torch.uint8).to(device)
    generator = torch.Generator(device=device).manual_seed(1)
    base = None
    for name, call in cases(generator).items():
        seconds = time_case(call, batch, args.warmup, args.repeats)
        ips = args.batch / seconds
        base = base or ips
        line = {"op": name, "device": args.device, "batch": args.batch, "size": args.size,
                "threads": torch.get_num_threads(), "median_ms": round(seconds * 1e3, 2),
                "images_per_s": round(ips), "vs_flip_crop": round(ips / base, 3)}  # fmt: skip
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()
