"""Theme files: TOML files in the package's ``themes`` folder, turned into Textual themes.

Each file holds the fields of ``textual.theme.Theme`` (``name``, ``primary``, ``dark``...)
plus an optional ``[variables]`` table. The folder is the top-level ``themes/`` of a source
checkout, shipped inside the wheel as ``vit_tui/themes``.
"""

from __future__ import annotations

import sys
from dataclasses import fields
from pathlib import Path

from textual.theme import Theme

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_THEME = "vit-dark"
_THEME_FIELDS = {f.name for f in fields(Theme)}


def themes_folder() -> Path:
    """The folder of theme files: inside the installed package, or the checkout's ``themes/``."""
    package_root = Path(__file__).resolve().parents[1]
    installed = package_root / "themes"
    if installed.is_dir():
        return installed
    return package_root.parent / "themes"


def load_theme_file(path: Path) -> Theme:
    """One theme file as a Theme; unknown keys are ignored so newer files still load."""
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    raw.setdefault("name", path.stem)
    return Theme(**{k: v for k, v in raw.items() if k in _THEME_FIELDS})


def load_themes(folder: Path | None = None) -> list[Theme]:
    """Every ``*.toml`` theme in the folder, sorted by file name; broken files are skipped."""
    folder = folder or themes_folder()
    themes = []
    for path in sorted(folder.glob("*.toml")):
        try:
            themes.append(load_theme_file(path))
        except (OSError, ValueError, TypeError, RecursionError):  # RecursionError: nested too deep
            continue
    return themes
