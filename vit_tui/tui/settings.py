"""Small user settings remembered between sessions (the chosen theme).

Stored as JSON under the user's config folder: ``$VIT_TUI_CONFIG_DIR`` when set (tests point it
at a temporary folder), else ``$XDG_CONFIG_HOME/vit-tui``, else ``~/.config/vit-tui``.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from .. import schemas
from ..files import write_text

SETTINGS_ENV = "VIT_TUI_CONFIG_DIR"


def settings_dir() -> Path:
    """The folder holding ``settings.json``."""
    explicit = os.environ.get(SETTINGS_ENV)
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = Path(xdg) if xdg else Path.home() / ".config"
    return base / "vit-tui"


def settings_path() -> Path:
    """Where the settings file lives."""
    return settings_dir() / "settings.json"


def load_settings() -> dict[str, Any]:
    """The saved settings; an absent, unreadable or damaged file counts as no settings."""
    try:
        return schemas.load_dict(settings_path(), schemas.Settings)
    except schemas.SchemaError:
        return {}


def save_setting(key: str, value: Any) -> None:
    """Remember one setting; a read-only config folder is not worth crashing the app for."""
    current = load_settings()
    current[key] = value
    with contextlib.suppress(OSError):
        write_text(settings_path(), json.dumps(current, indent=2, sort_keys=True) + "\n")
