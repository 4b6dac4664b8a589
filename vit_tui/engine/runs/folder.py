"""``RunFolder``: one run folder's layout and every read and write of its files.

The file names are in ``vit_tui.run_layout``; only this class builds paths from them. ``summary.json``
carries the status (running, finished, interrupted, failed) and the pid of the training process.
The training process holds ``.lock`` (see ``vit_tui.locks``) for its whole life, so a run whose
summary says running but whose lock nobody holds is reported as interrupted. Whole files are
written through ``vit_tui.files`` and read back through ``vit_tui.schemas``. No torch at import:
``runs``, ``compare`` and ``attach`` read run folders without it (checkpoints load it when used).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ... import config as config_mod
from ... import run_layout as layout
from ... import schemas
from ...config import RunConfig
from ...errors import UserError
from ...files import write_text
from ...locks import BusyError, FolderLock, holder, pid_alive
from ..telemetry.events import CheckpointSaved, EpochEnded, StepsLogged, from_json
from ..telemetry.sinks import FileSink
from .follow import EventFollower
from .tables import METRIC_FIELDS, STEP_FIELDS, append_row, csv_text, read_csv

if TYPE_CHECKING:
    import torch

RESUME_HINT = "the run's state is unknown, so it cannot be followed or resumed (start a new run)"
NO_RUN = "no run here (no config.toml)"
# Settings a resume cannot change: the optimizer's state and the position in the epoch's
# permutation (counted in batches) only mean something for the values they were made with.
KEPT_TRAIN_SETTINGS = ("batch_size", "optimizer")


class RunFolder:
    """A run folder ``runs/<name>/``: where each of its files is, reading and writing them."""

    OWN_FILES = layout.OWN_FILES

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    @property
    def name(self) -> str:
        return self.path.name

    # --- layout ------------------------------------------------------------------------------

    def file(self, name: str) -> Path:
        """The path of one of the run's own files (a ``vit_tui.run_layout`` name)."""
        if name not in layout.OWN_FILES:
            raise ValueError(f"{name} is no file of a run folder")
        return self.path / name

    @property
    def config_path(self) -> Path:
        return self.path / layout.CONFIG_FILE

    @property
    def summary_path(self) -> Path:
        return self.path / layout.SUMMARY_FILE

    @property
    def events_path(self) -> Path:
        return self.path / layout.EVENTS_FILE

    def weights(self, kind: str) -> Path:
        """``weights/<kind>.pt`` for kind best, last or resume."""
        return self.path / layout.WEIGHTS_DIR / f"{kind}{layout.WEIGHTS_SUFFIX}"

    def report_figures(self) -> dict[str, Path]:
        """The report's images by name (``confusion_matrix``, ``curves``), for trackers to log."""
        return {"confusion_matrix": self.file(layout.CONFUSION_PNG), "curves": self.file(layout.CURVES_PNG)}

    def is_run(self) -> bool:
        """Whether a run's config is here."""
        return self.config_path.is_file()

    def is_listed(self) -> bool:
        """Whether the run list shows this folder: it has a run's config and summary."""
        return self.is_run() and self.summary_path.is_file()

    def is_reserved(self) -> bool:
        """Whether the folder is reserved for a run whose process is starting."""
        return self.file(layout.RESERVED_MARKER).exists()

    def only_reserved(self) -> bool:
        """Whether the folder holds nothing but its reservation (a run that never started)."""
        return {p.name for p in self.path.iterdir()} <= {layout.RESERVED_MARKER}

    # --- creating ----------------------------------------------------------------------------

    @classmethod
    def create(cls, runs_root: str | os.PathLike, name: str | None, cfg: RunConfig) -> RunFolder:
        """Create a fresh run folder; never reuses an existing one.

        A given ``name`` that exists is a ``UserError``; a generated one gets ``-2``, ``-3``... A
        folder reserved for this run (holding the reservation marker) is claimed instead.
        """
        root = Path(runs_root)
        root.mkdir(parents=True, exist_ok=True)
        if name is not None:
            folder = cls(root / name)
            marker = folder.file(layout.RESERVED_MARKER)
            if marker.is_file():
                marker.unlink()
                return folder
            try:
                folder.path.mkdir()
            except FileExistsError:
                raise UserError(str(folder.path), "run folder already exists; choose another --out or --resume it") from None
            return folder
        base = generated_name(cfg)
        for attempt in range(1, 1000):
            path = root / (base if attempt == 1 else f"{base}-{attempt}")
            try:
                path.mkdir()
                return cls(path)
            except FileExistsError:
                continue
        raise UserError(str(root), "could not find a free run name; pass --out")

    @classmethod
    def reserve(cls, runs_root: str | os.PathLike, name: str | None, cfg: RunConfig) -> RunFolder:
        """A new run folder reserved (by this process's pid) for a child process about to train in it."""
        folder = cls.create(runs_root, name, cfg)
        write_text(folder.file(layout.RESERVED_MARKER), f"{os.getpid()}\n", mkdir=False)
        return folder

    def release(self) -> None:
        """Remove a reserved folder whose run never started (only the files made for it)."""
        for name in (layout.TRAIN_LOG, layout.CONFIG_FILE, layout.RESERVED_MARKER, layout.LOCK_FILE):
            self.file(name).unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # something else was put there; leave it
            self.path.rmdir()

    @staticmethod
    def check_new(runs_root: str | os.PathLike, name: str | None) -> None:
        """Raise ``UserError`` when a run named ``name`` already exists (unless it is reserved for it)."""
        if name is None:
            return
        folder = RunFolder(Path(runs_root) / name)
        if folder.path.exists() and not folder.file(layout.RESERVED_MARKER).is_file():
            raise UserError(str(folder.path), "run folder already exists; choose another --out or --resume it")

    @classmethod
    def resolve(cls, run: str | os.PathLike, runs_root: str | os.PathLike | None = None) -> RunFolder:
        """A run given as a folder path or as a name under ``runs_root``; missing runs are a ``UserError``."""
        folder = cls(run)
        if folder.is_run():
            return folder
        if runs_root is not None and cls(Path(runs_root) / run).is_run():
            return cls(Path(runs_root) / run)
        raise UserError(str(run), f"{NO_RUN}; list runs with `vit-tui runs`")

    @classmethod
    def under(cls, root: str | os.PathLike) -> list[RunFolder]:
        """Every folder under ``root`` with a run's config and summary (in directory order)."""
        root = Path(root)
        if not root.is_dir():
            return []
        return [folder for folder in (cls(path) for path in root.iterdir()) if folder.is_listed()]

    # --- writing -----------------------------------------------------------------------------

    def save_config(self, cfg: RunConfig) -> None:
        """(Re)write ``config.toml``."""
        config_mod.save(cfg, self.config_path)

    def write_summary(self, summary: dict[str, Any]) -> None:
        """Atomically (re)write ``summary.json``."""
        write_text(self.summary_path, json_text(summary))

    def write_metrics(self, history: list[dict[str, Any]]) -> None:
        """Atomically rewrite ``metrics.csv`` from the per-epoch history."""
        write_text(self.file(layout.METRICS_FILE), csv_text(METRIC_FIELDS, history))

    def append_step(self, row: dict[str, Any]) -> None:
        """Append one log point to ``steps.csv`` (header written on first use)."""
        append_row(self.file(layout.STEPS_FILE), STEP_FIELDS, row)

    def events_sink(self) -> FileSink:
        """The sink that appends the run's events to ``events.jsonl`` (what ``attach`` follows)."""
        return FileSink(self.events_path)

    def truncate_steps(self, last_global_step: int) -> None:
        """Drop log points after ``last_global_step`` (logged after the checkpoint a resume starts from)."""
        rows = [r for r in self.read_steps() if r["global_step"] <= last_global_step]
        write_text(self.file(layout.STEPS_FILE), csv_text(STEP_FIELDS, rows))

    def truncate_events(self, state: Any) -> None:
        """Drop the events of steps and epochs after the point a resume starts from.

        ``state`` is the resumed ``SessionState``: its ``global_step`` and finished epochs. Those later
        events are about to be replayed by the resumed run, and ``attach`` would show them twice.
        """
        try:
            lines = self.events_path.read_text(encoding="utf-8").splitlines()
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
        write_text(self.events_path, "".join(kept))

    def save_weights(
        self, kind: str, model: torch.nn.Module, cfg: RunConfig, classes: list[str], epoch: int, val_acc: float
    ) -> Path:
        """Write ``weights/<kind>.pt`` (best or last) and return its path."""
        from .checkpoint import save_weights

        path = self.weights(kind)
        save_weights(path, model, cfg, classes, epoch, val_acc)
        return path

    # --- reading -----------------------------------------------------------------------------

    def read_summary(self) -> dict[str, Any]:
        """``summary.json`` as a dict (empty when the run has not written one yet, or it is damaged)."""
        return self.load_summary()[0]

    def load_summary(self) -> tuple[dict[str, Any], str]:
        """(summary, problem): a damaged file gives an empty summary and what is wrong with it."""
        if not self.summary_path.exists():
            return {}, ""
        try:
            return schemas.load_dict(self.summary_path, schemas.Summary), ""
        except schemas.SchemaError as exc:
            return {}, exc.problem

    def checked_summary(self, hint: str = "") -> dict[str, Any]:
        """``summary.json``, or a one-line ``UserError`` naming the file and field when it is damaged.

        ``hint`` says what the damage stops (by default: following or resuming the run).
        """
        if not self.summary_path.exists():
            return {}
        return schemas.load_dict(self.summary_path, schemas.Summary, hint or RESUME_HINT)

    def read_config(self) -> RunConfig:
        """The run's ``config.toml``: all three tables there (else a ``SchemaError`` naming it), values checked."""
        return config_mod.from_dict(schemas.load_dict(self.config_path, schemas.RunConfigFile))

    def read_metrics(self) -> list[dict[str, Any]]:
        """``metrics.csv`` rows with numbers parsed (``epoch`` int, the rest float)."""
        return read_csv(self.file(layout.METRICS_FILE), ints=("epoch",))

    def read_steps(self) -> list[dict[str, Any]]:
        """``steps.csv`` rows with numbers parsed."""
        return read_csv(self.file(layout.STEPS_FILE), ints=("epoch", "step", "global_step"))

    def follow(self) -> EventFollower:
        """A reader of the events appended to ``events.jsonl`` from now on (``attach``, the app, studies)."""
        return EventFollower(self.events_path)

    # --- the training process ----------------------------------------------------------------

    def lock(self) -> FolderLock:
        """The run's lock (not yet taken): one training process per run."""
        return FolderLock(self.file(layout.LOCK_FILE), str(self.path), "running")

    def lock_holder(self) -> int | None:
        """The pid holding the run's lock (0 when unreadable); None when no process does, or no lock file."""
        return holder(self.file(layout.LOCK_FILE))

    def training_pid(self, summary: dict[str, Any] | None = None) -> int | None:
        """The pid of the process training here (0 if unknown), or None when none is.

        The run's lock decides; only a run made before locks existed falls back to the summary's pid.
        """
        if self.file(layout.LOCK_FILE).is_file():
            return self.lock_holder()
        summary = self.read_summary() if summary is None else summary
        pid = int(summary.get("pid", 0))
        return pid if summary.get("status") == "running" and pid_alive(pid) else None

    def effective_status(self, summary: dict[str, Any]) -> str:
        """The summary's status, with a "running" run that no process trains reported as interrupted."""
        status = summary.get("status", "interrupted")
        if status == "running" and self.training_pid(summary) is None:
            return "interrupted"
        return status

    # --- resuming ----------------------------------------------------------------------------

    def check_resume_target(self) -> None:
        """Raise ``UserError`` unless this is a run that stopped early and can continue."""
        if not self.is_run():
            raise UserError(str(self.path), f"{NO_RUN}; check the --resume folder")
        summary = self.checked_summary()
        pid = self.training_pid(summary)
        if pid is not None and pid != os.getpid():
            raise BusyError(str(self.path), pid, "running")
        if summary.get("status") == "finished":
            raise UserError(str(self.path), "this run already finished; start a new run instead")
        if not self.weights("resume").is_file():
            raise UserError(
                str(self.path), "no resumable checkpoint (the run stopped before one was saved); start it again"
            )

    def check_resumable(self, cfg: RunConfig) -> dict:
        """The resume checkpoint, once ``cfg`` may continue the run (else a ``UserError``)."""
        from .checkpoint import RESUME_FORMAT, checkpoint_config, load_checkpoint

        self.check_resume_target()
        path = self.weights("resume")
        data = load_checkpoint(path, RESUME_FORMAT)
        stored_cfg = checkpoint_config(data, path)
        stored = stored_cfg.model
        if stored != cfg.model:
            changed = [k for k in vars(stored) if getattr(stored, k) != getattr(cfg.model, k)]
            raise UserError(
                f"model.{changed[0]}",
                f"is {getattr(cfg.model, changed[0])!r} but the run was trained with {getattr(stored, changed[0])!r}; "
                "a resumed run keeps its model",
            )
        for key in KEPT_TRAIN_SETTINGS:
            old, new = getattr(stored_cfg.train, key), getattr(cfg.train, key)
            if old != new:
                raise UserError(
                    f"train.{key}",
                    f"is {new!r} but the run was trained with {old!r}; a resumed run keeps it "
                    "(start a new run to change it)",
                )
        _check_resume_epochs(cfg, int(data["epoch"]), int(data["step"]))
        return data


def _check_resume_epochs(cfg: RunConfig, epoch: int, step: int) -> None:
    """Refuse fewer epochs than the run has already trained (in full, or partly for ``step`` > 0)."""
    done = epoch - 1
    needed = epoch if step > 0 else done
    if cfg.train.epochs < needed:
        trained = f"{done} epoch(s)" + (f" and part of epoch {epoch}" if step > 0 else "")
        raise UserError(
            "train.epochs",
            f"is {cfg.train.epochs} but the run already trained {trained}; resume with --set train.epochs={needed} "
            "or more",
        )


def generated_name(cfg: RunConfig) -> str:
    """``<preset or custom>-<YYYYmmdd-HHMMSS>``."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", cfg.preset or "custom")
    return f"{stem}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def json_text(record: dict[str, Any]) -> str:
    """A summary's text as written: indented JSON and a final newline."""
    return json.dumps(record, indent=2) + "\n"


def now_iso() -> str:
    """Local time as ``YYYY-mm-dd HH:MM:SS``."""
    return time.strftime("%Y-%m-%d %H:%M:%S")
