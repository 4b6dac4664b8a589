"""Everything a run trains with, set up and checked before its run folder exists.

``build_session`` resolves the device and precision, seeds every generator, loads both splits
onto the device (the training split is streamed from its mapped cache instead when it is larger
than ``train.data_memory_budget``: see ``batches``), builds the model, optimizer, schedule and
the training step, and, when resuming, loads the saved state (a checkpoint of another shape
fails here as a ``UserError``). ``SessionState`` is the part of a run that changes as it trains
and goes into ``resume.pt``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .. import config as config_mod
from ..config import ConfigError, RunConfig
from ..errors import UserError
from .batches import Holding, StreamedTrainData, choose_holding, make_train_data
from .checkpoint import (
    FORMAT_VERSION,
    RESUME_FORMAT,
    WEIGHTS_FORMAT,
    atomic_save,
    load_checkpoint,
    load_model_state,
    model_state,
    restore_rng,
)
from .device import resolve_device, resolve_precision, seed_everything
from .evaluate import Evaluation, Inference, fit_images, run_inference, summarize_predictions
from .events import PhaseChanged, Sink
from .graph_step import make_train_step, optimizer_options
from .step import TrainData, TrainStep, compile_forward

NO_DECAY_NAMES = ("cls_token", "pos_embed")


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
    holding: Holding | None = None
    """Whether the training split is resident or streamed, and why."""

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
        """Loss and accuracy of the current model on the validation split."""
        return run_inference(
            self.model,
            self.val_images,
            self.val_labels,
            batch_size=self.cfg.train.eval_batch_size,
            precision=self.precision,
        )

    def final_evaluation(self, weights: Path) -> tuple[Evaluation, int]:
        """Evaluate a saved checkpoint (best or last) on the validation split; also its epoch.

        Call it once training is over: the model keeps the checkpoint's weights afterwards.
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
        )
        labels = self.val_labels.cpu().numpy()
        evaluation = summarize_predictions(labels, result.probs.numpy(), result.loss, self.classes, self.val_files)
        return evaluation, int(data["epoch"])


