"""The base of the main screens: keys 1-5 first in the footer, then ``?``, then the screen's own.

Each screen has ``tasks`` (``tui.tasks.Tasks``), the app's one way of running blocking work.

Layout follows the terminal's width one way: Textual's horizontal breakpoints give the screen one
class per width band (``-narrow``, ``-wide``; a screen may add a wider band of its own) and the
screens' stylesheets have a rule per class. Only widgets that redraw their own content (the runs
table fitting its columns) handle resizes themselves.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual.binding import Binding, BindingType
from textual.screen import Screen

from ..tasks import Tasks

WIDTH_BREAKPOINTS: list[tuple[int, str]] = [(0, "-narrow"), (110, "-wide")]
"""The app's width bands: from 110 columns the train screen's table and charts stand side by side."""

NAV_BINDINGS: list[BindingType] = [
    Binding("1", "app.goto('data')", "Data"),
    Binding("2", "app.goto('model')", "Model"),
    Binding("3", "app.goto('train')", "Train"),
    Binding("4", "app.goto('evaluate')", "Eval"),
    Binding("5", "app.goto('runs')", "Runs"),
    Binding("f1,question_mark", "app.help", "Keys", key_display="?"),
    Binding("escape", "leave_field", "Leave the field (then 1-5 switch screens)", show=False),
]


class VitScreen(Screen):
    """A main screen; subclasses list their own keys in ``BINDINGS`` (shown after these)."""

    BINDINGS: ClassVar[list[BindingType]] = NAV_BINDINGS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.tasks = Tasks(self)
        """The screen's background tasks (each result comes back as its own message)."""

    def action_leave_field(self) -> None:
        """Take the focus off a text field, so single-key shortcuts work again."""
        self.set_focus(None)
