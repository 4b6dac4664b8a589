"""What vit-tui reads back: one typed schema per file it wrote, and one reader that names the file and field.

Every JSON or TOML file the program reads again (a run's ``summary.json``, ``evaluation.json`` and
``config.toml``, a dataset's ``manifest.json``, a study's ``plan.json`` and each of its runs'
``study.json``, an export's sidecar ``<model>.json``, the app's ``settings.json``) has a
``msgspec.Struct`` here. ``load`` reads, parses and validates one file and raises one
``SchemaError`` whose line names the file and the field, e.g.::

    runs/a/evaluation.json: field "accuracy": expected a number, got text; <what to do>

Unknown fields are allowed, so files written by a newer vit-tui still read. msgspec rather than
pydantic: importing it and making a first model costs about 20 ms here against about 110 ms, and
``vit-tui runs``, ``compare`` and ``attach`` read these files and should start at once.
Headless: no torch, textual or rich.
"""

from __future__ import annotations

import json
import math
import re
import sys
import typing
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from .errors import UserError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "DoctorReport",
    "Evaluation",
    "Manifest",
    "Plan",
    "RunConfigFile",
    "SchemaError",
    "Settings",
    "Sidecar",
    "StudyMarker",
    "Summary",
    "decode",
    "load",
    "load_dict",
]

M = TypeVar("M", bound="FileSchema")
VALUE_SHOWN = 40
"""Values quoted in a message are cut to this many characters."""

STATUSES = ("running", "finished", "interrupted", "failed")
NEWEST_MANIFEST = 1
"""The newest dataset manifest ``schema`` this vit-tui reads."""

Count = Annotated[int, Meta(ge=0)]
Share = Annotated[float, Meta(ge=0.0, le=1.0)]
Positive = Annotated[int, Meta(gt=0)]


class SchemaError(UserError):
    """A file vit-tui wrote that does not read back: ``subject`` is its path, ``field`` the JSON path."""

    def __init__(self, path: str | Path, problem: str, hint: str = "", field: str = "") -> None:
        super().__init__(str(path), f"{problem}; {hint}" if hint else problem)
        self.path = Path(path)
        self.problem = problem
        self.hint = hint
        self.field = field


class FileSchema(Struct, kw_only=True):
    """A file read back; ``hint`` says what to do when it is damaged."""

    hint: ClassVar[str] = ""

    def problems(self) -> list[tuple[str, str]]:
        """(field, what is wrong) for what types alone cannot say, e.g. a matrix's shape."""
        return []


# --- runs -----------------------------------------------------------------------------------


class Summary(FileSchema):
    """A run's ``summary.json``: its status and numbers, rewritten as the run goes (every field optional)."""

    hint: ClassVar[str] = "the run's state is unknown (start a new run)"

    status: Literal["running", "finished", "interrupted", "failed"] | UnsetType = UNSET
    name: str | UnsetType = UNSET
    preset: str | UnsetType = UNSET
    pid: int | UnsetType = UNSET
    launcher_pid: int | UnsetType = UNSET
    started: str | UnsetType = UNSET
    started_ts: float | UnsetType = UNSET
    updated: str | UnsetType = UNSET
    dataset: str | UnsetType = UNSET
    classes: list[str] | UnsetType = UNSET
    train_images: int | UnsetType = UNSET
    val_images: int | UnsetType = UNSET
    params: int | UnsetType = UNSET
    device: str | UnsetType = UNSET
    precision: str | UnsetType = UNSET
    step_path: str | UnsetType = UNSET
    train_data: dict[str, Any] | UnsetType = UNSET
    epochs: int | UnsetType = UNSET
    epochs_done: int | UnsetType = UNSET
    best_epoch: int | UnsetType = UNSET
    best_val_acc: float | UnsetType = UNSET
    final_val_acc: float | UnsetType = UNSET
    world_size: int | UnsetType = UNSET
    wall_s: float | UnsetType = UNSET
    error: str | UnsetType = UNSET
    eval_accuracy: float | UnsetType = UNSET
    eval_checkpoint: str | UnsetType = UNSET


class ClassScores(Struct):
    """One row of ``per_class`` in ``evaluation.json``."""

    class_: str = msgspec.field(name="class")
    precision: float
    recall: float
    f1: float
    support: Count


class MistakeRecord(Struct):
    """One of the most confident mistakes in ``evaluation.json``."""

    index: Count
    file: str
    true: str
    predicted: str
    probability: float


class Evaluation(FileSchema):
    """A run's ``evaluation.json``: scores of its kept checkpoint on the validation split."""

    hint: ClassVar[str] = "remove it and run vit-tui report RUN to evaluate the run again"

    accuracy: Share
    loss: float
    classes: Annotated[list[str], Meta(min_length=1)]
    confusion: list[list[Count]]
    per_class: list[ClassScores]
    mistakes: list[MistakeRecord]
    checkpoint: str | UnsetType = UNSET
    epoch: int | UnsetType = UNSET

    def problems(self) -> list[tuple[str, str]]:
        n = len(self.classes)
        if len(self.confusion) != n:
            return [("confusion", f"has {len(self.confusion)} rows for {n} classes; it must be {n} x {n}")]
        for i, row in enumerate(self.confusion):
            if len(row) != n:
                return [(f"confusion[{i}]", f"has {len(row)} values for {n} classes; it must be {n} x {n}")]
        return []


