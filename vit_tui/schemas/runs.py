"""A run folder's files read back: ``summary.json``, ``evaluation.json`` and ``config.toml``."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from .core import Count, FileSchema, Share


class Summary(FileSchema):
    """A run's ``summary.json``: its status and numbers, rewritten as the run goes (every field optional)."""

    hint: ClassVar[str] = "the run's state is unknown (start a new run)"

    status: Literal["running", "finished", "interrupted", "failed"] | UnsetType = UNSET
    name: str | UnsetType = UNSET
    preset: str | UnsetType = UNSET
    pid: int | UnsetType = UNSET
    launcher_pid: int | UnsetType = UNSET
    started: str | UnsetType = UNSET
    started_ts: float | UnsetType = UNSET
    updated: str | UnsetType = UNSET
    dataset: str | UnsetType = UNSET
    classes: list[str] | UnsetType = UNSET
    train_images: int | UnsetType = UNSET
    val_images: int | UnsetType = UNSET
    params: int | UnsetType = UNSET
    device: str | UnsetType = UNSET
    precision: str | UnsetType = UNSET
    step_path: str | UnsetType = UNSET
    train_data: dict[str, Any] | UnsetType = UNSET
    epochs: int | UnsetType = UNSET
    epochs_done: int | UnsetType = UNSET
    best_epoch: int | UnsetType = UNSET
    best_val_acc: float | UnsetType = UNSET
    final_val_acc: float | UnsetType = UNSET
    world_size: int | UnsetType = UNSET
    wall_s: float | UnsetType = UNSET
    error: str | UnsetType = UNSET
    eval_accuracy: float | UnsetType = UNSET
    eval_checkpoint: str | UnsetType = UNSET


class ClassScores(Struct):
    """One row of ``per_class`` in ``evaluation.json``."""

    class_: str = msgspec.field(name="class")
    precision: float
    recall: float
    f1: float
    support: Count


class MistakeRecord(Struct):
    """One of the most confident mistakes in ``evaluation.json``."""

    index: Count
    file: str
    true: str
    predicted: str
    probability: float


class Evaluation(FileSchema):
    """A run's ``evaluation.json``: scores of its kept checkpoint on the validation split."""

    hint: ClassVar[str] = "remove it and run vit-tui report RUN to evaluate the run again"

    accuracy: Share
    loss: float
    classes: Annotated[list[str], Meta(min_length=1)]
    confusion: list[list[Count]]
    per_class: list[ClassScores]
    mistakes: list[MistakeRecord]
    checkpoint: str | UnsetType = UNSET
    epoch: int | UnsetType = UNSET

    def problems(self) -> list[tuple[str, str]]:
        n = len(self.classes)
        if len(self.confusion) != n:
            return [("confusion", f"has {len(self.confusion)} rows for {n} classes; it must be {n} x {n}")]
        for i, row in enumerate(self.confusion):
            if len(row) != n:
                return [(f"confusion[{i}]", f"has {len(row)} values for {n} classes; it must be {n} x {n}")]
        return []


class RunConfigFile(FileSchema):
    """A run's ``config.toml`` as written by the run: the three tables (their values are checked by ``config``)."""

    hint: ClassVar[str] = "the run's settings are unknown (start a new run)"

    data: dict[str, Any]
    model: dict[str, Any]
    train: dict[str, Any]
    preset: str | UnsetType = UNSET
