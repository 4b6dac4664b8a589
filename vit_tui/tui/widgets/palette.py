"""Colours for rich renderables, read from the running app's theme variables.

Rich tables and plotext charts are not styled by the stylesheet, so they take their colours
from the theme here; nothing outside the theme is hard-coded.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import App
from textual.color import Color


@dataclass(frozen=True)
class Palette:
    """The handful of theme colours that charts and tables need, as hex strings."""

    foreground: str
    background: str
    muted: str
    primary: str
    accent: str
    secondary: str
    success: str
    error: str
    warning: str

    def series(self) -> list[str]:
        """Colours for successive lines of a chart."""
        return [self.primary, self.accent, self.secondary, self.success, self.error, self.warning]


def palette_of(app: App) -> Palette:
    """The current theme's palette."""
    v = app.theme_variables

    def pick(name: str, fallback: str) -> str:
        return Color.parse(v.get(name) or v.get(fallback) or "#888888").hex

    foreground = pick("foreground", "text")
    background = pick("background", "surface")
    muted = Color.parse(background).blend(Color.parse(foreground), 0.55).hex
    return Palette(
        foreground=foreground,
        background=background,
        muted=muted,
        primary=pick("primary", "foreground"),
        accent=pick("accent", "primary"),
        secondary=pick("secondary", "primary"),
        success=pick("success", "primary"),
        error=pick("error", "accent"),
        warning=pick("warning", "accent"),
    )


def blend(base: str, target: str, amount: float) -> str:
    """``base`` moved ``amount`` (0..1) of the way to ``target``, as hex."""
    amount = min(1.0, max(0.0, amount))
    return Color.parse(base).blend(Color.parse(target), amount).hex


def rgb(colour: str) -> tuple[int, int, int]:
    """A hex colour as an (r, g, b) tuple (plotext takes these)."""
    c = Color.parse(colour)
    return (c.r, c.g, c.b)


def readable_on(background: str, light: str, dark: str) -> str:
    """``light`` or ``dark`` text, whichever reads better on ``background``."""
    return dark if Color.parse(background).brightness > 0.55 else light