class RunConfigFile(FileSchema):
    """A run's ``config.toml`` as written by the run: the three tables (their values are checked by ``config``)."""

    hint: ClassVar[str] = "the run's settings are unknown (start a new run)"

    data: dict[str, Any]
    model: dict[str, Any]
    train: dict[str, Any]
    preset: str | UnsetType = UNSET


# --- datasets -------------------------------------------------------------------------------


class Manifest(FileSchema):
    """A dataset's ``manifest.json``: what it holds and how it was made."""

    hint: ClassVar[str] = "rebuild the dataset"

    schema: int
    name: str
    source: dict[str, Any]
    options: dict[str, Any]
    classes: Annotated[list[str], Meta(min_length=2)]
    coco_ids: list[int | None]
    counts: dict[str, dict[str, Count]]
    image_size: Positive
    seed: int | None
    created: str
    report: dict[str, Any] = {}


# --- studies --------------------------------------------------------------------------------


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


# --- exports and settings -------------------------------------------------------------------


class SidecarBatch(Struct):
    """The batch sizes the exported model takes (an empty batch is not one of them)."""

    min: Positive
    max: Positive | None = None
    note: str = ""


class SidecarInput(Struct):
    """The exported model's input tensor."""

    name: str
    dtype: str
    layout: str
    shape: list[str | int]
    channels: str
    batch: SidecarBatch | None = None


class SidecarResize(Struct):
    """How a picture is brought to the model's size outside the graph."""

    size: list[Positive]
    mode: str
    how: str = ""


class SidecarNormalization(Struct):
    """The normalisation (inside the graph)."""

    in_graph: bool
    formula: str
    mean: list[float]
    std: list[float]


class SidecarPreprocessing(Struct):
    """Resize, then normalise."""

    resize: SidecarResize
    normalization: SidecarNormalization


class SidecarOutput(Struct):
    """The exported model's output tensor."""

    name: str
    shape: list[str | int]
    meaning: str = ""


class Sidecar(FileSchema):
    """An export's sidecar ``<model file>.json`` (also embedded in the model file)."""

    hint: ClassVar[str] = "export the run again"

    format: str
    version: int
    model_format: str
    file: str
    run: str
    checkpoint: str
    epoch: int
    val_acc: float
    classes: Annotated[list[str], Meta(min_length=1)]
    input: SidecarInput
    preprocessing: SidecarPreprocessing
    output: SidecarOutput
    model: dict[str, Any] = {}
    exported_with: dict[str, str] = {}
    verification: dict[str, Any] = {}


class Settings(FileSchema):
    """The app's ``settings.json`` (the chosen theme, curve smoothing, how endings are told)."""

    hint: ClassVar[str] = "it is ignored; choose the theme again"

    theme: str | UnsetType = UNSET
    smoothing: Annotated[float, Meta(ge=0.0, lt=1.0)] | UnsetType = UNSET
    """The curves' EMA weight (0, 0.6, 0.9 or 0.99)."""
    notify_toast: bool | UnsetType = UNSET
    """Say in the app when a followed run or study ends (default on)."""
    notify_bell: bool | UnsetType = UNSET
    """Ring the terminal bell then (default on)."""
    notify_desktop: bool | UnsetType = UNSET
    """Send the terminal's desktop notification then (default on)."""
    notify_dialect: Literal["auto", "osc9", "osc777"] | UnsetType = UNSET
    """Which desktop notification the terminal speaks (default auto)."""


class DoctorCheck(Struct):
    """One probe of ``vit-tui doctor``."""

    name: str
    status: Literal["pass", "fail", "skip"]
    detail: str = ""
    seconds: float = 0.0


class DoctorFacts(Struct):
    """The facts the doctor's table shows (more may be there)."""

    torch: str
    cuda_runtime: str | None = None


class DoctorReport(FileSchema):
    """``vit-tui doctor --json FILE``: the machine's facts and the probes run on one device."""

    hint: ClassVar[str] = "run vit-tui doctor again"

    device: str
    facts: DoctorFacts
    checks: list[DoctorCheck]
    exit_code: Literal[0, 1]


# --- reading --------------------------------------------------------------------------------


def load(path: str | Path, model: type[M], hint: str | None = None) -> M:
    """Read, parse and validate ``path`` as ``model``; one ``SchemaError`` (naming file and field) if it does not.

    ``hint`` replaces the model's own advice (e.g. to name the run). A missing file is a
    ``SchemaError`` too; callers for which absence is normal check ``is_file`` first.
    """
    return _convert(_read(Path(path), model, hint), Path(path), model, hint)[0]


