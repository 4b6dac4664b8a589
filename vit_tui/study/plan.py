"""A study's plan (``plan.json``), its jobs, and the ``study.json`` each of its runs carries.

The plan says what the study is (its ``spec``: preset, grid, seeds, settings, dataset); running
the same command again finds the same plan and continues it, and a different command pointed at
the same output folder is refused rather than mixed in.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import schemas
from ..config import RunConfig
from ..errors import UserError
from ..files import write_text

PLAN_FILE = "plan.json"
MARKER_FILE = "study.json"
MAX_SEEDS = 100


@dataclass(frozen=True)
class Job:
    """One run of a study: its folder name, config, the combination it stands for, and seed."""

    name: str
    cfg: RunConfig
    label: str
    values: dict[str, str] = field(default_factory=dict)
    seed: int = 1


@dataclass(frozen=True)
class StudyPlan:
    """Every run of one study; ``spec`` identifies the study across reruns."""

    kind: str
    name: str
    out_dir: Path
    runs_root: Path
    jobs: tuple[Job, ...]
    spec: dict[str, Any]

    def run_dir(self, job: Job) -> Path:
        """Where ``job``'s run folder lives."""
        return self.runs_root / job.name


def parse_seeds(text: str) -> list[int]:
    """``"1,2,3"`` as seeds; anything else is a one-line error naming ``--seeds``."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    try:
        seeds = [int(item) for item in items]
    except ValueError:
        raise UserError("--seeds", f"expected whole numbers separated by commas, like 1,2,3; got {text!r}") from None
    if not seeds:
        raise UserError("--seeds", "give at least one seed, like 1,2,3")
    if len(set(seeds)) != len(seeds):
        raise UserError("--seeds", f"a seed is listed twice in {text!r}; each seed makes one run")
    if len(seeds) > MAX_SEEDS or any(s < 0 for s in seeds):
        raise UserError("--seeds", f"give 1 to {MAX_SEEDS} seeds of 0 or more")
    return seeds


def slug(text: str) -> str:
    """``text`` as a safe part of a folder name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "x"


def plan_record(plan: StudyPlan) -> dict[str, Any]:
    """What ``plan.json`` holds."""
    return {
        "kind": plan.kind,
        "name": plan.name,
        "runs_root": str(plan.runs_root.absolute()),
        "spec": plan.spec,
        "runs": [{"name": j.name, "label": j.label, "values": j.values, "seed": j.seed} for j in plan.jobs],
    }


def read_plan(out_dir: str | os.PathLike) -> dict[str, Any] | None:
    """``plan.json`` of a study folder, or None when there is none; a damaged one is a ``SchemaError`` naming it."""
    path = Path(out_dir) / PLAN_FILE
    return schemas.load_dict(path, schemas.Plan) if path.exists() else None


def claim_out_dir(plan: StudyPlan) -> None:
    """Write ``plan.json``, or check that the one there is this study's (a rerun continues it)."""
    existing = read_plan(plan.out_dir)
    if existing is not None and (existing.get("kind"), existing.get("spec")) != (plan.kind, plan.spec):
        raise UserError(
            str(plan.out_dir),
            f"holds another {existing.get('kind', 'study')} (different settings); choose another --out "
            "or run the same command as before to continue it",
        )
    if (plan.out_dir / PLAN_FILE).exists() and existing is None:
        raise UserError(str(plan.out_dir / PLAN_FILE), "cannot be read; remove it or choose another --out")
    write_text(plan.out_dir / PLAN_FILE, json.dumps(plan_record(plan), indent=2) + "\n")


def marker_record(plan: StudyPlan, job: Job) -> dict[str, Any]:
    """What a run's ``study.json`` holds: which study it belongs to, as which combination and seed."""
    return {
        "kind": plan.kind,
        "study": plan.name,
        "out_dir": str(plan.out_dir.absolute()),
        "label": job.label,
        "values": job.values,
        "seed": job.seed,
    }


def read_marker(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """A run's ``study.json``, or None for a run made outside any study (or whose marker is damaged).

    A damaged marker makes the run an ordinary one: listings go on, and a study will not claim it.
    """
    path = Path(run_dir) / MARKER_FILE
    if not path.exists():
        return None
    try:
        return schemas.load_dict(path, schemas.StudyMarker)
    except schemas.SchemaError:
        return None


def belongs_to(marker: dict[str, Any] | None, plan: StudyPlan) -> bool:
    """Whether a run's marker names this study (same name and output folder)."""
    return (
        marker is not None
        and marker.get("study") == plan.name
        and marker.get("out_dir") == str(plan.out_dir.absolute())
    )

