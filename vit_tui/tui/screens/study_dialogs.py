"""The dialog that starts the course experiment (``study.api.reproduce``) from the Runs screen.

It asks for the dataset (one of the home's datasets, or a COCO root to build the reference set
from), the seeds and the epochs, checks them the way ``vit-tui reproduce`` does, and returns the
keyword arguments for ``reproduce``; the screen starts it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from ...errors import UserError
from ...study.plan import parse_seeds


class ReproduceDialog(ModalScreen[dict | None]):
    """Dataset (or COCO root), seeds and epochs for the course experiment; dismissed with reproduce's arguments."""

    DEFAULT_CSS = """
    ReproduceDialog .dialog {
        width: 72;
        max-width: 100%;
    }
    ReproduceDialog .study-field {
        height: auto;
    }
    ReproduceDialog .study-field Label {
        width: 12;
    }
    ReproduceDialog .study-field Input, ReproduceDialog .study-field Select {
        width: 1fr;
    }
    ReproduceDialog #reproduce-about {
        margin-bottom: 1;
    }
    ReproduceDialog #reproduce-problem {
        color: $error;
        height: auto;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, datasets: list[Path], home: Path) -> None:
        super().__init__(classes="modal")
        self.datasets = datasets
        self.home = home

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Reproduce the course experiment", classes="dialog-title")
            yield Static(
                "Trains reference and reference-einsum on the same data for every seed, then writes the "
                "loss, accuracy and confusion figures and comparison.md.",
                id="reproduce-about",
            )
            with Horizontal(classes="study-field"):
                yield Label("dataset")
                yield Select(
                    [(p.name, str(p)) for p in self.datasets], prompt="a dataset of this home", compact=True,
                    id="reproduce-data", value=str(self.datasets[0]) if self.datasets else Select.NULL,
                )
            with Horizontal(classes="study-field"):
                yield Label("or COCO")
                yield Input(placeholder="COCO root: builds the 5-class reference set", compact=True, id="reproduce-coco")
            with Horizontal(classes="study-field"):
                yield Label("seeds")
                yield Input("1", compact=True, id="reproduce-seeds", tooltip="comma-separated, e.g. 1,2,3")
            with Horizontal(classes="study-field"):
                yield Label("epochs")
                yield Input(placeholder="the presets' own", compact=True, id="reproduce-epochs")
            yield Static("", id="reproduce-problem")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Start", id="reproduce-start", variant="primary", compact=True)
                yield Button("Cancel", id="reproduce-cancel", compact=True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "reproduce-start":
            self.action_start()
        else:
            self.dismiss(None)

    def on_input_submitted(self) -> None:
        self.action_start()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_start(self) -> None:
        """Check the fields; dismiss with reproduce's keyword arguments, or say what is wrong."""
        try:
            options = self.options()
        except UserError as exc:
            self.query_one("#reproduce-problem", Static).update(str(exc))
            return
        self.dismiss(options)

    def options(self) -> dict[str, Any]:
        """``data`` or ``coco``, ``seeds`` and ``epochs`` as ``reproduce`` takes them (UserError naming the field)."""
        coco = self.query_one("#reproduce-coco", Input).value.strip()
        dataset = self.query_one("#reproduce-data", Select).value
        try:
            options: dict[str, Any] = {"seeds": parse_seeds(self.query_one("#reproduce-seeds", Input).value)}
        except UserError as exc:  # named as the field here, not as the command-line option
            raise UserError("seeds", exc.why) from None
        if coco:
            path = Path(coco).expanduser()
            options["coco"] = path if path.is_absolute() else self.home / path
        elif isinstance(dataset, str):
            options["data"] = Path(dataset)
        else:
            raise UserError("dataset", "choose one of the home's datasets, or give a COCO root to build from")
        epochs = self.query_one("#reproduce-epochs", Input).value.strip()
        if epochs:
            if not epochs.isdigit() or int(epochs) < 1:
                raise UserError("epochs", f"expected a whole number of 1 or more, got {epochs!r}; or leave it empty")
            options["epochs"] = int(epochs)
        return options
