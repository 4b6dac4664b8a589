"""Everything a run trains with, set up and checked before its run folder exists.

``build_session`` resolves the device and precision, seeds every generator, loads both splits
onto the device (the training split is streamed from its mapped cache instead when it is larger
than ``train.data_memory_budget``: see ``batches``), builds the model, optimizer, schedule and
the training step, and, when resuming, loads the saved state (a checkpoint of another shape
fails here as a ``UserError``). ``SessionState`` is the part of a run that changes as it trains
and goes into ``resume.pt``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from ... import config as config_mod
from ...config import ConfigError, RunConfig
from ...data.imaging import fit_images
from ...errors import UserError
from ...model.size_estimate import describe_layout
from ..device.determinism import seed_everything
from ..device.placement import resolve_device
from ..device.precision import choose_precision, cuda_capability
from ..infer.evaluate import Inference, run_inference
from ..infer.metrics import Evaluation, summarize_predictions
from ..parallel.distributed import Group, Ranks, shard
from ..runs.checkpoint import (
    FORMAT_VERSION,
    RESUME_FORMAT,
    WEIGHTS_FORMAT,
    atomic_save,
    load_checkpoint,
    load_model_state,
    model_state,
    restore_rng,
)
from ..telemetry.events import PhaseChanged, Sink
from .batches import Holding, StreamedTrainData, choose_holding, make_train_data, resident_bytes
from .graph_step import make_train_step, random_options
from .optimizer import make_optimizer, make_scheduler, optimizer_settings_after_resume
from .step import TrainData, TrainStep, compile_forward


@dataclass
class SessionState:
    """Where a run is: the epoch in progress (1-based), steps done in it, history and best."""

    epoch: int = 1
    step: int = 0
    global_step: int = 0
    perm: torch.Tensor | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = 0
    best_val_acc: float = 0.0
    epoch_seconds: float = 0.0
    wall_before: float = 0.0


@dataclass
class Session:
    """The device-resident data, the model and its optimizer, and the step that trains it."""

    cfg: RunConfig
    device: torch.device
    precision: str
    classes: list[str]
    train: TrainData | StreamedTrainData
    val_images: torch.Tensor
    val_labels: torch.Tensor
    val_files: list[str]
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    step: TrainStep
    perm_gen: torch.Generator
    aug_gen: torch.Generator
    params: int
    state: SessionState
    group: Group
    holding: Holding | None = None
    """Whether the training split is resident or streamed, and why."""

    @property
    def rank_batch_size(self) -> int:
        """The images this process trains on per step: its share of the global batch."""
        return self.batch_size // self.group.world_size

    @property
    def batch_size(self) -> int:
        return self.cfg.train.batch_size

    @property
    def steps_per_epoch(self) -> int:
        # Full batches only: static shapes, and every image still comes up across epochs.
        return len(self.train) // self.batch_size

    @property
    def step_path(self) -> str:
        return self.step.describe()

    @property
    def generators(self) -> dict[str, torch.Generator]:
        return {"perm": self.perm_gen, "augment": self.aug_gen}

    def validate(self) -> Inference:
        """Loss and accuracy of the current model on the validation split (each rank scores its part)."""
        g = self.group
        part = run_inference(
            self.model,
            shard(self.val_images, g.rank, g.world_size),
            shard(self.val_labels, g.rank, g.world_size),
            batch_size=self.cfg.train.eval_batch_size,
            precision=self.precision,
        )
        if not g.distributed:
            return part
        loss_sum, correct, count = g.sum([part.loss * part.count, part.correct, part.count])
        return Inference(loss=loss_sum / max(1, count), correct=round(correct), count=round(count), probs=None)

    def final_evaluation(self, weights: Path, stop: Callable[[], bool] | None = None) -> tuple[Evaluation, int]:
        """Evaluate a saved checkpoint (best or last) on the validation split; also its epoch.

        Call it once training is over: the model keeps the checkpoint's weights afterwards.
        ``stop`` is asked between batches (``EvaluationStopped`` when it says yes).
        """
        data = load_checkpoint(weights, WEIGHTS_FORMAT)
        # Training is over (last.pt is written), so the model may take the kept weights for good.
        self.model.load_state_dict(data["model"])
        result = run_inference(
            self.model,
            self.val_images,
            self.val_labels,
            batch_size=self.cfg.train.eval_batch_size,
            precision=self.precision,
            keep_probs=True,
            stop=stop,
        )
        labels = self.val_labels.cpu().numpy()
        evaluation = summarize_predictions(labels, result.probs.numpy(), result.loss, self.classes, self.val_files)
        return evaluation, int(data["epoch"])


def build_session(cfg: RunConfig, sink: Sink, resume: dict[str, Any] | None, group: Group | None = None) -> Session:
    """Set up a run (see the module docstring); raises ``UserError`` for bad input.

    Under torchrun ``group`` gives the rank's device; the model is prepared and wrapped for
    data-parallel training there, and ``session.model`` stays the plain model (saved, evaluated).
    """
    from ...model.build import count_parameters
    from ...model.pretrained import init_shape, initial_model, timm_name
    from ...model.vit import set_drop_path_generator

    if timm_name(cfg.model.init):  # timm's shape for its weights, checked again
        cfg = config_mod.validate(replace(cfg, model=init_shape(cfg.model)))
    t = cfg.train
    group = group or Group(Ranks(), resolve_device(t.device))
    device = group.device
    precision, precision_note = choose_precision(t.precision, device.type, cuda_capability(device))
    seed_everything(t.seed, t.deterministic)
    if precision_note:
        sink(PhaseChanged("note", precision_note))
    classes, train, holding, val_split = _load_data(cfg, sink, device)
    val_images = fit_images(val_split.images, cfg.model.image_size)

    sink(PhaseChanged("building model", describe_layout(cfg.model)))
    # A resumed run loads its own weights below, not model.init's.
    model, loaded = initial_model(cfg.model, len(classes), load=resume is None)
    if loaded:
        sink(PhaseChanged("note", f"model.init: {loaded}"))
    model = group.prepare(model.to(device))
    step_cfg, graph_off = _step_config(cfg, group)
    optimizer = make_optimizer(model, step_cfg, device, streamed=train.streamed)
    scheduler = make_scheduler(optimizer, cfg, len(train) // t.batch_size)
    # One permutation for all ranks (same seed); each rank augments its own images with its own stream.
    perm_gen = torch.Generator().manual_seed(t.seed)
    aug_gen = torch.Generator(device=device).manual_seed(t.seed + 1 + group.rank)
    # Stochastic depth draws from the augmentation stream: saved in resume.pt, replayed by a captured graph.
    set_drop_path_generator(model, aug_gen)
    train_model = group.wrap(model)
    forward, compile_problem = compile_forward(train_model, cfg)
    step = make_train_step(
        train_model, optimizer, scheduler, train, step_cfg, device, precision=precision, generator=aug_gen, forward=forward
    )
    step.fallback_reason = step.fallback_reason or compile_problem or graph_off
    if graph_off:
        sink(PhaseChanged("warning", graph_off))
    session = Session(cfg=cfg, device=device, precision=precision, classes=classes, train=train,
                      val_images=val_images, val_labels=val_split.labels, val_files=list(val_split.files),
                      model=model, optimizer=optimizer, scheduler=scheduler, step=step, perm_gen=perm_gen,
                      aug_gen=aug_gen, params=count_parameters(model), state=SessionState(), holding=holding,
                      group=group)  # fmt: skip
    if resume is not None:
        session.state = _load_resume(session, resume, sink)
    if step.path == "compiled":
        sink(PhaseChanged("warm-up", "compiling the model; the first steps take longer"))
    return session


def _load_data(
    cfg: RunConfig, sink: Sink, device: torch.device
) -> tuple[list[str], TrainData | StreamedTrainData, Holding, Any]:
    """The classes, the training data as the device holds it, how it holds it, and the validation split."""
    from ...data.store import load_split

    dataset = Path(cfg.data.dataset)
    sink(PhaseChanged("loading data", str(dataset)))
    train_split = load_split(dataset, "train", mmap=True)
    val_split = load_split(dataset, "val", device)
    _check_splits(cfg, dataset, train_split, val_split)
    classes = list(train_split.classes)
    _warn_empty_classes(sink, classes, train_split, val_split)
    _warn_skipped(sink, train_split, val_split)
    size = cfg.model.image_size
    # The device holds the split resized to the model's input, not at the size it is stored.
    holding = choose_holding(resident_bytes(len(train_split), size), cfg.train.data_memory_budget, device)
    sink(PhaseChanged("note", holding.describe()))
    return classes, make_train_data(train_split.images, train_split.labels, holding, device, size), holding, val_split


def _step_config(cfg: RunConfig, group: Group) -> tuple[RunConfig, str]:
    """The config the step is built from, and why CUDA graphs were turned off for it (or "")."""
    if not group.distributed or cfg.train.cuda_graph == "off":
        return cfg, ""
    why = (
        f"train.cuda_graph={cfg.train.cuda_graph} is off with {group.world_size} processes: a captured step "
        "cannot hold DistributedDataParallel's gradient all-reduce, so steps run eagerly"
    )
    return replace(cfg, train=replace(cfg.train, cuda_graph="off")), why


def _warn_empty_classes(sink: Sink, classes: list[str], train_split, val_split) -> None:
    """Say which classes lack train or val images (a dataset built with --allow-empty-classes)."""
    from ...data.checks import class_gaps, gaps_warning

    counts = {
        name: torch.bincount(split.labels.cpu(), minlength=len(classes)).tolist()
        for name, split in (("train", train_split), ("val", val_split))
    }
    gaps = class_gaps(classes, counts)
    if gaps:
        sink(PhaseChanged("warning", gaps_warning(gaps)))


def _warn_skipped(sink: Sink, train_split, val_split) -> None:
    """Say which files loading left out, so images never go missing from a run unannounced."""
    from ...data.checks import skipped_warning

    for name, split in (("train", train_split), ("val", val_split)):
        if split.skipped:
            sink(PhaseChanged("warning", skipped_warning(name, split.skipped)))


def _check_splits(cfg: RunConfig, dataset: Path, train_split, val_split) -> None:
    if list(train_split.classes) != list(val_split.classes):
        raise UserError(str(dataset), "train and val splits list different classes; rebuild the dataset")
    if len(val_split) == 0:
        raise UserError(str(dataset), "the val split has no images; rebuild the dataset with a validation part")
    if len(train_split) < cfg.train.batch_size:
        raise ConfigError(
            "train.batch_size",
            f"{cfg.train.batch_size} is more than the {len(train_split)} training images; use a smaller batch",
        )


def _apply_optimizer_settings(session: Session, lr_tensor: bool) -> None:
    """Make a loaded optimizer use the config's lr, betas and decay (a resume may lower the lr).

    The lr is recomputed the way the schedule computes it, so unchanged settings give the very
    same values and the resumed run replays the uninterrupted one exactly. A step that reads
    the lr from a device tensor (a captured graph) gets a fresh device tensor.
    """
    t = session.cfg.train
    scheduler = session.scheduler
    scheduler.base_lrs = [t.lr for _ in session.optimizer.param_groups]
    factors = [fn(scheduler.last_epoch) for fn in scheduler.lr_lambdas]
    for group, factor in zip(session.optimizer.param_groups, factors):
        group["initial_lr"] = t.lr
        value = t.lr * factor
        group["lr"] = torch.tensor(value, dtype=torch.float32, device=session.device) if lr_tensor else value
        if group.get("decay"):
            group["weight_decay"] = t.weight_decay
        if "betas" in group:
            group["betas"] = tuple(t.betas)
    scheduler._last_lr = [t.lr * factor for factor in factors]


# --- resume state -----------------------------------------------------------------------------


def save_resume_state(
    session: Session,
    state: SessionState,
    path: Path,
    rngs: list[dict[str, Any]],
    wall_s: float,
    sums: tuple[float, int, int] | None = None,
) -> None:
    """Write ``resume.pt``: everything needed to continue exactly where the run is.

    ``rngs`` holds each rank's RNG states (rank 0's first); ``sums`` the running sums over all
    ranks (default: this process's own).
    """
    loss_sum, correct, seen = sums if sums is not None else session.step.sums()
    atomic_save(
        {
            "format": RESUME_FORMAT,
            "version": FORMAT_VERSION,
            "config": config_mod.dumps(session.cfg),
            "classes": list(session.classes),
            "model": model_state(session.model),
            "optimizer": session.optimizer.state_dict(),
            "scheduler": session.scheduler.state_dict(),
            "rng": rngs[0],
            "rank_rng": rngs,
            "world_size": session.group.world_size,
            "epoch": state.epoch,
            "step": state.step,
            "global_step": state.global_step,
            "perm": state.perm.cpu() if state.perm is not None else None,
            "sums": {"loss": loss_sum, "correct": correct, "seen": seen},
            "epoch_seconds": state.epoch_seconds,
            "history": state.history,
            "best_epoch": state.best_epoch,
            "best_val_acc": state.best_val_acc,
            "wall_s": wall_s,
            "train_images": len(session.train),
        },
        path,
    )


def _load_resume(session: Session, data: dict[str, Any], sink: Sink) -> SessionState:
    source = "resume checkpoint"
    if list(data["classes"]) != session.classes:
        raise UserError(
            session.cfg.data.dataset,
            f"classes differ from the run's ({', '.join(data['classes'])}); resume with the run's dataset",
        )
    if int(data["train_images"]) != len(session.train):
        raise UserError(
            session.cfg.data.dataset,
            f"has {len(session.train)} training images, the run had {data['train_images']}; resume with its dataset",
        )
    load_model_state(session.model, data["model"], source)
    lr_tensor = torch.is_tensor(session.optimizer.param_groups[0]["lr"])
    session.optimizer.load_state_dict(optimizer_settings_after_resume(data["optimizer"], session.optimizer))
    session.scheduler.load_state_dict(data["scheduler"])
    _apply_optimizer_settings(session, lr_tensor)
    reseeded = restore_rng(_rank_rng(data, session.group.rank), session.generators)
    if reseeded:
        sink(PhaseChanged("warning", (
            f"the checkpoint's {' and '.join(reseeded)} random stream was saved on another device type than "
            f"{session.device.type}: it continues from a seed taken from the saved state, so augmentation draws "
            "differ from an uninterrupted run"
        )))  # fmt: skip
    sums = data["sums"]
    if session.group.is_main:  # the sums over all ranks, kept by one rank: the next all-reduce adds the others
        loss = torch.as_tensor(sums["loss"], dtype=torch.float32)
        session.step.reset(loss, torch.as_tensor(round(float(sums["correct"])), dtype=torch.int64), int(sums["seen"]))
    perm = data["perm"]
    _warn_other_world_size(sink, session, int(data.get("world_size", 1)))
    return SessionState(
        epoch=int(data["epoch"]),
        step=int(data["step"]),
        global_step=int(data["global_step"]),
        perm=perm.to(session.train.index_device) if perm is not None else None,
        history=[dict(row) for row in data["history"]],
        best_epoch=int(data["best_epoch"]),
        best_val_acc=float(data["best_val_acc"]),
        epoch_seconds=float(data["epoch_seconds"]),
        wall_before=float(data["wall_s"]),
    )


def _rank_rng(data: dict[str, Any], rank: int) -> dict[str, Any]:
    """The RNG states this rank saved; a rank the run did not have takes rank 0's, less its augmentation stream."""
    saved = data.get("rank_rng") or [data["rng"]]
    if rank < len(saved):
        return saved[rank]
    first = saved[0]
    return {**first, "generators": {k: v for k, v in first["generators"].items() if k != "augment"}}


def _warn_other_world_size(sink: Sink, session: Session, saved: int) -> None:
    """A run resumed on another number of processes continues, but its augmentation draws change."""
    now = session.group.world_size
    if saved != now and random_options(session.cfg):
        text = f"resumed on {now} process(es), the run had {saved}: augmentation draws differ from an uninterrupted run"
        sink(PhaseChanged("warning", text))
