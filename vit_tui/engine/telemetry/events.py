"""Events the engine sends to its sink: frozen dataclasses of plain numbers and strings.

The headless CLI prints them, the TUI bridge posts them as messages, and the file sink
appends them to ``events.jsonl`` (``to_json``/``from_json`` round-trip every event).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Union


@dataclass(frozen=True)
class RunStarted:
    """Training is about to take its first step."""

    run_dir: str
    name: str
    preset: str
    classes: tuple[str, ...]
    epochs: int
    start_epoch: int
    steps_per_epoch: int
    train_images: int
    val_images: int
    params: int
    device: str
    precision: str
    step_path: str
    """How steps run: "cuda-graph", "compiled" or "eager" (with the reason for a fallback)."""
    pid: int
    started: float


@dataclass(frozen=True)
class PhaseChanged:
    """A non-training phase began (loading data, compiling, capturing, evaluating, saving)."""

    phase: str
    detail: str = ""


@dataclass(frozen=True)
class StepsLogged:
    """A log point: running loss and accuracy since the previous log point."""

    epoch: int
    step: int
    steps_per_epoch: int
    global_step: int
    loss: float
    acc: float
    lr: float
    images_per_s: float
    elapsed_s: float


@dataclass(frozen=True)
class EpochEnded:
    """One epoch trained and validated."""

    epoch: int
    epochs: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    lr: float
    seconds: float
    images_per_s: float
    is_best: bool
    best_epoch: int
    best_val_acc: float


@dataclass(frozen=True)
class EvalDone:
    """Final evaluation of the kept checkpoint on the validation split."""

    checkpoint: str
    accuracy: float
    loss: float
    classes: tuple[str, ...]
    confusion: tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class CheckpointSaved:
    """A checkpoint file was written atomically."""

    kind: str
    """best, last or resume."""
    path: str
    epoch: int


@dataclass(frozen=True)
class RunFinished:
    """The run ended normally or was interrupted (status "finished" or "interrupted")."""

    status: str
    run_dir: str
    epochs_done: int
    best_epoch: int
    best_val_acc: float
    final_val_acc: float
    wall_s: float


@dataclass(frozen=True)
class RunFailed:
    """The run stopped on an error; ``hint`` says what to try."""

    run_dir: str
    message: str
    hint: str = ""


Event = Union[RunStarted, PhaseChanged, StepsLogged, EpochEnded, EvalDone, CheckpointSaved, RunFinished, RunFailed]
Sink = Callable[[Event], None]

EVENT_TYPES: dict[str, type] = {
    cls.__name__: cls
    for cls in (RunStarted, PhaseChanged, StepsLogged, EpochEnded, EvalDone, CheckpointSaved, RunFinished, RunFailed)
}


def to_json(event: Event) -> str:
    """One JSON line: the event's fields plus ``"type"``."""
    return json.dumps({"type": type(event).__name__, **asdict(event)}, separators=(",", ":"))


def from_json(line: str) -> Event:
    """Rebuild an event from ``to_json`` output (lists become tuples again)."""
    raw = json.loads(line)
    cls = EVENT_TYPES[raw.pop("type")]
    kwargs = {}
    for f in fields(cls):
        if f.name in raw:
            kwargs[f.name] = _tuplify(raw[f.name])
    return cls(**kwargs)


def _tuplify(value: object) -> object:
    if isinstance(value, list):
        return tuple(_tuplify(v) for v in value)
    return value


def null_sink(event: Event) -> None:
    """A sink that drops every event."""
