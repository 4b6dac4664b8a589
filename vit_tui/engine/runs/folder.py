"""The run folder: its layout, creating one, listing runs, reading their files back.

A run folder ``runs/<name>/`` holds ``config.toml``, ``summary.json``, ``metrics.csv``,
``steps.csv``, ``events.jsonl``, the exports (``confusion_matrix.csv/png``, ``curves.png``,
``report.md``, ``evaluation.json``) and ``weights/``. ``summary.json`` carries the status
(running, finished, interrupted, failed) and the pid of the training process. The training
process holds ``.lock`` (see ``vit_tui.locks``) for its whole life, so a run whose summary says
running but whose lock nobody holds is reported as interrupted.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ... import config as config_mod
from ... import schemas
from ...config import RunConfig
from ...errors import UserError
from ...files import write_error, write_text
from ...locks import BusyError, has_run_lock, pid_alive, run_lock_holder
from ..telemetry.events import CheckpointSaved, EpochEnded, Event, StepsLogged, from_json
from ..telemetry.sinks import EVENTS_FILE

SUMMARY_FILE = "summary.json"
CONFIG_FILE = "config.toml"
METRICS_FILE = "metrics.csv"
STEPS_FILE = "steps.csv"
RESERVED_MARKER = ".reserved"
METRIC_FIELDS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds", "images_per_s")
STEP_FIELDS = ("epoch", "step", "global_step", "loss", "acc", "lr", "images_per_s", "elapsed_s")
STATUSES = ("running", "finished", "interrupted", "failed")
DAMAGED = "damaged"
"""The listing's status for a run whose ``summary.json`` cannot be read back."""
RESUME_HINT = "the run's state is unknown, so it cannot be followed or resumed (start a new run)"


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


# --- creating -------------------------------------------------------------------------------


