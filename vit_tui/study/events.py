"""What a study reports while it works; the engine's own run events are passed on beside these."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StudyStarted:
    """The plan is fixed: ``total`` runs, of which ``kept`` already finished before."""

    kind: str
    name: str
    out_dir: str
    total: int
    kept: int
    devices: tuple[str, ...]


@dataclass(frozen=True)
class StudyPhase:
    """A step outside training (building the dataset, writing figures); ``total`` 0 when unknown."""

    phase: str
    done: int = 0
    total: int = 0


@dataclass(frozen=True)
class JobStarted:
    """Run ``index`` (1-based) of ``total`` begins: action is new, resume or restart."""

    index: int
    total: int
    run_dir: str
    label: str
    seed: int
    action: str
    device: str


@dataclass(frozen=True)
class JobEnded:
    """Run ``index`` ended (or was kept from before, with action keep)."""

    index: int
    total: int
    run_dir: str
    label: str
    seed: int
    status: str
    best_val_acc: float
    action: str


@dataclass(frozen=True)
class StudyFinished:
    """Every run ended (status finished) or the study stopped early (interrupted, failed)."""

    status: str
    out_dir: str
    files: tuple[str, ...]
