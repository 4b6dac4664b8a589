"""A study's results read back from its runs: one record per run, grouped per combination.

Everything is read from the files (``plan.json``, each run's summary and metrics), so the app,
``sweep`` and ``reproduce`` see the same numbers, and a study can be reread at any time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UserError
from .plan import PLAN_FILE, read_marker, read_plan
from .stats import Verdict, compare_seeds, mean_std


@dataclass(frozen=True)
class RunRecord:
    """One run of a study as it stands: finished or not, with its numbers."""

    name: str
    path: Path
    label: str
    values: dict[str, str]
    seed: int
    status: str
    best_val_acc: float
    epochs_done: int
    wall_s: float
    params: int
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Combination:
    """The runs of one setting (one grid combination, or one preset) over its seeds."""

    label: str
    values: dict[str, str]
    runs: list[RunRecord]

    @property
    def finished(self) -> list[RunRecord]:
        """The runs that finished; only they count in the means."""
        return [r for r in self.runs if r.status == "finished"]

    @property
    def accuracies(self) -> list[float]:
        """Best validation accuracy of each finished run."""
        return [r.best_val_acc for r in self.finished]

    def mean_std(self, attribute: str = "best_val_acc") -> tuple[float, float]:
        """Mean ± std of one numeric attribute over the finished runs."""
        return mean_std([float(getattr(r, attribute)) for r in self.finished])

    @property
    def params(self) -> int:
        """Parameter count (the same for every seed)."""
        return max((r.params for r in self.runs), default=0)


def read_records(out_dir: str | os.PathLike) -> tuple[dict[str, Any], list[RunRecord]]:
    """(plan.json, one record per planned run) of a study folder."""
    from ..engine.runs.folder import RunFolder

    plan = read_plan(out_dir)
    if plan is None:
        raise UserError(str(Path(out_dir) / PLAN_FILE), "no study here; give the --out folder of a sweep or reproduce")
    root = Path(plan["runs_root"])
    records = []
    for entry in plan.get("runs", []):
        path = root / entry["name"]
        summary, problem = RunFolder(path).load_summary()
        status = RunFolder(path).effective_status(summary) if summary and not problem else ("damaged" if problem else "missing")
        records.append(
            RunRecord(
                name=entry["name"],
                path=path,
                label=entry["label"],
                values=dict(entry.get("values", {})),
                seed=int(entry.get("seed", 0)),
                status=status,
                best_val_acc=float(summary.get("best_val_acc", 0.0)),
                epochs_done=int(summary.get("epochs_done", 0)),
                wall_s=float(summary.get("wall_s", 0.0)),
                params=int(summary.get("params", 0)),
                history=RunFolder(path).read_metrics(),
            )
        )
    return plan, records


def combinations(records: list[RunRecord]) -> list[Combination]:
    """The records grouped by label, in plan order."""
    groups: dict[str, Combination] = {}
    for record in records:
        group = groups.setdefault(record.label, Combination(record.label, record.values, []))
        group.runs.append(record)
    return list(groups.values())


def leaderboard(out_dir: str | os.PathLike) -> list[Combination]:
    """A study's combinations, best mean accuracy first (those with no finished run last)."""
    _, records = read_records(out_dir)
    return sorted(combinations(records), key=lambda c: (bool(c.finished), c.mean_std()[0]), reverse=True)


def compare_combinations(a: Combination, b: Combination) -> Verdict:
    """Whether two combinations differ by more than their seed-to-seed spread (see ``stats``)."""
    return compare_seeds(a.label, a.accuracies, b.label, b.accuracies)


@dataclass(frozen=True)
class StudyGroup:
    """The runs of one study found under a runs folder (how the Runs screen groups them)."""

    kind: str
    name: str
    out_dir: Path
    runs: list[Path]


def list_studies(runs_root: str | os.PathLike) -> list[StudyGroup]:
    """Every study with runs under ``runs_root``, from the ``study.json`` each of its runs carries."""
    root = Path(runs_root)
    groups: dict[tuple[str, str], StudyGroup] = {}
    if not root.is_dir():
        return []
    for path in sorted(root.iterdir()):
        marker = read_marker(path) if path.is_dir() else None
        if marker is None:
            continue
        key = (str(marker.get("study", "")), str(marker.get("out_dir", "")))
        group = groups.setdefault(key, StudyGroup(str(marker.get("kind", "")), key[0], Path(key[1]), []))
        group.runs.append(path)
    return list(groups.values())
