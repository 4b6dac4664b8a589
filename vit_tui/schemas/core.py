"""The reader of every file vit-tui reads back: ``load`` parses and validates one file and raises one
``SchemaError`` whose line names the file and the field, e.g.::

    runs/a/evaluation.json: field "accuracy": expected a number, got text; <what to do>

The schemas themselves live beside this module, one module per family of files (runs, datasets,
studies, exports, settings); each is a ``FileSchema``. Unknown fields are allowed, so files
written by a newer vit-tui still read. msgspec rather than pydantic: importing it and making a
first model costs about 20 ms here against about 110 ms, and ``vit-tui runs``, ``compare`` and
``attach`` read these files and should start at once. Headless: no torch, textual or rich.
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
from msgspec import Meta, Struct

from ..errors import UserError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

M = TypeVar("M", bound="FileSchema")
VALUE_SHOWN = 40
"""Values quoted in a message are cut to this many characters."""

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

    @classmethod
    def refusal(cls, data: dict[str, Any]) -> tuple[str, str] | None:
        """(problem, hint) that refuses the whole file before any field is checked, e.g. a newer version."""
        return None

    def problems(self) -> list[tuple[str, str]]:
        """(field, what is wrong) for what types alone cannot say, e.g. a matrix's shape."""
        return []


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
    refused = model.refusal(data)
    if refused is not None:
        raise SchemaError(path, *refused)
    try:
        parsed = msgspec.convert(data, model)
    except msgspec.ValidationError as exc:
        field, problem = _plain_problem(str(exc), model)
        raise SchemaError(path, problem, advice, field) from None
    for field, problem in parsed.problems():
        raise SchemaError(path, f'field "{field}" {problem}', advice, field)
    return parsed, data


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
