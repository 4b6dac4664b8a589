"""A study's files read back: its ``plan.json`` and each of its runs' ``study.json``."""

from __future__ import annotations

from typing import Any, ClassVar

from msgspec import Struct

from .core import FileSchema


class PlannedRun(Struct):
    """One run in ``plan.json``."""

    name: str
    label: str
    values: dict[str, str] = {}
    seed: int = 0


class Plan(FileSchema):
    """A study's ``plan.json`` (sweep or reproduce): what it is and every run it makes."""

    hint: ClassVar[str] = "remove it or run the study again with another --out"

    kind: str
    name: str
    runs_root: str
    spec: dict[str, Any]
    runs: list[PlannedRun]


class StudyMarker(FileSchema):
    """A study run's ``study.json``: which study it belongs to, as which combination and seed."""

    hint: ClassVar[str] = "the run's study is unknown"

    kind: str
    study: str
    out_dir: str
    label: str
    values: dict[str, str] = {}
    seed: int = 0
