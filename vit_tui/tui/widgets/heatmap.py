"""An attention heat map over an image, drawn with half blocks (two pixels per cell), and its legend.

The map is one value per patch (a grid summing to 1); each patch is drawn as a flat square of
colour from 0 (dark) to the map's own maximum (bright), laid over the image as the exported
figures do, so a glance in the terminal reads like the PNG.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from .thumbnails import HalfBlocks, load_rgb

# Stops of matplotlib's "inferno" colour map, the one the attention figures use.
INFERNO_STOPS = np.array(
    [
        [0, 0, 4],
        [40, 11, 84],
        [101, 21, 110],
        [159, 42, 99],
        [212, 72, 66],
        [245, 125, 21],
        [250, 193, 39],
        [252, 255, 164],
    ],
    dtype=np.float64,
)
HEAT_OPACITY = 0.65
"""How much of each cell is the heat colour (the rest is the image): the figures' overlay alpha."""


def inferno(values: np.ndarray) -> np.ndarray:
    """RGB uint8 (..., 3) for values in [0, 1], interpolated between the colour map's stops."""
    position = np.clip(values, 0.0, 1.0) * (len(INFERNO_STOPS) - 1)
    low = np.floor(position).astype(int).clip(0, len(INFERNO_STOPS) - 2)
    fraction = (position - low)[..., None]
    return (INFERNO_STOPS[low] * (1 - fraction) + INFERNO_STOPS[low + 1] * fraction).round().astype(np.uint8)


def heat_overlay(image: Image.Image, grid: np.ndarray, width: int, height: int) -> Image.Image:
    """The image resized to ``width`` x ``height`` pixels with the grid's colours laid over it."""
    pixels = np.asarray(image.convert("RGB").resize((width, height), Image.Resampling.BILINEAR), dtype=np.float64)
    top = float(grid.max()) or 1.0
    # Nearest: one flat square per patch, the resolution the model attends at.
    rows = (np.arange(height) * grid.shape[0] // height).clip(0, grid.shape[0] - 1)
    columns = (np.arange(width) * grid.shape[1] // width).clip(0, grid.shape[1] - 1)
    heat = inferno(grid[np.ix_(rows, columns)] / top).astype(np.float64)
    blended = (1 - HEAT_OPACITY) * pixels + HEAT_OPACITY * heat
    return Image.fromarray(blended.round().clip(0, 255).astype(np.uint8))


class HeatMapImage(Static):
    """The overlay itself, fitted to the widget's size with square pixels."""

    def __init__(self, **kwargs) -> None:
        super().__init__("", **kwargs)
        self._image: Image.Image | None = None
        self._grid: np.ndarray | None = None

    def show(self, image: Image.Image | None, grid: np.ndarray | None) -> None:
        self._image, self._grid = image, grid
        self._redraw()

    def on_resize(self) -> None:
        self._redraw()

    def _redraw(self) -> None:
        width, height = self.content_size.width, self.content_size.height
        if self._image is None or self._grid is None or width <= 0 or height <= 0:
            self.update("")
            return
        side = min(width, height * 2)
        rows = max(1, side // 2)
        self.update(HalfBlocks(heat_overlay(self._image, self._grid, side, rows * 2), side, rows))


class AttentionHeatMap(Vertical):
    """The rollout over a sample, and one legend line saying what the map shows for this variant."""

    DEFAULT_CSS = """
    AttentionHeatMap {
        height: auto;
        width: 1fr;
    }
    AttentionHeatMap > HeatMapImage {
        height: 8;
        width: 16;
    }
    AttentionHeatMap > .heat-legend {
        height: auto;
        color: $text-muted;
    }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.grid: np.ndarray | None = None
        """The patch grid shown (rows x columns, summing to 1), or None."""
        self.legend = ""

    def compose(self) -> ComposeResult:
        yield HeatMapImage()
        yield Static("", classes="heat-legend", markup=False)

    def show_map(self, image, grid: np.ndarray, legend: str) -> None:
        """Lay ``grid`` over ``image`` (a path, an array or a PIL image) and say what it shows."""
        self.grid, self.legend = grid, legend
        self.query_one(HeatMapImage).show(load_rgb(image), grid)
        self.query_one(".heat-legend", Static).update(f"{legend} · max {float(grid.max()):.3f}")

    def show_message(self, text: str) -> None:
        """No map: say why (computing, no sample, a failure) on the legend line."""
        self.grid, self.legend = None, ""
        self.query_one(HeatMapImage).show(None, None)
        self.query_one(".heat-legend", Static).update(text)
