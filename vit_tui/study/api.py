"""One call per study, for the command line and the app: plan it, train it, write its files.

``reproduce`` and ``sweep`` send every event (the study's and each run's engine events) to
``sink`` and stop at ``cancel`` with resumable checkpoints; calling them again with the same
arguments continues where they stopped. Both return a ``StudyReport``.

Both check their whole plan first (``plan.check_plan``: every run's config, seeds, devices,
repeated combinations, run names, the output folder), then take the study's lock, and only then
write ``plan.json`` and train: a refused study leaves nothing behind.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict, Unpack

from .. import config as config_mod
from ..config import RunConfig
from .events import StudyFinished, StudyPhase
from .plan import StudyPlan, check_plan, study_lock
from .runner import run_study

Sink = Callable[[object], None]


@dataclass(frozen=True)
class StudyReport:
    """How a study ended, where its files are, and each run's status."""

    status: str
    out_dir: Path
    files: list[Path] = field(default_factory=list)
    statuses: dict[str, str] = field(default_factory=dict)
    total: int = 0

    @property
    def failed(self) -> list[str]:
        """Runs that failed (left out of the means)."""
        return [name for name, status in self.statuses.items() if status == "failed"]


def reproduce(
    home: str | Path,
    *,
    coco: str | Path | None = None,
    data: str | Path | None = None,
    coco_out: str | Path | None = None,
    allow_fewer: bool = False,
    seeds: Sequence[int] = (1,),
    epochs: int | None = None,
    overrides: Sequence[str] = (),
    out: str | Path | None = None,
    html: bool = False,
    with_cnn: bool = False,
    sink: Sink = lambda event: None,
    cancel: threading.Event | None = None,
) -> StudyReport:
    """The course experiment: the reference dataset (built from ``coco`` unless ``data``), both presets per seed
    (and with ``with_cnn`` the CNN baseline)."""
    from ..data.store import read_manifest
    from .reproduce import reference_dataset, reproduce_plan, write_reproduce_outputs

    home = Path(home)
    out_dir = Path(out) if out is not None else home / "reproduce"
    if data is not None:
        dataset = Path(data).absolute()
        read_manifest(dataset)
    else:
        dataset = (Path(coco_out) if coco_out is not None else home / "data" / "coco5").absolute()
    plan = reproduce_plan(dataset, list(seeds), epochs=epochs, overrides=list(overrides), out_dir=out_dir,
                          runs_root=home / "runs", with_cnn=with_cnn)
    check_plan(plan)  # before the dataset is built: a bad seed or --out is refused in a second, not an hour
    if data is None:

        def progress(done: int, total: int) -> None:
            sink(StudyPhase("building the reference dataset", done, total))

        reference_dataset(coco, dataset, allow_fewer, progress)
    return _run(plan, lambda: write_reproduce_outputs(out_dir, html=html), sink, cancel, None)


class SweepOptions(TypedDict, total=False):
    """What a sweep's plan takes besides its grid: the output folder, the ``--set`` items, the devices."""

    out: str | Path | None
    overrides: Sequence[str]
    devices: Sequence[str] | None


def sweep(
    home: str | Path,
    base: RunConfig,
    grid: Sequence[tuple[str, Sequence[str]]],
    seeds: Sequence[int],
    *,
    html: bool = False,
    sink: Sink = lambda event: None,
    cancel: threading.Event | None = None,
    **options: Unpack[SweepOptions],
) -> StudyReport:
    """Every combination of ``grid`` (key, values) over ``seeds``, from ``base`` (its dataset set).

    ``options`` are ``plan_sweep``'s; its ``overrides`` are the ``--set`` items ``base`` was made
    with, quoted in ``sweep.md``.
    """
    from .sweep import write_sweep_outputs

    plan = plan_sweep(home, base, grid, seeds, **options)
    return _run(plan, lambda: write_sweep_outputs(plan.out_dir, html=html), sink, cancel, options.get("devices"))


def plan_sweep(
    home: str | Path,
    base: RunConfig,
    grid: Sequence[tuple[str, Sequence[str]]],
    seeds: Sequence[int],
    *,
    out: str | Path | None = None,
    overrides: Sequence[str] = (),
    devices: Sequence[str] | None = None,
) -> StudyPlan:
    """The plan ``sweep`` would run with these arguments, checked whole (``check_plan``); nothing is written."""
    from .sweep import sweep_plan

    home = Path(home)
    grid = [(key, list(values)) for key, values in grid]
    spec = {
        "preset": base.preset,
        "config": config_mod.to_dict(base),
        "overrides": list(overrides),  # as typed, for the tables; the config above is what counts
        "grid": [[key, values] for key, values in grid],
        "seeds": list(seeds),
        "dataset": base.data.dataset,
    }
    plan = sweep_plan(base, grid, list(seeds), out_dir=Path(out) if out is not None else None,
                      runs_root=home / "runs", spec=spec)  # fmt: skip
    check_plan(plan, devices)
    return plan


def _run(
    plan: StudyPlan,
    write_outputs: Callable[[], list[Path]],
    sink: Sink,
    cancel: threading.Event | None,
    devices: Sequence[str] | None,
) -> StudyReport:
    files: list[Path] = []
    with study_lock(plan):
        outcome = run_study(plan, sink, cancel, devices)
        if outcome.status == "finished":
            sink(StudyPhase("writing the figures and tables"))
            files = write_outputs()
    sink(StudyFinished(outcome.status, str(plan.out_dir), tuple(str(p) for p in files)))
    return StudyReport(outcome.status, plan.out_dir, files, outcome.statuses, len(plan.jobs))
