"""Modal dialogs: keys help, the quit question while training, failures, the demo offer."""

from __future__ import annotations

from pathlib import Path

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Label, Static


class HelpScreen(ModalScreen[None]):
    """The keys of the screen underneath, then the app-wide keys."""

    BINDINGS = [Binding("escape,q,question_mark,f1", "dismiss", "Close")]

    def __init__(self, screen: Screen) -> None:
        super().__init__(classes="modal")
        self.target = screen

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog help-dialog"):
            yield Label(f"Keys · {self.target.title or self.target.name or 'screen'}", classes="dialog-title")
            with VerticalScroll():
                yield Static(self._keys_table(), id="help-keys")
            yield Label("esc closes", classes="dialog-hint")

    @property
    def rows(self) -> list[tuple[str, str]]:
        """(key, what it does) for every key listed."""
        rows = [(self.app.get_key_display(b), b.tooltip or b.description) for b in _screen_bindings(self.target)]
        return rows + [
            ("ctrl+p", "command palette: every action, settings, themes"),
            ("ctrl+q", "quit (asks first while training)"),
            ("tab / shift+tab", "move between fields and panels"),
        ]

    def _keys_table(self) -> Table:
        table = Table(box=None, show_header=False, padding=(0, 2, 0, 0))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for key, description in self.rows:
            table.add_row(key, description)
        return table


def _screen_bindings(screen: Screen) -> list[Binding]:
    """The screen's own keys first, then the ones it inherits (screen switching, help)."""
    found: list[Binding] = []
    for cls in type(screen).__mro__:
        for binding in cls.__dict__.get("BINDINGS", []):
            if isinstance(binding, Binding) and binding.description and binding not in found:
                found.append(binding)
    return found


STUDY_STOP_TEXT = (
    "s: stop it; the run in progress saves a checkpoint, finished runs are kept\n"
    "   (start the same study again to continue it)\n"
    "esc: keep it running"
)


class QuitWhileTraining(ModalScreen[str]):
    """Training is running: stop and save, detach and keep running, or stay.

    A study started from the app asks the same question without detach (``study=True``).
    """

    BINDINGS = [
        Binding("s", "choose('stop')", "Stop and save"),
        Binding("d", "choose('detach')", "Detach"),
        Binding("escape,c", "choose('cancel')", "Cancel"),
    ]

    def __init__(self, study: bool = False) -> None:
        super().__init__()
        self.study = study

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("A study is running" if self.study else "Training is running", classes="dialog-title")
            yield Static(
                STUDY_STOP_TEXT
                if self.study
                else "s: stop it and save a checkpoint (resume it later from Runs)\n"
                "d: detach: it keeps training in its own process after the app closes\n"
                "esc: stay in the app"
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button("Stop and save", id="stop", variant="warning")
                if not self.study:
                    yield Button("Detach", id="detach", variant="primary")
                yield Button("Cancel", id="cancel")

    def action_choose(self, choice: str) -> None:
        if choice == "detach" and self.study:
            return  # a study runs in the app's worker; it cannot go on without the app
        self.dismiss(choice)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id or "cancel")


class FailureScreen(ModalScreen[None]):
    """Something failed: the message, and the run folder when there is one."""

    BINDINGS = [Binding("escape,enter,q", "dismiss", "Close")]

    def __init__(self, title: str, message: str, run_dir: Path | None = None) -> None:
        super().__init__(classes="modal")
        self.title_text = title
        self.message = message
        self.run_dir = run_dir

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog failure-dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Static(self.message, id="failure-message")
            if self.run_dir is not None:
                yield Static(f"run folder: {self.run_dir}", id="failure-run-dir")
            yield Label("enter or esc closes", classes="dialog-hint")


class DemoOffer(ModalScreen[bool]):
    """No dataset yet: one key makes the built-in demo set."""

    BINDINGS = [
        Binding("d,enter", "answer(True)", "Make the demo set"),
        Binding("escape,n", "answer(False)", "Not now"),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("No dataset yet", classes="dialog-title")
            yield Static(
                "Press d to make the demo set: five classes of drawn 64x64 shapes, made here without "
                "a download. Then press 3 and t to train. You can build from COCO or import a folder "
                "on the Data screen at any time."
            )
            with Horizontal(classes="dialog-buttons"):
                yield Button("Make demo set (d)", id="yes", variant="primary")
                yield Button("Not now", id="no")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")
