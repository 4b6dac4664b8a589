"""A footer that fits its width: keys that would run past the edge are left out rather than cut.

The command palette's key (ctrl+p still opens it) goes first, then the screen's own keys from the
last; the keys 1-5 and ``?`` stay, and ``?`` lists every key of the screen. Screens list their
keys most useful first, so a narrow terminal keeps those.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

KEY_GAP = 2
"""A compact footer key takes its key, a space, its description and a margin of one."""
PALETTE_EXTRA = 2
"""The palette key's border and padding."""


def key_width(key: FooterKey) -> int:
    """The columns one compact footer key takes."""
    return len(key.key_display) + len(key.description) + KEY_GAP


def fitting(keys: list[FooterKey], width: int, kept: int) -> list[FooterKey]:
    """The keys that fit in ``width`` columns: the palette key dropped first, then keys from the end (the first ``kept`` stay)."""
    palette = [k for k in keys if k.has_class("-command-palette")]
    plain = [k for k in keys if not k.has_class("-command-palette")]
    total = sum(key_width(k) for k in plain)
    palette_width = sum(key_width(k) + PALETTE_EXTRA for k in palette)
    if total + palette_width <= width:
        return keys
    while total > width and len(plain) > kept:
        total -= key_width(plain.pop())
    return plain


class FittingFooter(Footer):
    """``Footer(compact=True)`` that leaves out the keys that do not fit instead of cutting the last."""

    KEPT = 6
    """The navigation keys 1-5 and ``?``, never left out."""

    def __init__(self) -> None:
        super().__init__(compact=True)
        self._width = 0

    def compose(self) -> ComposeResult:
        keys = list(super().compose())
        width = self.size.width or self.app.size.width
        self._width = width
        yield from _only(keys, fitting([k for k in keys if isinstance(k, FooterKey)], width, self.KEPT))

    def on_resize(self) -> None:
        if self.size.width != self._width and self._bindings_ready:
            self.call_after_refresh(self.recompose)


def _only(widgets: Iterable[Widget], keep: list[FooterKey]) -> Iterable[Widget]:
    kept = {id(k) for k in keep}
    return (w for w in widgets if not isinstance(w, FooterKey) or id(w) in kept)
