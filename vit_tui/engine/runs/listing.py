"""The run list: one row per run folder under a home's ``runs/``, newest first (``vit-tui runs``, the app)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ...run_layout import SUMMARY_FILE
from .folder import RunFolder

DAMAGED = "damaged"
"""The listing's status for a run whose ``summary.json`` cannot be read back."""


@dataclass(frozen=True)
class RunInfo:
    """One row of ``vit-tui runs``."""

    name: str
    path: Path
    status: str
    preset: str
    epochs_done: int
    epochs: int
    best_val_acc: float | None
    started: str
    classes: list[str]
    problem: str = ""
    """Why the run is listed as damaged (empty otherwise)."""
    dataset: str = ""
    """The dataset folder it trained on, as its summary names it."""


def list_runs(root: str | os.PathLike) -> list[RunInfo]:
    """Every run folder under ``root``, newest first."""
    found = [run_info(folder) for folder in RunFolder.under(root)]
    found.sort(key=lambda item: item[0], reverse=True)
    return [info for _, info in found]


def run_info(folder: RunFolder) -> tuple[float, RunInfo]:
    """One run folder's listing row and its sort key (start time)."""
    path = folder.path
    summary, problem = folder.load_summary()
    if problem:
        return path.stat().st_mtime, _damaged_info(path, problem)
    best = summary.get("best_val_acc")
    info = RunInfo(
        name=path.name,
        path=path,
        status=folder.effective_status(summary),
        preset=str(summary.get("preset", "")),
        epochs_done=int(summary.get("epochs_done", 0)),
        epochs=int(summary.get("epochs", 0)),
        best_val_acc=float(best) if best is not None and summary.get("best_epoch", 0) > 0 else None,
        started=str(summary.get("started", "")),
        classes=list(summary.get("classes", [])),
        dataset=str(summary.get("dataset", "")),
    )
    return float(summary.get("started_ts", path.stat().st_mtime)), info


def _damaged_info(path: Path, problem: str) -> RunInfo:
    return RunInfo(
        name=path.name,
        path=path,
        status=DAMAGED,
        preset="",
        epochs_done=0,
        epochs=0,
        best_val_acc=None,
        started="",
        classes=[],
        problem=f"{SUMMARY_FILE} {problem}",
    )