def build_session(cfg: RunConfig, sink: Sink, resume: dict[str, Any] | None) -> Session:
    """Set up a run (see the module docstring); raises ``UserError`` for bad input."""
    from ..data.store import load_split
    from ..model.vit import build_model, count_parameters

    t = cfg.train
    device = resolve_device(t.device)
    precision = resolve_precision(t.precision, device)
    seed_everything(t.seed, t.deterministic)
    dataset = Path(cfg.data.dataset)
    sink(PhaseChanged("loading data", str(dataset)))
    train_split = load_split(dataset, "train", mmap=True)
    val_split = load_split(dataset, "val", device)
    _check_splits(cfg, dataset, train_split, val_split)
    classes = list(train_split.classes)
    _warn_empty_classes(sink, classes, train_split, val_split)
    _warn_skipped(sink, train_split, val_split)
    size = cfg.model.image_size
    holding = choose_holding(train_split.images.nbytes, t.data_memory_budget, device)
    sink(PhaseChanged("note", holding.describe()))
    train = make_train_data(train_split.images, train_split.labels, holding, device, size)
    val_images = fit_images(val_split.images, size)

    sink(PhaseChanged("building model", f"{cfg.model.attention} attention, {cfg.model.ffn} feed-forward"))
    model = build_model(cfg.model, len(classes)).to(device)
    optimizer = make_optimizer(model, cfg, device, streamed=train.streamed)
    scheduler = make_scheduler(optimizer, cfg, len(train) // t.batch_size)
    perm_gen = torch.Generator().manual_seed(t.seed)
    aug_gen = torch.Generator(device=device).manual_seed(t.seed + 1)
    forward, compile_problem = compile_forward(model, cfg)
    step = make_train_step(
        model, optimizer, scheduler, train, cfg, device, precision=precision, generator=aug_gen, forward=forward
    )
    step.fallback_reason = step.fallback_reason or compile_problem
    session = Session(
        cfg=cfg,
        device=device,
        precision=precision,
        classes=classes,
        train=train,
        val_images=val_images,
        val_labels=val_split.labels,
        val_files=list(val_split.files),
        model=model,
        optimizer=optimizer,
        scheduler=scheduler,
        step=step,
        perm_gen=perm_gen,
        aug_gen=aug_gen,
        params=count_parameters(model),
        state=SessionState(),
        holding=holding,
    )
    if resume is not None:
        session.state = _load_resume(session, resume)
    if step.path == "compiled":
        sink(PhaseChanged("warm-up", "compiling the model; the first steps take longer"))
    return session


def _warn_empty_classes(sink: Sink, classes: list[str], train_split, val_split) -> None:
    """Say which classes lack train or val images (a dataset built with --allow-empty-classes)."""
    from ..data.checks import class_gaps, gaps_warning

    counts = {
        name: torch.bincount(split.labels.cpu(), minlength=len(classes)).tolist()
        for name, split in (("train", train_split), ("val", val_split))
    }
    gaps = class_gaps(classes, counts)
    if gaps:
        sink(PhaseChanged("warning", gaps_warning(gaps)))


def _warn_skipped(sink: Sink, train_split, val_split) -> None:
    """Say which files loading left out, so images never go missing from a run unannounced."""
    from ..data.checks import skipped_warning

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


def make_optimizer(
    model: torch.nn.Module, cfg: RunConfig, device: torch.device, streamed: bool = False
) -> torch.optim.Optimizer:
    """Adam, AdamW or SGD (momentum 0.9); no weight decay on biases, norms, class token, positions."""
    t = cfg.train
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        skip = param.ndim <= 1 or name.split(".")[-1] in NO_DECAY_NAMES
        (no_decay if skip else decay).append(param)
    groups = [
        {"params": decay, "weight_decay": t.weight_decay, "decay": True},
        {"params": no_decay, "weight_decay": 0.0, "decay": False},
    ]
    groups = [g for g in groups if g["params"]]
    extra = optimizer_options(cfg, device, streamed)
    lr = extra.pop("lr", t.lr)
    if t.optimizer == "adam":
        return torch.optim.Adam(groups, lr=lr, betas=t.betas, **extra)
    if t.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=lr, betas=t.betas, **extra)
    return torch.optim.SGD(groups, lr=lr, momentum=0.9, **extra)


def lr_factor(step: int, warmup_steps: int, total_steps: int, schedule: str) -> float:
    """Multiplier of the peak learning rate before optimizer step ``step`` (0-based)."""
    if schedule != "cosine":
        return 1.0
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def make_scheduler(optimizer: torch.optim.Optimizer, cfg: RunConfig, steps_per_epoch: int):
    """Per-step schedule: constant, or linear warm-up then cosine decay to zero."""
    t = cfg.train
    total = max(1, t.epochs * steps_per_epoch)
    warmup = min(total, round(t.warmup_epochs * steps_per_epoch))
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, warmup, total, t.schedule))


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


def save_resume_state(session: Session, state: SessionState, path: Path, rng: dict[str, Any], wall_s: float) -> None:
    """Write ``resume.pt``: everything needed to continue exactly where the run is."""
    loss_sum, correct, seen = session.step.sums()
    atomic_save(
        {
            "format": RESUME_FORMAT,
            "version": FORMAT_VERSION,
            "config": config_mod.dumps(session.cfg),
            "classes": list(session.classes),
            "model": model_state(session.model),
            "optimizer": session.optimizer.state_dict(),
            "scheduler": session.scheduler.state_dict(),
            "rng": rng,
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


def _load_resume(session: Session, data: dict[str, Any]) -> SessionState:
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
    session.optimizer.load_state_dict(data["optimizer"])
    session.scheduler.load_state_dict(data["scheduler"])
    _apply_optimizer_settings(session, lr_tensor)
    restore_rng(data["rng"], session.generators)
    sums = data["sums"]
    session.step.reset(sums["loss"], sums["correct"], int(sums["seen"]))
    perm = data["perm"]
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
