"""Whole-step CUDA graph capture: the CPU fallback here, and captured == eager on a GPU."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from data_fixtures import restore_determinism  # noqa: F401 - an autouse fixture

from vit_tui.config import RunConfig, apply_overrides
from vit_tui.engine.device.determinism import seed_everything
from vit_tui.engine.runs.folder import RunFolder
from vit_tui.engine.train.graph_step import GraphTrainStep, graph_unavailable_reason, make_train_step, optimizer_options
from vit_tui.engine.train.optimizer import make_optimizer, make_scheduler
from vit_tui.engine.train.step import TrainData, TrainStep
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
    "train.cuda_graph=auto",
]
AUGMENTS = ["none", "flip", "flip-crop", "flip-resized-crop"]


def _config(*extra: str) -> RunConfig:
    return apply_overrides(RunConfig(), [*SMALL, *extra])


def _data(device: torch.device, count: int = 256, size: int = 32) -> TrainData:
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (count, size, size, 3), dtype=torch.uint8, generator=generator)
    labels = torch.randint(0, 4, (count,), generator=generator)
    return TrainData(images.to(device), labels.to(device))


def _build(cfg: RunConfig, device: torch.device, steps: int, step_class: type[TrainStep] | None = None) -> TrainStep:
    """A seeded model, optimizer and step as a run builds them (augmentation generator included)."""
    seed_everything(cfg.train.seed, cfg.train.deterministic)
    model = build_model(cfg.model, 4).to(device)
    optimizer = make_optimizer(model, cfg, device)
    scheduler = make_scheduler(optimizer, cfg, steps_per_epoch=steps)
    generator = torch.Generator(device=device).manual_seed(cfg.train.seed + 1)
    args = (model, optimizer, scheduler, _data(device), cfg, device)
    if step_class is None:
        return make_train_step(*args, precision="fp32", generator=generator)
    extra = {"batch_size": cfg.train.batch_size} if step_class is GraphTrainStep else {}
    return step_class(*args, precision="fp32", generator=generator, **extra)


def _losses(step: TrainStep, steps: int, batch_size: int) -> list[float]:
    """Per-step losses on fixed batches (read back every step: a test only)."""
    order = torch.Generator().manual_seed(1)
    losses, previous = [], 0.0
    for _ in range(steps):
        indices = torch.randperm(len(step.data), generator=order)[:batch_size].to(step.device)
        step(indices)
        total, _, _ = step.totals()
        losses.append(total / batch_size - previous)
        previous = total / batch_size
    return losses


def test_cpu_falls_back_to_eager_and_says_why() -> None:
    cfg = _config()
    cpu = torch.device("cpu")
    assert "CUDA device" in graph_unavailable_reason(cfg, cpu)
    step = _build(cfg, cpu, steps=5)
    losses = _losses(step, 5, cfg.train.batch_size)
    assert type(step) is TrainStep
    assert step.describe().startswith("eager (CUDA graphs need a CUDA device")
    assert all(torch.isfinite(torch.tensor(losses)))


def test_fallback_reasons_name_the_setting() -> None:
    cuda = torch.device("cuda")
    assert graph_unavailable_reason(_config("train.cuda_graph=off"), cuda) == "train.cuda_graph=off"
    assert "compile" in graph_unavailable_reason(_config("train.compile=true"), cuda)
    assert "sgd" in graph_unavailable_reason(_config("train.optimizer=sgd"), cuda)
    assert graph_unavailable_reason(_config(), cuda) is None
    assert graph_unavailable_reason(_config("train.augment=flip-crop"), cuda) is None


def test_cpu_uses_fused_adam_with_a_plain_learning_rate() -> None:
    options = optimizer_options(_config(), torch.device("cpu"))
    assert options == {"fused": True}
    assert optimizer_options(_config("train.optimizer=sgd"), torch.device("cpu")) == {}


def test_cuda_graph_off_gives_a_plain_eager_step() -> None:
    cfg = _config("train.cuda_graph=off")
    step = _build(cfg, torch.device("cpu"), steps=1)
    _losses(step, 1, cfg.train.batch_size)
    assert step.describe() == "eager"


def _refused_capture(self: GraphTrainStep) -> None:
    raise RuntimeError("capture refused by the driver\nsecond line")


def _capture_failing_after_drawing_random_numbers(self: GraphTrainStep) -> None:
    # A real aborted capture advances the registered generator and may add into the sums.
    torch.rand(64, generator=self.generator)
    self.loss_sum.add_(1000.0)
    raise RuntimeError("operation not permitted when stream is capturing")


@pytest.mark.parametrize(
    "capture, reason",
    [
        (_refused_capture, "capture refused by the driver)"),
        (_capture_failing_after_drawing_random_numbers, "operation not permitted when stream is capturing)"),
    ],
    ids=["refused", "failed-after-drawing-random-numbers"],
)
def test_a_failed_capture_trains_on_as_if_it_never_ran(monkeypatch: pytest.MonkeyPatch, capture, reason: str) -> None:
    """Warm-up, a failed capture, then eager steps: the same losses as a plain eager run, same seeds."""
    monkeypatch.setattr(GraphTrainStep, "_capture", capture)
    cfg = _config("train.augment=flip-crop", "train.deterministic=true", "train.schedule=cosine")
    cpu = torch.device("cpu")
    graph_step = _build(cfg, cpu, steps=8, step_class=GraphTrainStep)
    falling_back = _losses(graph_step, 8, cfg.train.batch_size)
    plain = _losses(_build(cfg, cpu, steps=8, step_class=TrainStep), 8, cfg.train.batch_size)
    assert graph_step.describe() == f"eager (CUDA graph capture failed: {reason}"
    assert graph_step.graph is None and graph_step.generator is not None
    assert falling_back == plain


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("augment", AUGMENTS)
@pytest.mark.parametrize(
    "extra", [[], ["train.schedule=cosine", "train.warmup_epochs=0.2", "train.grad_clip=1.0"]], ids=["plain", "cosine"]
)
def test_captured_and_eager_training_agree_over_50_steps(augment: str, extra: list[str]) -> None:
    cuda = torch.device("cuda")
    cfg = _config("train.precision=fp32", "train.deterministic=true", f"train.augment={augment}", *extra)
    graph_step = _build(cfg, cuda, steps=50)
    captured = _losses(graph_step, 50, cfg.train.batch_size)
    eager_step = _build(replace(cfg, train=replace(cfg.train, cuda_graph="off")), cuda, steps=50)
    eager = _losses(eager_step, 50, cfg.train.batch_size)
    assert isinstance(graph_step, GraphTrainStep) and graph_step.describe() == "cuda-graph"
    assert graph_step.graph is not None
    assert all(group["capturable"] for group in graph_step.optimizer.param_groups)
    assert eager_step.describe() == "eager"
    torch.testing.assert_close(torch.tensor(captured), torch.tensor(eager), rtol=2e-3, atol=2e-3)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_whole_run_stays_on_the_captured_path(tmp_path: Path) -> None:
    from vit_tui.data.demo import make_demo
    from vit_tui.engine.telemetry.events import PhaseChanged, RunStarted
    from vit_tui.engine.train.trainer import train

    dataset = make_demo(tmp_path / "demo", per_class_train=40, per_class_val=10, size=32)
    cfg = _config("train.epochs=3", "train.augment=flip-crop", "train.device=cuda", f"data.dataset={dataset}")
    events: list[object] = []
    result = train(cfg, events.append, runs_root=tmp_path / "runs")
    assert result.status == "finished"
    paths = [e.detail for e in events if isinstance(e, PhaseChanged) and e.phase == "training"]
    started = [e.step_path for e in events if isinstance(e, RunStarted)]
    assert started == ["cuda-graph"] and paths and set(paths) == {"cuda-graph"}
    assert RunFolder(Path(result.run_dir)).read_summary()["step_path"] == "cuda-graph"
