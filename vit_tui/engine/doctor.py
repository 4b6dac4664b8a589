"""``vit-tui doctor``: what this machine offers for training, and short probes that it works.

``diagnose(device)`` gathers the facts (torch, CUDA and driver versions, each visible GPU with its
capability, memory and MIG mode, NVML, NCCL, the SDPA backends, bf16 support) and runs probes on
the chosen device, each in a worker thread given at most ``PROBE_LIMIT_S``:

- a tiny model trained a few steps eagerly (every device);
- the same steps captured as a CUDA graph with every augmentation, losses against eager (CUDA);
- one bf16 autocast step (every device);
- streamed batches against resident ones, the same indices (every device);
- the NVML line of the device (CUDA);
- a two-process NCCL all-reduce (two or more GPUs).

A probe that does not apply here is ``skip`` with the reason, so a CPU-only machine passes and
says what it could not check. Headless: torch only, no textual or rich (the command draws the table).
"""

from __future__ import annotations

import os
import platform
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

PROBE_LIMIT_S = 20.0
STEPS = 6
PASS, FAIL, SKIP = "pass", "fail", "skip"


@dataclass
class Check:
    """One probe: its name, ``pass``/``fail``/``skip``, why, and how long it took."""

    name: str
    status: str
    detail: str = ""
    seconds: float = 0.0


@dataclass
class Report:
    """The facts of the machine and the probes run on ``device``."""

    device: str
    facts: dict[str, Any] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.status == FAIL]

    @property
    def exit_code(self) -> int:
        """0 when everything that applies passed, 1 when a probe failed."""
        return 1 if self.failed else 0

    def as_dict(self) -> dict[str, Any]:
        return {"device": self.device, "facts": self.facts, "checks": [asdict(c) for c in self.checks],
                "exit_code": self.exit_code}  # fmt: skip


# --- facts --------------------------------------------------------------------------------------


def gather_facts() -> dict[str, Any]:
    """Versions, GPUs, NVML, NCCL, SDPA backends and bf16 support, as plain values."""
    import torch

    cuda = torch.cuda.is_available()
    facts: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda_runtime": torch.version.cuda,
        "cuda_available": cuda,
        "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG", ""),
        "cuda_device_order": os.environ.get("CUDA_DEVICE_ORDER", ""),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }
    facts.update(_nvml_facts())
    facts["gpus"] = _gpus(facts.get("mig", {})) if cuda else []
    facts["nccl"] = _nccl_version() if cuda else None
    facts["sdpa_backends"] = _sdpa_backends() if cuda else ["math"]
    facts["bf16"] = bool(torch.cuda.is_bf16_supported()) if cuda else True
    return facts


def _gpus(mig: dict[int, str]) -> list[dict[str, Any]]:
    import torch

    gpus = []
    for index in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(index)
        gpus.append({
            "index": index,
            "name": props.name,
            "capability": f"{props.major}.{props.minor}",
            "memory_gib": round(props.total_memory / 2**30, 1),
            "mig": mig.get(index, "unknown"),
        })  # fmt: skip
    return gpus


def _nvml_facts() -> dict[str, Any]:
    """The driver version and MIG modes from NVML, or why NVML is not there."""
    try:
        import pynvml
    except ImportError:
        return {"nvml": "not installed (pip install nvidia-ml-py)"}
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        return {"nvml": f"no driver ({exc})"}
    driver = pynvml.nvmlSystemGetDriverVersion()
    mig: dict[int, str] = {}
    for index in range(pynvml.nvmlDeviceGetCount()):
        try:
            current, _ = pynvml.nvmlDeviceGetMigMode(pynvml.nvmlDeviceGetHandleByIndex(index))
            mig[index] = "on" if current else "off"
        except pynvml.NVMLError:
            mig[index] = "not supported"
    return {"nvml": "ok", "driver": driver.decode() if isinstance(driver, bytes) else str(driver), "mig": mig}


def _nccl_version() -> str | None:
    import torch

    try:
        version = torch.cuda.nccl.version()
    except Exception:  # noqa: BLE001 - a build without NCCL
        return None
    return ".".join(map(str, version)) if isinstance(version, tuple) else str(version)