def generated_name(cfg: RunConfig) -> str:
    """``<preset or custom>-<YYYYmmdd-HHMMSS>``."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", cfg.preset or "custom")
    return f"{stem}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def new_run_dir(runs_root: str | os.PathLike, name: str | None, cfg: RunConfig) -> Path:
    """Create and return a fresh run folder; never reuses an existing one.

    A given ``name`` that exists is a ``UserError``; a generated one gets ``-2``, ``-3``... A
    folder reserved by ``start_detached`` (holding the reservation marker) is claimed instead.
    """
    root = Path(runs_root)
    root.mkdir(parents=True, exist_ok=True)
    if name is not None:
        path = root / name
        marker = path / RESERVED_MARKER
        if marker.is_file():
            marker.unlink()
            return path
        try:
            path.mkdir()
        except FileExistsError:
            raise UserError(str(path), "run folder already exists; choose another --out or --resume it") from None
        return path
    base = generated_name(cfg)
    for attempt in range(1, 1000):
        path = root / (base if attempt == 1 else f"{base}-{attempt}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise UserError(str(root), "could not find a free run name; pass --out")


def check_new_run_dir(runs_root: str | os.PathLike, name: str | None) -> None:
    """Raise ``UserError`` when a run named ``name`` already exists (unless it is reserved for it)."""
    if name is None:
        return
    path = Path(runs_root) / name
    if path.exists() and not (path / RESERVED_MARKER).is_file():
        raise UserError(str(path), "run folder already exists; choose another --out or --resume it")


def check_resume_target(run_dir: str | os.PathLike) -> None:
    """Raise ``UserError`` unless ``run_dir`` is a run that stopped early and can continue."""
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG_FILE).is_file():
        raise UserError(str(run_dir), "no run here (no config.toml); check the --resume folder")
    summary = checked_summary(run_dir)
    status = summary.get("status")
    pid = training_pid(run_dir, summary)
    if pid is not None and pid != os.getpid():
        raise BusyError(str(run_dir), pid, "running")
    if status == "finished":
        raise UserError(str(run_dir), "this run already finished; start a new run instead")
    if not (run_dir / "weights" / "resume.pt").is_file():
        raise UserError(str(run_dir), "no resumable checkpoint (the run stopped before one was saved); start it again")


def resolve_run(run: str | os.PathLike, runs_root: str | os.PathLike | None = None) -> Path:
    """A run given as a folder path or as a name under ``runs_root``; missing runs are a ``UserError``."""
    path = Path(run)
    if (path / CONFIG_FILE).is_file():
        return path
    if runs_root is not None and (Path(runs_root) / run / CONFIG_FILE).is_file():
        return Path(runs_root) / run
    raise UserError(str(run), "no run here (no config.toml); list runs with `vit-tui runs`")


def write_summary(run_dir: Path, summary: dict[str, Any]) -> None:
    """Atomically (re)write ``summary.json``."""
    write_text(Path(run_dir) / SUMMARY_FILE, json.dumps(summary, indent=2) + "\n")


def write_metrics(run_dir: Path, history: list[dict[str, Any]]) -> None:
    """Atomically rewrite ``metrics.csv`` from the per-epoch history."""
    write_text(Path(run_dir) / METRICS_FILE, _csv_text(METRIC_FIELDS, history))


def append_step(run_dir: Path, row: dict[str, Any]) -> None:
    """Append one log point to ``steps.csv`` (header written on first use)."""
    path = Path(run_dir) / STEPS_FILE
    new = not path.exists()
    try:
        with open(path, "a", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=STEP_FIELDS, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow(_exact_text(row))
    except OSError as exc:
        raise write_error(path, exc) from None


def truncate_steps(run_dir: Path, last_global_step: int) -> None:
    """Drop log points after ``last_global_step`` (logged after the checkpoint a resume starts from)."""
    rows = [r for r in read_steps(run_dir) if r["global_step"] <= last_global_step]
    write_text(Path(run_dir) / STEPS_FILE, _csv_text(STEP_FIELDS, rows))


def truncate_events(run_dir: Path, state: Any) -> None:
    """Drop the events of steps and epochs after the point a resume starts from.

    ``state`` is the resumed ``SessionState``: its ``global_step`` and finished epochs. Those later
    events are about to be replayed by the resumed run, and ``attach`` would show them twice.
    """
    path = Path(run_dir) / EVENTS_FILE
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return
    done = len(state.history)
    kept = []
    for line in lines:
        try:
            event = from_json(line)
        except (ValueError, KeyError, TypeError):
            continue  # a line cut by a kill
        if isinstance(event, StepsLogged) and event.global_step > state.global_step:
            continue
        if isinstance(event, (EpochEnded, CheckpointSaved)) and event.epoch > done:
            continue
        kept.append(line + "\n")
    write_text(path, "".join(kept))


def _csv_text(fields: tuple[str, ...], rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(_exact_text(row))
    return out.getvalue()


def _exact_text(row: dict[str, Any]) -> dict[str, Any]:
    # repr keeps floats exact, so metrics read back equal what the run computed.
    return {k: (repr(v) if isinstance(v, float) else v) for k, v in row.items()}


# --- reading --------------------------------------------------------------------------------


def read_summary(run_dir: str | os.PathLike) -> dict[str, Any]:
    """``summary.json`` as a dict (empty when the run has not written one yet, or it is damaged)."""
    return load_summary(run_dir)[0]


def load_summary(run_dir: str | os.PathLike) -> tuple[dict[str, Any], str]:
    """(summary, problem): a damaged file gives an empty summary and what is wrong with it."""
    path = Path(run_dir) / SUMMARY_FILE
    if not path.exists():
        return {}, ""
    try:
        return schemas.load_dict(path, schemas.Summary), ""
    except schemas.SchemaError as exc:
        return {}, exc.problem


def checked_summary(run_dir: str | os.PathLike, hint: str = "") -> dict[str, Any]:
    """``summary.json``, or a one-line ``UserError`` naming the file and field when it is damaged.

    ``hint`` says what the damage stops (by default: following or resuming the run).
    """
    path = Path(run_dir) / SUMMARY_FILE
    if not path.exists():
        return {}
    return schemas.load_dict(path, schemas.Summary, hint or RESUME_HINT)


def read_config(run_dir: str | os.PathLike) -> RunConfig:
    """The run's ``config.toml``: all three tables there (else a ``SchemaError`` naming it), values checked."""
    raw = schemas.load_dict(Path(run_dir) / CONFIG_FILE, schemas.RunConfigFile)
    return config_mod.from_dict(raw)


