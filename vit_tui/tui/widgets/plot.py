"""Line charts drawn with plotext into a Static, sized to the widget and coloured by the theme.

plotext keeps one global figure, so charts are only ever built on the UI thread. Every chart
follows the app's ``smoothing`` reactive: its lines are drawn through ``engine.telemetry.smoothing.ema``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import plotext as plt
from rich.console import Group
from rich.text import Text
from textual.widgets import Static

from ...engine.telemetry.smoothing import ema
from .palette import Palette, palette_of, rgb


@dataclass(frozen=True)
class Series:
    """One line: its label, x values and y values (NaN points are skipped)."""

    label: str
    x: Sequence[float]
    y: Sequence[float]
    dashed: bool = False


def _theme_name(palette: Palette) -> str:
    # Registering is cheap and idempotent; no canvas colour keeps the widget's own background.
    name = f"vit-{palette.muted}"
    plt.add_theme(name, canvas=None, text=rgb(palette.muted))
    return name


def render_chart(
    series: Sequence[Series],
    width: int,
    height: int,
    palette: Palette,
    *,
    title: str = "",
    xlabel: str = "",
    smoothing: float = 0.0,
) -> Group | Text:
    """The chart as rich renderables: the plotext canvas then a coloured legend line (lines smoothed by ``smoothing``)."""
    drawable = [s for s in series if any(not math.isnan(v) for v in s.y)]
    if smoothing:
        drawable = [Series(s.label, s.x, ema(s.y, smoothing), s.dashed) for s in drawable]
        title = f"{title} · smoothed {smoothing:g}" if title else f"smoothed {smoothing:g}"
    if width < 20 or height < 5 or not drawable:
        return Text(title + ("\n(no data yet)" if title else "(no data yet)"), style=palette.muted)
    fig = plt.figure
    fig.clear()
    fig.plot_size(width, height - 1)
    fig.theme(_theme_name(palette))
    colours = palette.series()
    legend = Text()
    for index, line in enumerate(drawable):
        colour = colours[index % len(colours)]
        points = [(x, y) for x, y in zip(line.x, line.y) if not math.isnan(y)]
        marker = plt.marker("braille", pixel=plt.pixel(foreground=rgb(colour)))
        signal = fig.signal([p[0] for p in points], [p[1] for p in points], marker=marker)
        signal.lines()
        fig.draw(signal)
        legend.append(" ━" if not line.dashed else " ╍", style=colour)
        legend.append(f" {line.label}", style=palette.foreground)
    fig.legend(False)
    if title:
        fig.title(title)
    if xlabel:
        fig.label(xlabel, axis=0)
    xs = sorted({x for line in drawable for x in line.x})
    if xs and all(float(x).is_integer() for x in xs):
        # Whole-number x (epochs): ticks on whole numbers only, at most ~one per 8 columns.
        step = max(1, math.ceil(len(xs) / max(1, width // 8)))
        fig.ruler(axis=0).ticks([x for x in xs[::step]], [str(int(x)) for x in xs[::step]])
    canvas = Text.from_ansi(fig.build().string().rstrip("\n"), no_wrap=True)
    return Group(canvas, legend)


class ChartView(Static):
    """A chart that redraws itself to fit its size and the current theme."""

    DEFAULT_CSS = """
    ChartView { height: 1fr; min-height: 6; }
    """

    def __init__(self, title: str = "", xlabel: str = "", *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__("", id=id, classes=classes)
        self.title = title
        self.xlabel = xlabel
        self.series: list[Series] = []
        self.smoothing = 0.0

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self.redraw())
        if hasattr(type(self.app), "smoothing"):
            self.watch(self.app, "smoothing", self._smooth, init=False)
            self.smoothing = self.app.smoothing
        self.redraw()

    def _smooth(self, weight: float) -> None:
        self.smoothing = weight
        self.redraw()

    def set_series(self, series: Sequence[Series], title: str | None = None) -> None:
        """Replace the lines drawn."""
        self.series = list(series)
        if title is not None:
            self.title = title
        self.redraw()

    def on_resize(self) -> None:
        self.redraw()

    def redraw(self) -> None:
        """Draw again at the current size."""
        if not self.is_mounted:
            return
        width, height = self.content_size.width, self.content_size.height
        self.update(
            render_chart(
                self.series,
                width,
                height,
                palette_of(self.app),
                title=self.title,
                xlabel=self.xlabel,
                smoothing=self.smoothing,
            )
        )
