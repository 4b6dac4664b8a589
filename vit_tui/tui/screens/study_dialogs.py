"""The dialogs that start a study from the Runs screen: the course experiment and a sweep.

``ReproduceDialog`` asks for the dataset (one of the home's datasets, or a COCO root to build the
reference set from), the seeds and the epochs, checks them the way ``vit-tui reproduce`` does, and
returns the keyword arguments for ``reproduce``. ``SweepDialog`` asks for the base config, the grid,
the seeds and the devices and checks the whole plan as ``vit-tui sweep`` does. The screen starts them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Select, Static

from ...errors import UserError
from ...study.plan import parse_seeds


class StudyDialog(ModalScreen[dict | None]):
    """What both study dialogs share: Start checks the fields through ``options`` and closes with
    them, or shows the first problem under the fields; escape or Cancel closes with None.

    A subclass names its widgets ``<FIELD_PREFIX>-start``, ``-problem`` and so on.
    """

    FIELD_PREFIX: ClassVar[str] = ""

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == f"{self.FIELD_PREFIX}-start":
            self.action_start()
        else:
            self.dismiss(None)

    def on_input_submitted(self) -> None:
        self.action_start()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_start(self) -> None:
        """Check the fields; dismiss with the study's keyword arguments, or say what is wrong."""
        try:
            options = self.options()
        except UserError as exc:
            self.query_one(f"#{self.FIELD_PREFIX}-problem", Static).update(str(exc))
            return
        self.dismiss(options)

    def closing(self) -> ComposeResult:
        """Under the fields: the line that names a problem, then Start and Cancel."""
        prefix = self.FIELD_PREFIX
        yield Static("", id=f"{prefix}-problem")
        yield Horizontal(
            Button("Start", id=f"{prefix}-start", variant="primary", compact=True),
            Button("Cancel", id=f"{prefix}-cancel", compact=True),
            classes="dialog-buttons",
        )

    def options(self) -> dict[str, Any]:
        """The study's keyword arguments from the fields; a ``UserError`` naming the field when wrong."""
        raise NotImplementedError


class ReproduceDialog(StudyDialog):
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
    FIELD_PREFIX: ClassVar[str] = "reproduce"

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
            yield _field(
                "dataset",
                Select(
                    [(p.name, str(p)) for p in self.datasets],
                    prompt="a dataset of this home",
                    compact=True,
                    id="reproduce-data",
                    value=str(self.datasets[0]) if self.datasets else Select.NULL,
                ),
            )
            yield _field(
                "or COCO",
                Input(placeholder="COCO root: builds the 5-class reference set", compact=True, id="reproduce-coco"),
            )
            yield _field("seeds", Input("1", compact=True, id="reproduce-seeds", tooltip="comma-separated, e.g. 1,2,3"))
            yield _field("epochs", Input(placeholder="the presets' own", compact=True, id="reproduce-epochs"))
            yield from self.closing()

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


CURRENT = "current"
"""The base choice that stands for the Model screen's config."""


class SweepDialog(StudyDialog):
    """Base config (a preset or the current one), grid lines, seeds and devices for a sweep.

    The fields are read as ``vit-tui sweep`` reads its options, and the whole plan is checked
    (``study.api.plan_sweep``: every run's config, its devices, names taken, the output folder)
    before the dialog closes; it is dismissed with ``study.api.sweep``'s arguments.
    """

    DEFAULT_CSS = """
    SweepDialog .dialog {
        width: 76;
        max-width: 100%;
    }
    SweepDialog .study-field {
        height: auto;
    }
    SweepDialog .study-field Label {
        width: 10;
    }
    SweepDialog .study-field Input, SweepDialog .study-field Select, SweepDialog .study-field TextArea {
        width: 1fr;
    }
    SweepDialog #sweep-grid {
        height: 4;
    }
    SweepDialog #sweep-about {
        margin-bottom: 1;
    }
    SweepDialog #sweep-problem {
        color: $error;
        height: auto;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "start", "Start", priority=True),
    ]
    FIELD_PREFIX: ClassVar[str] = "sweep"

    def __init__(self, home: Path, current: Any) -> None:
        super().__init__(classes="modal")
        self.home = home
        self.current = current
        """The Model screen's config, its dataset made absolute (``AppState.training_config``)."""

    def compose(self) -> ComposeResult:
        from textual.widgets import TextArea

        from ...presets import PRESETS

        choices = [(f"current config ({self.current.preset or 'custom'})", CURRENT)]
        choices += [(name, name) for name in PRESETS]
        with Vertical(classes="dialog"):
            yield Label("Sweep a grid of settings", classes="dialog-title")
            yield Static(
                f"Trains every combination for every seed on {Path(self.current.data.dataset).name}, then writes "
                "sweep.md/csv/png with mean ± std per combination. ctrl+s starts.",
                id="sweep-about",
            )
            yield _field("base", Select(choices, value=CURRENT, allow_blank=False, compact=True, id="sweep-base"))
            yield _field(
                "grid", TextArea("model.heads=2,4", id="sweep-grid", compact=True, tooltip="one KEY=V1,V2 per line")
            )
            yield _field("seeds", Input("1", compact=True, id="sweep-seeds", tooltip="comma-separated, e.g. 1,2,3"))
            yield _field(
                "devices", Input(placeholder="every visible GPU, else the config's", compact=True, id="sweep-devices")
            )
            yield from self.closing()

    def options(self) -> dict[str, Any]:
        """``base``, ``grid``, ``seeds`` and ``devices`` as ``study.api.sweep`` takes them, the plan checked."""
        from dataclasses import replace

        from textual.widgets import TextArea

        from ...presets import preset
        from ...study.api import plan_sweep
        from ...study.plan import parse_devices
        from ...study.sweep import parse_grid

        chosen = self.query_one("#sweep-base", Select).value
        base = self.current if chosen == CURRENT else preset(str(chosen))
        base = replace(base, data=replace(base.data, dataset=self.current.data.dataset))
        lines = [line.strip() for line in self.query_one("#sweep-grid", TextArea).text.splitlines() if line.strip()]
        grid = _as_field("grid", parse_grid, lines)
        seeds = _as_field("seeds", parse_seeds, self.query_one("#sweep-seeds", Input).value)
        devices = _as_field("devices", parse_devices, self.query_one("#sweep-devices", Input).value.strip() or None)
        plan_sweep(self.home, base, grid, seeds, devices=devices)
        return {"base": base, "grid": grid, "seeds": seeds, "devices": devices}


def _field(label: str, widget: Widget) -> Horizontal:
    """One labelled field row of a study dialog."""
    return Horizontal(Label(label), widget, classes="study-field")


def _as_field(field: str, parse: Any, value: Any) -> Any:
    """``parse(value)``, its error named after the dialog's field rather than the command-line option."""
    try:
        return parse(value)
    except UserError as exc:
        raise UserError(field, exc.why) from None