def read_metrics(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """``metrics.csv`` rows with numbers parsed (``epoch`` int, the rest float)."""
    return _read_csv(Path(run_dir) / METRICS_FILE, ints=("epoch",))


def read_steps(run_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """``steps.csv`` rows with numbers parsed."""
    return _read_csv(Path(run_dir) / STEPS_FILE, ints=("epoch", "step", "global_step"))


def _read_csv(path: Path, ints: tuple[str, ...]) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    rows = []
    for raw in csv.DictReader(io.StringIO(text)):
        try:
            rows.append({k: int(v) if k in ints else float(v) for k, v in raw.items() if k is not None})
        except (TypeError, ValueError):
            continue  # a line cut short by a killed process
    return rows


def training_pid(run_dir: str | os.PathLike, summary: dict[str, Any] | None = None) -> int | None:
    """The pid of the process training in ``run_dir`` (0 if unknown), or None when none is.

    The run's lock decides; only a run made before locks existed falls back to the summary's pid.
    """
    if has_run_lock(run_dir):
        return run_lock_holder(run_dir)
    summary = read_summary(run_dir) if summary is None else summary
    pid = int(summary.get("pid", 0))
    return pid if summary.get("status") == "running" and pid_alive(pid) else None


def effective_status(summary: dict[str, Any], run_dir: Path) -> str:
    """The summary's status, with a "running" run that no process trains reported as interrupted."""
    status = summary.get("status", "interrupted")
    if status == "running" and training_pid(run_dir, summary) is None:
        return "interrupted"
    return status


def list_runs(root: str | os.PathLike) -> list[RunInfo]:
    """Every run folder under ``root``, newest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [item for item in (run_info(path) for path in root.iterdir()) if item is not None]
    found.sort(key=lambda item: item[0], reverse=True)
    return [info for _, info in found]


def run_info(path: Path) -> tuple[float, RunInfo] | None:
    """One run folder's listing row and its sort key (start time), or None when ``path`` is no run."""
    if not (path / CONFIG_FILE).is_file() or not (path / SUMMARY_FILE).is_file():
        return None
    summary, problem = load_summary(path)
    if problem:
        return path.stat().st_mtime, _damaged_info(path, problem)
    best = summary.get("best_val_acc")
    info = RunInfo(
        name=path.name,
        path=path,
        status=effective_status(summary, path),
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


class EventFollower:
    """Reads events appended to a run's ``events.jsonl`` since the previous ``poll``."""

    def __init__(self, run_dir: str | os.PathLike) -> None:
        self.path = Path(run_dir) / EVENTS_FILE
        self._offset = 0
        self._partial = b""

    def poll(self) -> list[Event]:
        """New complete events (a half-written last line waits for the next poll).

        Only bytes appended since the last poll are read. A file shorter than what was read (a
        resume rewrites it without the events it replays, or it was replaced) is read again from
        its start.
        """
        try:
            with open(self.path, "rb") as handle:
                if os.fstat(handle.fileno()).st_size < self._offset:
                    self._offset, self._partial = 0, b""
                handle.seek(self._offset)
                chunk = handle.read()
        except FileNotFoundError:
            return []
        self._offset += len(chunk)
        data = self._partial + chunk
        lines = data.split(b"\n")
        self._partial = lines.pop()
        events = []
        for line in lines:
            if line.strip():
                try:
                    events.append(from_json(line.decode("utf-8")))
                except (ValueError, KeyError, TypeError):
                    continue  # a line from a newer version or cut by a kill
        return events


def now_iso() -> str:
    """Local time as ``YYYY-mm-dd HH:MM:SS``."""
    return time.strftime("%Y-%m-%d %H:%M:%S")
