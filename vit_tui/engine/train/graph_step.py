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

Warm-up, capture and replays run with the run's own device current (``cuda:1`` for a sweep child
pinned there: a capture on another device's stream records nothing that trains), on a capture
stream of that device, in ``thread_local`` error mode so work in other threads of the process (the
app's Evaluate screen) neither breaks the capture nor is broken by it. A capture that fails puts
back the augmentation generator and the running sums as they were before it, so the eager
fallback trains exactly as an eager run would.

``make_train_step`` picks the path and says why when it falls back to eager. The trainer only
hands out full batches, so every step has the captured shape.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from ...config import RunConfig
from .batches import StreamedTrainData, TrainData
from .step import TrainStep

WARMUP_STEPS = 3
CAPTURE_ERROR_MODE = "thread_local"
"""Only this thread's unsafe CUDA calls may break a capture; the default ("global") lets any thread's."""


def capture_device_index(device: torch.device, current: int) -> int:
    """The CUDA device a capture must make current: the run's own, or the current one for a bare ``cuda``."""
    return device.index if device.index is not None else current


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
    random = random_options(cfg)
    if random and not hasattr(torch.cuda.CUDAGraph, "register_generator_state"):
        return f"torch {torch.__version__} cannot capture a seeded augmentation generator ({', '.join(random)})"
    return None


def random_options(cfg: RunConfig) -> list[str]:
    """The options that draw from the augmentation generator inside the step (drop path in the forward), as ``key=value``.

    Each of them is written to be captured (static shapes, masks instead of slices, no host
    reads, tables made on the device before capture), so all a graph needs is the generator.
    """
    t = cfg.train
    options = [f"train.augment={t.augment}"] if t.augment != "none" else []
    options += [f"train.policy={t.policy}"] if t.policy != "none" else []
    options += [f"train.{key}={getattr(t, key)}" for key in ("random_erasing", "mixup", "cutmix") if getattr(t, key) > 0]
    options += [f"model.drop_path={cfg.model.drop_path}"] if cfg.model.drop_path > 0 else []
    return options


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
        with self._run_device():
            self.static_indices.copy_(batch_indices, non_blocking=True)
            if self.graph is None:
                if self.warmed < WARMUP_STEPS:
                    self._warm_up()
                    return
                before = self._snapshot()
                try:
                    self._capture()
                except RuntimeError as exc:
                    self._fall_back(exc, before)
                    super().__call__(batch_indices)
                    return
            self.graph.replay()
        self.seen += self.batch_size
        self.scheduler.step()

    @contextlib.contextmanager
    def _run_device(self) -> Iterator[None]:
        """The run's CUDA device current in this thread (a per-thread setting), nothing elsewhere."""
        if self.device.type != "cuda":
            yield
            return
        with torch.cuda.device(capture_device_index(self.device, torch.cuda.current_device())):
            yield

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

    def _snapshot(self) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]:
        """What a capture may change although nothing runs: the generator's offset and the running sums."""
        state = self.generator.get_state() if self.generator is not None else None
        return state, self.loss_sum.clone(), self.correct.clone()

    def _capture(self) -> None:
        torch.cuda.synchronize(self.device)
        graph = torch.cuda.CUDAGraph()
        if self.generator is not None and self.generator.device.type == "cuda":
            graph.register_generator_state(self.generator)
        self.optimizer.zero_grad(set_to_none=True)
        # A stream of the run's device: torch's default capture stream is made once, on whichever device was current.
        stream = torch.cuda.Stream(self.device)
        with torch.cuda.graph(graph, stream=stream, capture_error_mode=CAPTURE_ERROR_MODE):
            self._update(self.static_indices)
        self.graph = graph

    def _fall_back(self, exc: BaseException, before: tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]) -> None:
        """Train eagerly from here, from the state the step had before the failed capture."""
        self.path = "eager"
        self.graph = None
        self.fallback_reason = f"CUDA graph capture failed: {_first_line(exc)}"
        if self.device.type == "cuda":
            try:
                torch.cuda.synchronize(self.device)
            except RuntimeError as sticky:  # the aborted capture left the context unusable: no eager step can run
                raise RuntimeError(
                    f"CUDA graph capture failed ({_first_line(exc)}) and left {self.device} unusable "
                    f"({_first_line(sticky)}); resume with --set train.cuda_graph=off"
                ) from None
        state, loss_sum, correct = before
        if state is not None:
            self.generator.set_state(state)
        self.loss_sum.copy_(loss_sum)
        self.correct.copy_(correct)
        self.optimizer.zero_grad(set_to_none=True)

    def _autocast(self):
        # Autocast's weight-cast cache would outlive the capture and break replays.
        return torch.autocast(
            self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16", cache_enabled=False
        )


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:120]


def make_train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    scheduler: torch.optim.lr_scheduler.LRScheduler, data: TrainData | StreamedTrainData,
                    cfg: RunConfig, device: torch.device, **kwargs) -> TrainStep:  # fmt: skip
    """A captured-graph step when the run allows one, else the eager (or compiled) step; ``TrainStep``'s arguments.

    The returned step's ``describe()`` says which, with the reason for an eager fallback.
    """
    reason = graph_unavailable_reason(cfg, device, data.streamed)
    if reason is None:
        return GraphTrainStep(model, optimizer, scheduler, data, cfg, device, batch_size=cfg.train.batch_size, **kwargs)
    step = TrainStep(model, optimizer, scheduler, data, cfg, device, **kwargs)
    if cfg.train.cuda_graph == "auto" and step.path == "eager":
        step.fallback_reason = reason
    return step
