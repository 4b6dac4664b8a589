"""Reading and writing settings: values from ``--set`` or a form, nested dicts, and TOML files.

One set of key names (``section.key``) is shared by TOML files, ``--set section.key=value``
overrides, the TUI form and the docs. Every value is coerced to its field's type here, so a
bad one is a ``ConfigError`` naming its key.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import sys
import typing
from dataclasses import replace
from pathlib import Path
from typing import Any

from .. import files
from .schema import SECTION_TYPES, SECTIONS, ConfigError, RunConfig, all_keys, section_fields

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

# --- values -----------------------------------------------------------------------------------

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _field_type(section: str, name: str) -> Any:
    return typing.get_type_hints(SECTION_TYPES[section])[name]


def coerce(key: str, value: Any) -> Any:
    """Turn ``value`` (a string from ``--set`` or a form, or a TOML value) into the key's type."""
    section, name = _split_key(key)
    kind = _field_type(section, name)
    try:
        return _coerce_to(kind, value)
    except (TypeError, ValueError):
        raise ConfigError(key, f"cannot read {value!r} as {_type_name(kind)}") from None


def _type_name(kind: Any) -> str:
    if kind is bool:
        return "true or false"
    if kind is int:
        return "a whole number"
    if kind is float:
        return "a number"
    if kind is str:
        return "text"
    if kind == tuple[str, ...]:
        return "names separated by commas"
    return "two numbers like 0.9,0.999"


def _coerce_to(kind: Any, value: Any) -> Any:
    if kind is bool:
        return _boolean(value)
    if kind is int:
        return _whole_number(value)
    if kind is float:
        if isinstance(value, bool):
            raise ValueError(value)
        return float(str(value).strip()) if isinstance(value, str) else float(value)
    if kind is str:
        if not isinstance(value, str):
            raise ValueError(value)
        return value.strip()
    if kind == tuple[str, ...]:
        return _names(value)
    return _number_pair(value)


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(value)


def _whole_number(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(value)
        return int(value)
    return int(str(value).strip().replace("_", ""))


def _number_pair(value: Any) -> tuple[float, float]:
    """Two numbers from TOML or from text like ``0.9,0.999`` (brackets allowed)."""
    items = value
    if isinstance(value, str):
        items = [v for v in value.strip().strip("()[]").split(",") if v.strip()]
    pair = tuple(float(v) for v in items)
    if len(pair) != 2:
        raise ValueError(value)
    return pair  # type: ignore[return-value]


def _names(value: Any) -> tuple[str, ...]:
    """A list of names from TOML, or from text like ``a,b`` (quotes and brackets, as a form shows them, allowed)."""
    items = value.strip().strip("()[]").split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(v, str) for v in items):
        raise ValueError(value)
    return tuple(name for name in (v.strip().strip("'\"").strip() for v in items) if name)


def _split_key(key: str) -> tuple[str, str]:
    section, _, name = key.partition(".")
    if section not in SECTIONS or name not in {f.name for f in section_fields(section)}:
        close = difflib.get_close_matches(key, all_keys(), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; known keys: {', '.join(all_keys())}"
        raise ConfigError(key, "unknown setting" + hint)
    return section, name


# --- building configs -------------------------------------------------------------------------


def with_value(cfg: RunConfig, key: str, value: Any) -> RunConfig:
    """A copy of ``cfg`` with one dotted key set (value coerced to the key's type)."""
    section, name = _split_key(key)
    new_section = replace(getattr(cfg, section), **{name: coerce(key, value)})
    return replace(cfg, **{section: new_section})


def apply_overrides(cfg: RunConfig, overrides: list[str]) -> RunConfig:
    """Apply ``section.key=value`` strings in order."""
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(item.strip() or "--set", "expected section.key=value, e.g. model.heads=4")
        cfg = with_value(cfg, key.strip(), value)
    return cfg


def from_dict(raw: dict[str, Any]) -> RunConfig:
    """Build a config from nested dicts (as read from TOML); unknown keys are errors."""
    cfg = RunConfig()
    for top, value in raw.items():
        if top == "preset":
            cfg = replace(cfg, preset=str(value))
            continue
        if top not in SECTIONS or not isinstance(value, dict):
            raise ConfigError(top, f"unknown section; expected one of {', '.join(SECTIONS)} or preset")
        for name, item in value.items():
            cfg = with_value(cfg, f"{top}.{name}", item)
    return cfg


def to_dict(cfg: RunConfig) -> dict[str, Any]:
    """Nested plain dicts (tuples become lists), the shape written to TOML."""
    out: dict[str, Any] = {"preset": cfg.preset}
    for section in SECTIONS:
        out[section] = {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(getattr(cfg, section)).items()
        }
    return out


def get_value(cfg: RunConfig, key: str) -> Any:
    """The value of one dotted key."""
    section, name = _split_key(key)
    return getattr(getattr(cfg, section), name)


def config_diff(cfg: RunConfig, base: RunConfig) -> list[tuple[str, Any, Any]]:
    """``(key, value in cfg, value in base)`` for every key whose value differs, in ``all_keys`` order."""
    return [
        (key, get_value(cfg, key), get_value(base, key))
        for key in all_keys()
        if get_value(cfg, key) != get_value(base, key)
    ]


# --- TOML -------------------------------------------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def dumps(cfg: RunConfig) -> str:
    """The config as TOML text, one table per section."""
    data = to_dict(cfg)
    lines = [f"preset = {_toml_value(data['preset'])}", ""]
    for section in SECTIONS:
        lines.append(f"[{section}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in data[section].items()]
        lines.append("")
    return "\n".join(lines)


def loads(text: str, source: str = "config") -> RunConfig:
    """Parse TOML text into a config."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, f"not valid TOML ({exc})") from None
    except RecursionError:
        # The parser recurses once per nested array or inline table; no config nests more than two.
        raise ConfigError(source, "not valid TOML (nested too deep: arrays or tables inside one another)") from None
    return from_dict(raw)


def load(path: str | os.PathLike) -> RunConfig:
    """Read a TOML config file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), "config file not found; check the path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), f"cannot read config file ({exc})") from None
    return loads(text, source=str(path))


def save(cfg: RunConfig, path: str | os.PathLike) -> None:
    """Write the config as TOML, all or nothing (see ``vit_tui.files``)."""
    files.write_text(Path(path), dumps(cfg))
