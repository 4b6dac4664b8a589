"""Whole-step CUDA graph capture: forward, backward and optimizer step replayed as one graph.

At batch 16 a ViT step is a few hundred tiny kernels, so launch overhead, not arithmetic,
sets the pace. ``GraphTrainStep`` warms up for a few real steps on a side stream, captures
one step, then replays it. What capture needs, and why:

- the batch is gathered from the resident dataset by device-side indexing into a static index
  buffer, so each replay reads the indices copied in just before it;
- Adam/AdamW are fused with ``capturable=True`` (their step counters live on the device; torch
  refuses to capture a non-capturable step) and a tensor learning rate the scheduler fills in
  place, so the schedule still applies to a replayed graph;
- the seeded augmentation generator is registered with the graph, so replays draw the same
  random numbers an eager run would, and a fallback to eager keeps using it.

``make_train_step`` picks the path and says why when it falls back to eager. The trainer only
hands out full batches, so every step has the captured shape.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from ..config import RunConfig
from .batches import StreamedTrainData, TrainData
from .step import TrainStep

WARMUP_STEPS = 3


def graph_unavailable_reason(cfg: RunConfig, device: torch.device, streamed: bool = False) -> str | None:
    """Why a whole-step graph cannot be used for this run, or None when it can."""
    if cfg.train.cuda_graph == "off":
        return "train.cuda_graph=off"
    if device.type != "cuda":
        return f"CUDA graphs need a CUDA device, running on {device.type}"
    if streamed:
        return "the train split is streamed from host memory, which a graph cannot read"
    if cfg.train.compile:
        return "train.compile=true runs the compiled model instead"
    if cfg.train.optimizer not in ("adam", "adamw"):
        return f"optimizer {cfg.train.optimizer} has no capturable fused form here"
    if cfg.train.augment != "none" and not hasattr(torch.cuda.CUDAGraph, "register_generator_state"):
        return f"torch {torch.__version__} cannot capture a seeded augmentation generator"
    return None


def optimizer_options(cfg: RunConfig, device: torch.device, streamed: bool = False) -> dict:
    """Extra optimizer arguments: fused kernels where they exist; capturable with a device lr for capture."""
    if cfg.train.optimizer not in ("adam", "adamw") or device.type not in ("cpu", "cuda"):
        return {}
    options: dict = {"fused": True}
    if graph_unavailable_reason(cfg, device, streamed) is None:
        # A tensor lr is read by the captured kernels, and the scheduler fills it in place.
        options["capturable"] = True
        options["lr"] = torch.tensor(cfg.train.lr, dtype=torch.float32, device=device)
    return options


class GraphTrainStep(TrainStep):
    """``TrainStep`` whose steps replay one captured CUDA graph after a short eager warm-up."""

    def __init__(self, *args, batch_size: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.batch_size = batch_size
        self.static_indices = torch.zeros(batch_size, dtype=torch.long, device=self.device)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.warmed = 0
        self.path = "cuda-graph"

    def __call__(self, batch_indices: torch.Tensor) -> None:
        if self.path != "cuda-graph":
            super().__call__(batch_indices)
            return
        self.static_indices.copy_(batch_indices, non_blocking=True)
        if self.graph is None:
            if self.warmed < WARMUP_STEPS:
                self._warm_up()
                return
            try:
                self._capture()
            except RuntimeError as exc:
                # Nothing ran during the failed capture: this batch trains eagerly instead.
                self._fall_back(exc)
                super().__call__(batch_indices)
                return
        self.graph.replay()
        self.seen += self.batch_size
        self.scheduler.step()

    def _warm_up(self) -> None:
        with self._side_stream():
            self._update(self.static_indices)
        self.warmed += 1
        self.seen += self.batch_size
        self.scheduler.step()

    @contextlib.contextmanager
    def _side_stream(self) -> Iterator[None]:
        """Warm-up work on a side stream, as capture requires on CUDA; plain elsewhere."""
        if self.device.type != "cuda":
            yield
            return
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            yield
        torch.cuda.current_stream(self.device).wait_stream(side)

    def _capture(self) -> None:
        torch.cuda.synchronize(self.device)
        graph = torch.cuda.CUDAGraph()
        if self.generator is not None and self.generator.device.type == "cuda":
            graph.register_generator_state(self.generator)
        self.optimizer.zero_grad(set_to_none=True)
        with torch.cuda.graph(graph):
            self._update(self.static_indices)
        self.graph = graph

    def _fall_back(self, exc: BaseException) -> None:
        self.path = "eager"
        self.fallback_reason = f"CUDA graph capture failed: {str(exc).splitlines()[0][:120]}"
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.optimizer.zero_grad(set_to_none=True)

    def _autocast(self):
        # Autocast's weight-cast cache would outlive the capture and break replays.
        return torch.autocast(
            self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16", cache_enabled=False
        )


def make_train_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    data: TrainData | StreamedTrainData,
    cfg: RunConfig,
    device: torch.device,
    **kwargs,
) -> TrainStep:
    """A captured-graph step when the run allows one, else the eager (or compiled) step.

    The returned step's ``describe()`` says which, with the reason for an eager fallback.
    """
    reason = graph_unavailable_reason(cfg, device, data.streamed)
    if reason is None:
        return GraphTrainStep(model, optimizer, scheduler, data, cfg, device, batch_size=cfg.train.batch_size, **kwargs)
    step = TrainStep(model, optimizer, scheduler, data, cfg, device, **kwargs)
    if cfg.train.cuda_graph == "auto" and step.path == "eager":
        step.fallback_reason = reason
    return step
