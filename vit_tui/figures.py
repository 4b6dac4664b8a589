"""The look every PNG the program writes shares: its resolution, font sizes, and how a figure is made
and saved (Matplotlib's ``Figure`` with Agg: no global pyplot state, safe in worker threads).

Used by the run reports and comparisons, attention maps, study figures and the dataset preview.
"""

from __future__ import annotations

from pathlib import Path

from .files import write_with

FIGURE_DPI = 200
"""Every PNG is written at this resolution (and says so in its pHYs chunk), sharp when printed."""


BASE_FONT_PT = 11


def figure(width: float, height: float):
    """A Matplotlib figure for a PNG export (inches); draw into it, then ``save_figure``."""
    from matplotlib.figure import Figure

    # A bare Figure renders with Agg and touches no global pyplot state (safe in worker threads).
    return Figure(figsize=(width, height), dpi=FIGURE_DPI, layout="constrained")


def readable(fig, base: float = BASE_FONT_PT) -> None:
    """Set every title, label, tick and legend font so the figure reads when pasted at half a page.

    Set per element rather than through rcParams: those are global, and exports run in worker threads.
    """
    if fig._suptitle is not None:
        fig._suptitle.set_fontsize(base + 2)
    for ax in fig.axes:
        ax.title.set_fontsize(base + 1)
        ax.xaxis.label.set_fontsize(base)
        ax.yaxis.label.set_fontsize(base)
        ax.tick_params(labelsize=base - 1)
        legend = ax.get_legend()
        if legend is not None:
            for text in legend.get_texts():
                text.set_fontsize(base - 1)


def epoch_axis(ax) -> None:
    """Label the x axis 'epoch' with whole-number ticks."""
    from matplotlib.ticker import MaxNLocator

    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def save_figure(fig, path: Path) -> Path:
    """Write ``fig`` as a PNG at ``FIGURE_DPI``, all or nothing."""
    readable(fig)
    write_with(path, lambda handle: fig.savefig(handle, format="png", dpi=FIGURE_DPI))
    return path
