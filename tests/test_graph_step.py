"""Whole-step CUDA graph capture: the CPU fallback here, and captured == eager on a GPU."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from vit_tui.config import RunConfig, apply_overrides
from vit_tui.engine.graph_step import GraphTrainStep, graph_unavailable_reason, make_train_step, optimizer_options
from vit_tui.engine.session import make_optimizer, make_scheduler
from vit_tui.engine.step import TrainData, TrainStep
from vit_tui.model.vit import build_model

SMALL = [
    "model.image_size=32",
    "model.patch_size=8",
    "model.embed_dim=48",
    "model.heads=3",
    "model.blocks=2",
    "train.batch_size=16",
    "train.lr=1e-3",
    "train.seed=3",
]


def _config(*extra: str) -> RunConfig:
    return apply_overrides(RunConfig(), [*SMALL, *extra])


def _data(device: torch.device, count: int = 256, size: int = 32) -> TrainData:
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (count, size, size, 3), dtype=torch.uint8, generator=generator)
    labels = torch.randint(0, 4, (count,), generator=generator)
    return TrainData(images.to(device), labels.to(device))


def _losses(cfg: RunConfig, device: torch.device, steps: int) -> tuple[list[float], TrainStep]:
    """Per-step losses of ``steps`` training steps on fixed batches (read each step: a test only)."""
    torch.manual_seed(cfg.train.seed)
    model = build_model(cfg.model, 4).to(device)
    optimizer = make_optimizer(model, cfg, device)
    scheduler = make_scheduler(optimizer, cfg, steps_per_epoch=steps)
    data = _data(device)
    step = make_train_step(model, optimizer, scheduler, data, cfg, device, precision="fp32")
    order = torch.Generator().manual_seed(1)
    losses, previous = [], 0.0
    for _ in range(steps):
        indices = torch.randperm(len(data), generator=order)[: cfg.train.batch_size].to(device)
        step(indices)
        total, _, _ = step.totals()
        losses.append(total / cfg.train.batch_size - previous)
        previous = total / cfg.train.batch_size
    return losses, step


def test_cpu_falls_back_to_eager_and_says_why() -> None:
    cfg = _config()
    cpu = torch.device("cpu")
    assert "CUDA device" in graph_unavailable_reason(cfg, cpu)
    losses, step = _losses(cfg, cpu, steps=5)
    assert type(step) is TrainStep
    assert step.describe().startswith("eager (CUDA graphs need a CUDA device")
    assert all(torch.isfinite(torch.tensor(losses)))


def test_fallback_reasons_name_the_setting() -> None:
    cuda = torch.device("cuda")
    assert graph_unavailable_reason(_config("train.cuda_graph=off"), cuda) == "train.cuda_graph=off"
    assert "compile" in graph_unavailable_reason(_config("train.compile=true"), cuda)
    assert "sgd" in graph_unavailable_reason(_config("train.optimizer=sgd"), cuda)
    assert graph_unavailable_reason(_config(), cuda) is None


def test_cpu_uses_fused_adam_with_a_plain_learning_rate() -> None:
    options = optimizer_options(_config(), torch.device("cpu"))
    assert options == {"fused": True}
    assert optimizer_options(_config("train.optimizer=sgd"), torch.device("cpu")) == {}


def test_cuda_graph_off_gives_a_plain_eager_step() -> None:
    cfg = _config("train.cuda_graph=off")
    _, step = _losses(cfg, torch.device("cpu"), steps=1)
    assert step.describe() == "eager"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("extra", [[], ["train.schedule=cosine", "train.warmup_epochs=0.2", "train.grad_clip=1.0"]])
def test_captured_and_eager_training_agree_over_50_steps(extra: list[str]) -> None:
    cuda = torch.device("cuda")
    cfg = _config("train.precision=fp32", "train.deterministic=false", *extra)
    captured, graph_step = _losses(cfg, cuda, steps=50)
    eager, eager_step = _losses(replace(cfg, train=replace(cfg.train, cuda_graph="off")), cuda, steps=50)
    assert isinstance(graph_step, GraphTrainStep) and graph_step.describe() == "cuda-graph"
    assert graph_step.graph is not None
    assert eager_step.describe() == "eager"
    torch.testing.assert_close(torch.tensor(captured), torch.tensor(eager), rtol=2e-3, atol=2e-3)