def _sdpa_backends() -> list[str]:
    import torch

    backends = torch.backends.cuda
    offered = [("flash", "is_flash_attention_available"), ("memory-efficient", "mem_efficient_sdp_enabled"),
               ("cudnn", "cudnn_sdp_enabled"), ("math", "math_sdp_enabled")]  # fmt: skip
    return [name for name, probe in offered if getattr(backends, probe, lambda: False)()]


# --- probes -------------------------------------------------------------------------------------


def run_probe(name: str, probe: Callable[[], str], limit_s: float = PROBE_LIMIT_S) -> Check:
    """Run ``probe`` in a worker thread for at most ``limit_s``; it returns its detail or raises.

    A probe raising ``Skipped`` does not apply here. One still running at the limit fails (its
    daemon thread is left to end with the process).
    """
    result: list[Check] = []
    started = time.perf_counter()

    def target() -> None:
        try:
            result.append(Check(name, PASS, probe()))
        except Skipped as exc:
            result.append(Check(name, SKIP, str(exc)))
        except Exception as exc:  # noqa: BLE001 - every failure is reported, not raised
            text = (str(exc).splitlines() or [""])[0][:160]
            result.append(Check(name, FAIL, f"{type(exc).__name__}: {text}"))

    thread = threading.Thread(target=target, name=f"doctor-{name}", daemon=True)
    thread.start()
    thread.join(limit_s)
    check = result[0] if result else Check(name, FAIL, f"took longer than {limit_s:g} s")
    check.seconds = round(time.perf_counter() - started, 2)
    return check


class Skipped(Exception):
    """The probe does not apply on this machine or device; the message says why."""


def _tiny_config(*extra: str):
    from ..config import RunConfig, apply_overrides

    small = ["model.image_size=32", "model.patch_size=8", "model.embed_dim=48", "model.heads=3", "model.blocks=2",
             "train.batch_size=16", "train.lr=1e-3", "train.seed=3", "train.precision=fp32"]  # fmt: skip
    return apply_overrides(RunConfig(), [*small, *extra])


def _tiny_losses(device, *extra: str, steps: int = STEPS) -> tuple[list[float], str]:
    """Per-step losses of a tiny model on random images, and the step's path (eager, cuda-graph)."""
    import torch

    from ..model.build import build_model
    from .train.batches import TrainData
    from .train.graph_step import make_train_step
    from .train.optimizer import make_optimizer, make_scheduler

    cfg = _tiny_config(*extra)
    torch.manual_seed(cfg.train.seed)
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (64, 32, 32, 3), dtype=torch.uint8, generator=gen)
    labels = torch.randint(0, 4, (64,), generator=gen)
    data = TrainData(images.to(device), labels.to(device))
    model = build_model(cfg.model, 4).to(device)
    optimizer = make_optimizer(model, cfg, device)
    scheduler = make_scheduler(optimizer, cfg, steps_per_epoch=steps)
    aug = torch.Generator(device=device).manual_seed(cfg.train.seed + 1)
    step = make_train_step(model, optimizer, scheduler, data, cfg, device, precision=cfg.train.precision, generator=aug)
    losses, previous = [], 0.0
    for k in range(steps):
        step(torch.arange(k * 16, (k + 1) * 16, device=device) % 64)
        total, _, _ = step.totals()
        losses.append(total / 16 - previous)
        previous = total / 16
    return losses, step.describe()


def probe_eager(device) -> str:
    import math

    losses, path = _tiny_losses(device, "train.cuda_graph=off")
    if not all(math.isfinite(v) for v in losses):
        raise RuntimeError(f"non-finite loss {losses}")
    return f"{len(losses)} steps, loss {losses[0]:.3f} -> {losses[-1]:.3f} ({path})"


