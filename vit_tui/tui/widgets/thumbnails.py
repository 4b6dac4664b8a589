"""Image thumbnails that render in any terminal with the upper half-block character.

Each character cell shows two pixels: the upper one as the foreground colour of ``▀`` and
the lower one as the background. Where the optional ``textual-image`` package is installed
and the terminal speaks a graphics protocol, ``image_widget`` uses it for full resolution.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image
from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.style import Style
from textual.widget import Widget
from textual.widgets import Static


def load_rgb(source: str | Path | np.ndarray | Image.Image) -> Image.Image:
    """An RGB PIL image from a path, an (H, W, 3) uint8 array or an image."""
    if isinstance(source, Image.Image):
        return source.convert("RGB")
    if isinstance(source, np.ndarray):
        return Image.fromarray(np.ascontiguousarray(source.astype(np.uint8))).convert("RGB")
    with Image.open(source) as img:
        return img.convert("RGB")


class HalfBlocks:
    """A rich renderable drawing an image ``width`` cells wide and ``height`` cells tall."""

    def __init__(self, image: Image.Image, width: int, height: int) -> None:
        self.width = max(1, width)
        self.height = max(1, height)
        small = image.convert("RGB").resize((self.width, self.height * 2), Image.Resampling.BILINEAR)
        self.pixels = np.asarray(small, dtype=np.uint8)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        rows = self.pixels
        for y in range(0, rows.shape[0], 2):
            top, bottom = rows[y], rows[y + 1]
            for (r1, g1, b1), (r2, g2, b2) in zip(top.tolist(), bottom.tolist()):
                style = Style(color=f"rgb({r1},{g1},{b1})", bgcolor=f"rgb({r2},{g2},{b2})")
                yield Segment("▀", style)
            yield Segment.line()


class Thumbnail(Static):
    """A half-block picture of an image, fitted to the widget's size (square pixels)."""

    def __init__(self, source: str | Path | np.ndarray | Image.Image | None = None, **kwargs) -> None:
        super().__init__("", **kwargs)
        self._image: Image.Image | None = load_rgb(source) if source is not None else None

    def set_image(self, source: str | Path | np.ndarray | Image.Image | None) -> None:
        """Show another image (``None`` empties the thumbnail)."""
        self._image = load_rgb(source) if source is not None else None
        self._redraw()

    def on_resize(self) -> None:
        self._redraw()

    def _redraw(self) -> None:
        if self._image is None:
            self.update("")
            return
        width, height = self.content_size.width, self.content_size.height
        if width <= 0 or height <= 0:
            return
        # A cell is about twice as tall as wide, and holds two pixel rows: keep the image square.
        side = min(width, height * 2)
        self.update(HalfBlocks(self._image, side, max(1, side // 2)))


def graphics_available() -> bool:
    """True when the optional ``textual-image`` package can draw real pixels here."""
    if os.environ.get("VIT_TUI_NO_GRAPHICS"):
        return False
    try:
        import textual_image.widget  # noqa: F401
    except ImportError:
        return False
    return True


def image_widget(source: str | Path, **kwargs) -> Widget:
    """The best thumbnail widget for this terminal: graphics protocol if possible, else half blocks."""
    if graphics_available():
        from textual_image.widget import Image as GraphicsImage

        return GraphicsImage(str(source), **kwargs)
    return Thumbnail(source, **kwargs)
