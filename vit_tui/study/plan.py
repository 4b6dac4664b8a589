"""A study's plan (``plan.json``), its jobs, and the ``study.json`` each of its runs carries.

The plan says what the study is (its ``spec``: preset, grid, seeds, settings, dataset); running
the same command again finds the same plan and continues it, and a different command pointed at
the same output folder is refused rather than mixed in.

``check_plan`` checks a whole plan before anything is written (every run's config, seeds,
devices, repeated combinations, run names, the output folder); ``study_lock`` then keeps a
second process off the same study for its whole life.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import config as config_mod
from .. import schemas
from ..config import MAX_SEED, ConfigError, RunConfig
from ..errors import UserError
from ..files import write_text
from ..run_layout import STUDY_MARKER

PLAN_FILE = "plan.json"
LOCK_FILE = ".lock"
MAX_SEEDS = 100
MAX_NAME_BYTES = 255
"""A run folder's name is one path component: most file systems stop at 255 bytes."""


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


def parse_devices(text: str | None) -> list[str] | None:
    """The devices of ``--devices`` (comma-separated, each one a config's ``train.device``); None when empty."""
    if not text:
        return None
    devices = [item.strip() for item in text.split(",") if item.strip()]
    for device in devices:
        try:
            config_mod.validate(config_mod.with_value(RunConfig(), "train.device", device))
        except UserError:
            raise UserError("--devices", f"unknown device {device!r}; use cpu, cuda:N or mps") from None
        if device == "auto":
            raise UserError("--devices", "name each device, e.g. cuda:0,cuda:1 (auto is the default already)")
    return devices


def slug(text: str) -> str:
    """``text`` as a safe part of a folder name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "x"


def study_name(out_dir: Path) -> str:
    """The study's name: its output folder's own name, which must be a name (not ``/``, ``.`` or ``..``).

    The name starts every run folder's name, so one that slugs to nothing (``---``) or would hide
    the runs (``.x``) or read as an option (``-x``) is refused too, before anything is written.
    """
    name = Path(out_dir).name
    if name in ("", ".", "..") or not re.sub(r"[^A-Za-z0-9_.-]+", "", name).strip("-.") or name[0] in "-.":
        shown = name or str(out_dir)
        raise UserError(
            f"--out {_cut(str(out_dir))}",
            f"{_cut(shown)!r} cannot name the study's runs; name a folder that starts with a letter or digit, "
            "e.g. --out sweeps/heads",
        )
    return name


def _cut(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def name_prefix(name: str, out_dir: Path, runs_root: Path, kind: str, suffixes: Sequence[str]) -> str:
    """What every run name of the study starts with (``<prefix>-<suffix>``): its name, unless taken.

    Two studies whose ``--out`` folders share a name in different places would name the same runs;
    when a run of such a name is another study's (or nobody's), the study adds a short hash of its
    folder's absolute path. A rerun finds the prefix its ``plan.json`` recorded, so its run names
    never change.
    """
    hashed = f"{name}-{hashlib.sha1(str(Path(out_dir).absolute()).encode()).hexdigest()[:6]}"
    recorded = read_plan(out_dir)
    if recorded is not None and recorded.get("kind") == kind and isinstance(recorded.get("runs"), list):
        names = [str(run.get("name", "")) for run in recorded["runs"] if isinstance(run, dict)]
        if names and all(n.startswith(f"{hashed}-") for n in names):
            return hashed
    # A plan recorded with plain names keeps them unless another study holds them (a plan written
    # by a version that refused the clash only after writing it).
    ours = (name, str(Path(out_dir).absolute()))
    for suffix in suffixes:
        path = Path(runs_root) / f"{name}-{suffix}"
        if _taken(path, ours):
            return hashed
    return name


def _taken(run_dir: Path, ours: tuple[str, str]) -> bool:
    """Whether ``run_dir`` is a run that is not the study ``ours`` (name, absolute output folder)."""
    if not run_dir.is_dir():
        return False
    marker = read_marker(run_dir)
    if marker is not None:
        return (marker.get("study"), marker.get("out_dir")) != ours
    return not _being_set_up(run_dir)


def _being_set_up(run_dir: Path) -> bool:
    """A run folder a study has just made and not yet marked: empty, or holding only its reservation."""
    from ..engine.runs.folder import RunFolder

    try:
        return RunFolder(run_dir).only_reserved()
    except OSError:
        return False


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


def _plan_of_this_study(plan: StudyPlan) -> dict[str, Any] | None:
    """The ``plan.json`` already in the output folder (None when there is none); another study's is refused."""
    existing = read_plan(plan.out_dir)
    if existing is not None and (existing.get("kind"), existing.get("spec")) != (plan.kind, plan.spec):
        raise UserError(
            str(plan.out_dir),
            f"holds another {existing.get('kind', 'study')} (different settings); choose another --out "
            "or run the same command as before to continue it",
        )
    return existing


def claim_out_dir(plan: StudyPlan) -> None:
    """Write ``plan.json``, or check that the one there is this study's (a rerun continues it)."""
    _plan_of_this_study(plan)
    write_text(plan.out_dir / PLAN_FILE, json.dumps(plan_record(plan), indent=2) + "\n")