def load_dict(path: str | Path, model: type[M], hint: str | None = None) -> dict[str, Any]:
    """Like ``load``, but the file's own content as a dict once it validates (every field kept as written)."""
    return _convert(_read(Path(path), model, hint), Path(path), model, hint)[1]


def decode(data: Any, model: type[M], path: str | Path, hint: str | None = None) -> M:
    """Validate already-parsed content (``data``) of ``path`` as ``model``."""
    return _convert(data, Path(path), model, hint)[0]


def _read(path: Path, model: type[FileSchema], hint: str | None) -> Any:
    advice = model.hint if hint is None else hint
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SchemaError(path, "no such file", advice) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SchemaError(path, f"cannot be read ({type(exc).__name__})", advice) from None
    if not text.strip():
        raise SchemaError(path, "is empty", advice)
    if path.suffix == ".toml":
        try:
            return tomllib.loads(text)
        except (tomllib.TOMLDecodeError, RecursionError) as exc:
            raise SchemaError(path, f"is not valid TOML ({_cut(str(exc))})", advice) from None
    try:
        # The standard parser, not msgspec's: json.dumps writes NaN for a diverged loss, and it must read back.
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise SchemaError(path, "is not valid JSON (cut short?)", advice) from None


def _convert(data: Any, path: Path, model: type[M], hint: str | None) -> tuple[M, dict[str, Any]]:
    advice = model.hint if hint is None else hint
    if not isinstance(data, dict):
        shown = json.dumps(data) if _plain(data) else type(data).__name__
        raise SchemaError(path, f"holds {_cut(shown)} instead of an object", advice)
    if model is Manifest:
        _check_manifest_version(data, path, advice)
    try:
        parsed = msgspec.convert(data, model)
    except msgspec.ValidationError as exc:
        field, problem = _plain_problem(str(exc), model)
        raise SchemaError(path, problem, advice, field) from None
    for field, problem in parsed.problems():
        raise SchemaError(path, f'field "{field}" {problem}', advice, field)
    return parsed, data


def _check_manifest_version(data: dict[str, Any], path: Path, advice: str) -> None:
    # A newer manifest may hold fields this version does not know: say so before any field check.
    schema = data.get("schema")
    if isinstance(schema, int) and not isinstance(schema, bool) and schema > NEWEST_MANIFEST:
        raise SchemaError(
            path, f"manifest schema {schema} is not supported (this vit-tui reads {NEWEST_MANIFEST})", "upgrade vit-tui"
        )


# --- messages -------------------------------------------------------------------------------

_KINDS = {
    "float": "a number",
    "int": "a whole number",
    "str": "text",
    "bool": "true or false",
    "null": "null",
    "array": "a list",
    "object": "an object",
}
_AT = re.compile(r" - at `\$(?P<path>[^`]*)`$")


def _plain_problem(message: str, model: type[FileSchema]) -> tuple[str, str]:
    """msgspec's ``Expected `float`, got `str` - at `$.accuracy``` as (field, a plain-words problem)."""
    at = _AT.search(message)
    field = at.group("path").lstrip(".") if at else ""
    text = message[: at.start()] if at else message
    if missing := re.fullmatch(r"Object missing required field `(.+)`", text):
        name = f"{field}.{missing.group(1)}" if field else missing.group(1)
        return name, f'field "{name}" is missing'
    if wrong := re.fullmatch(r"Expected `(.+?)`, got `(.+?)`", text):
        return field, f'field "{field}": expected {_kind(wrong.group(1))}, got {_kind(wrong.group(2))}'
    if bound := re.fullmatch(r"Expected `(.+?)` (.+)", text):
        return field, f'field "{field}": expected {_kind(bound.group(1))} {bound.group(2)}'
    if enum := re.fullmatch(r"Invalid enum value (.+)", text):
        allowed = _choices(model, field)
        suffix = f", not one of {', '.join(allowed)}" if allowed else ""
        return field, f'field "{field}" is {_cut(enum.group(1))}{suffix}'
    return field, f'field "{field}": {_cut(text)}' if field else _cut(text)


def _kind(name: str) -> str:
    if " | " in name:
        return " or ".join(_kind(part) for part in name.split(" | "))
    return _KINDS.get(name, name)


def _choices(model: type[FileSchema], field: str) -> list[str]:
    """The allowed words of a top-level ``Literal`` field (empty for anything else)."""
    hints = typing.get_type_hints(model)
    found = hints.get(field)
    for candidate in (found, *typing.get_args(found)):
        if typing.get_origin(candidate) is Literal:
            return [str(v) for v in typing.get_args(candidate)]
    return []


def _plain(data: Any) -> bool:
    return data is None or isinstance(data, (list, str, int, float, bool)) and not _nan(data)


def _nan(data: Any) -> bool:
    return isinstance(data, float) and not math.isfinite(data)


def _cut(text: str) -> str:
    return text if len(text) <= VALUE_SHOWN else text[: VALUE_SHOWN - 1] + "…"