def probe_captured(device) -> str:
    """Captured steps against eager ones, with every augmentation: the captured path must hold."""
    if device.type != "cuda":
        raise Skipped("CUDA graphs need a CUDA device")
    import torch

    from ..data.augment_names import AUGMENTS

    worst = 0.0
    for augment in AUGMENTS:
        extra = (f"train.augment={augment}", "train.deterministic=true")
        captured, path = _tiny_losses(device, "train.cuda_graph=auto", *extra, steps=8)
        eager, _ = _tiny_losses(device, "train.cuda_graph=off", *extra, steps=8)
        if path != "cuda-graph":
            raise RuntimeError(f"augment={augment}: the step fell back to {path}")
        torch.testing.assert_close(torch.tensor(captured), torch.tensor(eager), rtol=2e-3, atol=2e-3)
        worst = max(worst, max(abs(a - b) for a, b in zip(captured, eager)))
    return f"{len(AUGMENTS)} augmentations, 8 steps each, largest loss gap {worst:.1e}"


def probe_bf16(device) -> str:
    import math

    losses, _ = _tiny_losses(device, "train.precision=bf16", "train.cuda_graph=off", steps=2)
    if not all(math.isfinite(v) for v in losses):
        raise RuntimeError(f"non-finite loss {losses}")
    return f"bf16 autocast step, loss {losses[-1]:.3f}"


def probe_streamed(device) -> str:
    import torch

    from ..data.imaging import fit_images
    from .train.batches import StreamedTrainData, TrainData

    gen = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (48, 36, 36, 3), dtype=torch.uint8, generator=gen)
    labels = torch.randint(0, 4, (48,), generator=gen)
    resident = TrainData(fit_images(images.to(device), 32), labels.to(device))
    streamed = StreamedTrainData(images, labels, device, image_size=32)
    try:
        order = torch.randperm(48, generator=gen)
        batches = [order[i : i + 8] for i in range(0, 48, 8)]
        for k, indices in enumerate(batches):
            got = streamed.batch(indices)
            if k + 1 < len(batches):
                streamed.prefetch(batches[k + 1])
            expected = resident.batch(indices.to(resident.index_device))
            if not all(torch.equal(a, b) for a, b in zip(got, expected)):
                raise RuntimeError(f"batch {k} differs between streamed and resident")
    finally:
        streamed.close()
    return f"{len(batches)} batches equal"


def probe_nvml(device) -> str:
    if device.type != "cuda":
        raise Skipped("NVML reads NVIDIA GPUs")
    from .telemetry.gpu_facts import format_facts, query_facts

    facts = query_facts(f"cuda:{device.index or 0}")
    if facts is None:
        raise RuntimeError("no NVML facts for this device (is nvidia-ml-py installed?)")
    return format_facts(facts)


def probe_nccl(device) -> str:
    import torch

    if device.type != "cuda" or torch.cuda.device_count() < 2:
        raise Skipped("needs two or more visible GPUs")
    import tempfile

    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory() as folder:
        mp.spawn(_all_reduce, args=(2, os.path.join(folder, "rendezvous")), nprocs=2, join=True)
    return "2 processes summed a tensor over NCCL"


def _all_reduce(rank: int, world: int, rendezvous: str) -> None:
    import torch
    import torch.distributed as dist

    torch.cuda.set_device(rank)
    dist.init_process_group("nccl", init_method=f"file://{rendezvous}", rank=rank, world_size=world)
    try:
        value = torch.ones(4, device="cuda") * (rank + 1)
        dist.all_reduce(value)
        if not torch.equal(value.cpu(), torch.full((4,), float(sum(range(1, world + 1))))):
            raise RuntimeError(f"all-reduce gave {value.tolist()}")
    finally:
        dist.destroy_process_group()


PROBES: tuple[tuple[str, Callable[[Any], str]], ...] = (
    ("train steps (eager)", probe_eager),
    ("captured == eager, every augmentation", probe_captured),
    ("bf16 step", probe_bf16),
    ("streamed == resident batches", probe_streamed),
    ("NVML line", probe_nvml),
    ("NCCL all-reduce, 2 processes", probe_nccl),
)


def diagnose(device_name: str = "auto", limit_s: float = PROBE_LIMIT_S) -> Report:
    """The facts of this machine and every probe on ``device_name`` (a ``ConfigError`` for a bad one)."""
    from .device.placement import resolve_device

    device = resolve_device(device_name)
    report = Report(device=str(device), facts=gather_facts())
    for name, probe in PROBES:
        report.checks.append(run_probe(name, lambda probe=probe: probe(device), limit_s))
    return report