def check_out_dir(plan: StudyPlan) -> None:
    """Refuse an output folder this study may not use: another study's, or files vit-tui did not make.

    Nothing is created: ``claim_out_dir`` does that once the whole plan is checked.
    """
    from ..outputs import output_folder

    if _plan_of_this_study(plan) is not None:
        return  # a study folder made before output folders carried a marker is this study's too
    output_folder(plan.out_dir, "--out", kind=plan.kind, reuse=True)


def check_plan(plan: StudyPlan, devices: Sequence[str] | None = None) -> None:
    """Check everything about ``plan`` that can be known before training; nothing is written.

    Every run's config as ``train`` checks it, its seed, the devices it would train on, two
    combinations that are one setting (or share a run name), run names taken by other runs, and
    the output folder. Raises the first problem as a one-line ``UserError``.
    """
    study_name(plan.out_dir)
    for job in plan.jobs:
        if not 0 <= job.seed <= MAX_SEED:
            raise UserError("--seeds", f"{_cut(str(job.seed))} is out of range; seeds are 0 to 2**63 - 1")
    _check_configs(plan)
    _check_repeats(plan)
    _check_devices(plan, devices)
    _check_run_names(plan)
    check_out_dir(plan)


def _combo_text(values: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items()) or "the base settings"


def _check_configs(plan: StudyPlan) -> None:
    for job in plan.jobs:
        try:
            config_mod.validate(job.cfg)
        except ConfigError as exc:
            where = f" (in the combination {_combo_text(job.values)})" if job.values else ""
            raise ConfigError(exc.field, f"{exc.why}{where}") from None


def _same_setting(key: str, value: str) -> object:
    """A grid value as the setting it stands for: ``1e-3`` and ``0.001``, ``1GiB`` and ``1073741824`` are one."""
    try:
        value = config_mod.coerce(key, value)
    except ConfigError:  # not a setting (reproduce's ``preset``): the text is the value
        return value
    if key == "train.data_memory_budget" and value != "auto":
        from ..sizes import parse_size

        with contextlib.suppress(ValueError):
            return parse_size(value)
    return value


def _check_repeats(plan: StudyPlan) -> None:
    """Two runs of one setting, or of one run name, would collide in one run folder."""
    for key, values in plan.spec.get("grid", []):
        seen: dict[object, str] = {}
        for value in values:
            setting = _same_setting(key, value)
            if setting not in seen:
                seen[setting] = value
                continue
            same = seen[setting]
            if same == value:
                raise UserError("--grid", f"{key} lists {_cut(value, 40)} twice; list each value once")
            raise UserError(
                "--grid", f"{key} lists {_cut(same, 40)} and {_cut(value, 40)}, one setting; list each value once"
            )
    names: dict[str, Job] = {}
    for job in plan.jobs:
        other = names.setdefault(job.name, job)
        if other is not job:
            raise UserError(
                "--grid",
                f"{_combo_text(other.values)} and {_combo_text(job.values)} would share the run name "
                f"{_cut(job.name)!r}; choose values that differ in letters or digits",
            )
        if len(job.name.encode()) > MAX_NAME_BYTES:
            raise UserError("--grid", f"the run name {_cut(job.name)!r} is longer than {MAX_NAME_BYTES} bytes; "
                            "use shorter values or a shorter --out name")


def _check_devices(plan: StudyPlan, devices: Sequence[str] | None) -> None:
    """Each device a run would train on must be here (``--devices`` replaces the runs' own)."""
    from ..engine.device.placement import resolve_device

    if devices:
        for device in devices:
            try:
                resolve_device(device)
            except ConfigError as exc:
                raise UserError("--devices", exc.why) from None
        return
    checked: set[str] = set()
    for job in plan.jobs:
        device = job.cfg.train.device
        if device in checked:
            continue
        checked.add(device)
        try:
            resolve_device(device)
        except ConfigError as exc:
            where = f" (in the combination {_combo_text(job.values)})" if "train.device" in job.values else ""
            raise ConfigError(exc.field, f"{exc.why}{where}") from None


def _check_run_names(plan: StudyPlan) -> None:
    """A run folder of the plan's name that is not this study's is refused before anything is written."""
    for job in plan.jobs:
        run_dir = plan.run_dir(job)
        if not run_dir.exists() or belongs_to(read_marker(run_dir), plan):
            continue
        if read_marker(run_dir) is None and _being_set_up(run_dir):
            continue  # being set up by another process of this very study: its lock answers that
        raise UserError(
            str(run_dir), f"exists and is no run of this {plan.kind}; move it away or choose another --out"
        )


@contextlib.contextmanager
def study_lock(plan: StudyPlan) -> Iterator[None]:
    """Make the output folder and hold its lock for the study's whole life (one process per study)."""
    from ..locks import BusyError, FolderLock
    from ..outputs import claim_folder

    claim_folder(plan.out_dir, plan.kind)
    lock = FolderLock(plan.out_dir / LOCK_FILE, str(plan.out_dir))
    try:
        lock.acquire()
    except BusyError as exc:
        who = f"pid {exc.pid}" if exc.pid > 0 else "another process"
        raise UserError(
            str(plan.out_dir), f"this {plan.kind} is running ({who}); wait for it to end or stop it first"
        ) from None
    try:
        yield
    finally:
        lock.release()


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
    from ..engine.runs.folder import RunFolder

    path = RunFolder(run_dir).file(STUDY_MARKER)
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

