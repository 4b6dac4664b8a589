"""What the run list shows beside a run, and a listing that re-reads only the runs that changed.

``run_details`` gathers one run's curves (from ``metrics.csv``), its config's differences from
the preset it names, and its files. ``RunListing`` keeps the rows of a runs folder and, on each
``refresh``, reads a run's summary again only when its files' size or time changed (or when it
says it is running, since its process may have died without writing). Both do file I/O and are
meant to be called off a UI thread.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...config import ConfigError, config_diff
from ...errors import UserError
from ...presets import PRESETS, preset
from ...run_layout import EVENTS_FILE, METRICS_FILE, SUMMARY_FILE
from .folder import RunFolder
from .listing import RunInfo, run_info

WATCHED_FILES = (SUMMARY_FILE, EVENTS_FILE, METRICS_FILE)
"""The files whose change means a run's row or details must be read again."""
Fingerprint = tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class RunDetails:
    """One run's curves, config differences and files, ready to show."""

    path: Path
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    preset: str = ""
    """The preset the config names ("" for a custom one, or when the config cannot be read)."""
    differences: list[tuple[str, Any, Any]] = field(default_factory=list)
    """``(key, run's value, preset's value)``; the dataset is left out (every run names its own)."""
    files: list[tuple[str, int]] = field(default_factory=list)
    """``(path relative to the run folder, bytes)``, sorted."""
    problem: str = ""
    """Why part of the details could not be read ("" when all could)."""


def run_details(run_dir: str | os.PathLike) -> RunDetails:
    """Read one run's details; a damaged file is named in ``problem``, not raised."""
    path = Path(run_dir)
    problems: list[str] = []
    try:
        rows = RunFolder(path).read_metrics()
    except (UserError, OSError, ValueError, KeyError) as exc:
        rows = []
        problems.append(f"{METRICS_FILE}: {exc}")
    name, differences = _differences(path, problems)
    return RunDetails(
        path=path,
        train_loss=[float(r["train_loss"]) for r in rows],
        val_loss=[float(r["val_loss"]) for r in rows],
        val_acc=[float(r["val_acc"]) for r in rows],
        preset=name,
        differences=differences,
        files=run_files(path),
        problem="; ".join(problems),
    )


def _differences(path: Path, problems: list[str]) -> tuple[str, list[tuple[str, Any, Any]]]:
    try:
        cfg = RunFolder(path).read_config()
    except (UserError, ConfigError) as exc:
        problems.append(str(exc))
        return "", []
    if cfg.preset not in PRESETS:
        return "", []
    return cfg.preset, [d for d in config_diff(cfg, preset(cfg.preset)) if d[0] != "data.dataset"]


def run_files(run_dir: Path) -> list[tuple[str, int]]:
    """Every file under the run folder with its size, but the hidden ones (the run lock's ``.lock``).

    A file removed while listing is left out.
    """
    found = []
    for folder, dirs, names in os.walk(run_dir):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in names:
            if name.startswith("."):
                continue
            file = Path(folder) / name
            try:
                found.append((file.relative_to(run_dir).as_posix(), file.stat().st_size))
            except OSError:
                continue
    return sorted(found)


def fingerprint(run_dir: Path) -> Fingerprint:
    """Size and modification time of the files a run's row and details come from."""
    marks = []
    folder = RunFolder(run_dir)
    for name in WATCHED_FILES:
        try:
            stat = folder.file(name).stat()
            marks.append((stat.st_size, stat.st_mtime_ns))
        except OSError:
            marks.append((-1, 0))
    return tuple(marks)


class RunListing:
    """The rows of a runs folder, kept between refreshes so unchanged runs are not read again."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        self._rows: dict[Path, tuple[Fingerprint, float, RunInfo]] = {}
        self.reads = 0
        """Summaries read so far (how much work the refreshes did)."""

    def refresh(self) -> tuple[list[RunInfo], set[Path]]:
        """Every run, newest first, and the runs whose row or files changed since the last refresh."""
        paths = sorted(self.root.iterdir()) if self.root.is_dir() else []
        changed: set[Path] = set(self._rows) - set(paths)
        rows: dict[Path, tuple[Fingerprint, float, RunInfo]] = {}
        for path in paths:
            mark = fingerprint(path)
            known = self._rows.get(path)
            if known is not None and known[0] == mark and known[2].status != "running":
                rows[path] = known
                continue
            self.reads += 1
            folder = RunFolder(path)
            if not folder.is_listed():
                if known is not None:
                    changed.add(path)  # no longer a run folder (its summary or config went away)
                continue
            item = run_info(folder)
            rows[path] = (mark, item[0], item[1])
            if known is None or known[0] != mark or known[2] != item[1]:
                changed.add(path)
        self._rows = rows
        ordered = sorted(rows.values(), key=lambda row: row[1], reverse=True)
        return [info for _, _, info in ordered], changed
