"""How the Runs screen groups a study's runs: one row per study, its runs beneath it when expanded.

A study (sweep or reproduce) is found from the ``study.json`` its runs carry; its leaderboard is
read from its files (``study.results``) in the screen's scan worker, again only when one of its
runs changed. Nothing here draws: the screen turns these rows into table cells.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..engine.runs.listing import RunInfo
from ..errors import UserError
from ..study.results import Combination, leaderboard, list_studies
from ..study.stats import pm

STATUS_ORDER = ("running", "interrupted", "failed", "damaged", "finished")
"""A group shows the first of these that any of its runs has."""


@dataclass(frozen=True)
class StudyRow:
    """One study under the runs folder: its runs and its leaderboard (best mean first)."""

    kind: str
    name: str
    out_dir: Path
    runs: tuple[Path, ...]
    board: list[Combination] = field(default_factory=list)
    problem: str = ""

    @property
    def key(self) -> str:
        """The group's row key in the run table (run rows are keyed by their folder)."""
        return f"study:{self.out_dir}"

    @property
    def best(self) -> str:
        """The best combination's mean ± std of best validation accuracy ("–" before any run finished)."""
        finished = [c for c in self.board if c.finished]
        return pm(finished[0].accuracies) if finished else "–"

    def combination_of(self, run: Path) -> Combination | None:
        """The combination ``run`` is a seed of (None when the leaderboard does not list it)."""
        return next((c for c in self.board if any(r.name == run.name for r in c.runs)), None)


@dataclass(frozen=True)
class ListRow:
    """One row of the run table: a plain run, a study's group row, or a run shown under its group."""

    key: str
    run: RunInfo | None = None
    study: StudyRow | None = None
    member: bool = False


class StudyListing:
    """The studies of a runs folder, their leaderboards read again only when one of their runs changed."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._known: dict[Path, StudyRow] = {}

    def refresh(self, changed: set[Path]) -> list[StudyRow]:
        """Every study with runs under the folder; ``changed`` are the runs whose files changed."""
        rows = []
        for group in list_studies(self.root):
            runs = tuple(group.runs)
            known = self._known.get(group.out_dir)
            if known is None or known.runs != runs or changed.intersection(runs):
                known = _read_study(group.kind, group.name, group.out_dir, runs)
            rows.append(known)
        self._known = {row.out_dir: row for row in rows}
        return rows


def _read_study(kind: str, name: str, out_dir: Path, runs: tuple[Path, ...]) -> StudyRow:
    try:
        return StudyRow(kind, name, out_dir, runs, leaderboard(out_dir))
    except UserError as exc:  # its output folder was moved or removed: the runs are still listed
        return StudyRow(kind, name, out_dir, runs, problem=str(exc))


def list_rows(runs: list[RunInfo], studies: list[StudyRow], expanded: set[str]) -> list[ListRow]:
    """The table's rows: each study at the place of its newest run, its runs beneath it when expanded."""
    study_of = {path: study for study in studies for path in study.runs}
    rows: list[ListRow] = []
    shown: set[str] = set()
    for run in runs:
        study = study_of.get(run.path)
        if study is None:
            rows.append(ListRow(str(run.path), run=run))
            continue
        if study.key in shown:
            continue
        shown.add(study.key)
        rows.append(ListRow(study.key, study=study))
        if study.key in expanded:
            rows += [ListRow(str(r.path), run=r, study=study, member=True) for r in runs if r.path in study.runs]
    return rows


def group_status(study: StudyRow, runs: list[RunInfo]) -> str:
    """The most pressing status among the study's runs (running before interrupted before finished)."""
    statuses = {r.status for r in runs if r.path in study.runs}
    return next((s for s in STATUS_ORDER if s in statuses), "finished")
