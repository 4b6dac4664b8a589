"""Form fields for config keys: a label named exactly as the key, a control, and its error.

The control fits the key's type: a Select for keys with a fixed set of values, a Switch for
true/false keys, and an Input for the rest. Every change posts ``ConfigField.Changed`` with the
raw value; the screen validates the whole config and hands each field its error (or none).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Input, Label, Select, Static, Switch

from ... import config as cfgmod
from ...config import CHOICES

SWITCHES = {"train.compile", "train.deterministic"}
CONTROL_CLASS = "field-control"


def field_id(key: str) -> str:
    """A DOM id for the field of ``key`` (dots are not allowed in ids)."""
    return "field-" + key.replace(".", "--")


def display_value(value: Any) -> str:
    """A config value as the text shown in an Input."""
    if isinstance(value, tuple):
        return ", ".join(repr(v) for v in value)
    if isinstance(value, float):
        return repr(value)
    return str(value)


class FieldRow(Horizontal):
    """One form row: its label (class ``field-label``) and its Input, Select or Switch filling the rest."""

    DEFAULT_CSS = """
    FieldRow.field-row {
        height: auto;
        min-height: 1;
    }
    FieldRow.field-row .field-label {
        width: 22;
        color: $text-muted;
        padding: 0 1 0 0;
    }
    FieldRow.field-row Input, FieldRow.field-row Select {
        width: 1fr;
    }
    FieldRow.field-row Switch {
        height: 1;
        border: none;
        padding: 0;
        width: auto;
    }
    """

    def __init__(self, *children: Widget) -> None:
        super().__init__(*children, classes="field-row")


class ConfigField(Vertical):
    """One config key: ``key [control]`` with the error line beneath it."""

    DEFAULT_CSS = """
    ConfigField.config-field {
        height: auto;
    }
    ConfigField .switch-value {
        width: 1fr;
        color: $text-muted;
        padding: 0 1;
    }
    ConfigField .field-doc {
        display: none;
        color: $text-muted;
        padding: 0 0 0 2;
    }
    ConfigField .field-error {
        display: none;
        color: $error;
        padding: 0 0 0 22;
        height: auto;
    }
    ConfigField.config-field.-invalid .field-error {
        display: block;
    }
    ConfigField.config-field.-invalid FieldRow.field-row .field-label {
        color: $error;
        text-style: bold;
    }
    """

    @dataclass
    class Changed(Message):
        """The user edited the field."""

        field: ConfigField
        key: str
        value: Any

    def __init__(self, key: str, value: Any) -> None:
        super().__init__(id=field_id(key), classes="config-field")
        self.key = key
        self._initial = value
        self.error = ""
        """The error shown under the field ("" when fine)."""
        self.tooltip = cfgmod.field_doc(key)

    def compose(self) -> ComposeResult:
        with FieldRow():
            yield Label(self.key, classes="field-label")
            yield self._control(self._initial)
            if self.key in SWITCHES:
                yield Label(_on_off(self._initial), classes="switch-value")
            yield Label(cfgmod.field_doc(self.key), classes="field-doc", markup=False)
        yield Static("", classes="field-error")

    def _control(self, value: Any) -> Widget:
        if self.key in CHOICES:
            options = [(choice, choice) for choice in CHOICES[self.key]]
            selected = value if value in CHOICES[self.key] else Select.NULL
            return Select(
                options, value=selected, allow_blank=selected is Select.NULL, compact=True, classes=CONTROL_CLASS
            )
        if self.key in SWITCHES:
            return Switch(bool(value), animate=False, classes=CONTROL_CLASS)
        return Input(display_value(value), compact=True, select_on_focus=True, classes=CONTROL_CLASS)

    @property
    def control(self) -> Widget:
        """The Input, Select or Switch of this field."""
        return self.query_one(f".{CONTROL_CLASS}")

    @property
    def value(self) -> Any:
        """The raw value (text, choice or bool) as the user left it."""
        control = self.control
        if isinstance(control, Switch):
            return control.value
        if isinstance(control, Select):
            return "" if control.value is Select.NULL else control.value
        return control.value

    def set_value(self, value: Any) -> None:
        """Show ``value`` without posting ``Changed`` back."""
        control = self.control
        with control.prevent(Input.Changed, Select.Changed, Switch.Changed):
            if isinstance(control, Switch):
                control.value = bool(value)
                self.query_one(".switch-value", Label).update(_on_off(value))
            elif isinstance(control, Select):
                control.value = value
            else:
                control.value = display_value(value)

    def show_error(self, message: str) -> None:
        """Show (or clear, with "") the problem with this field."""
        self.error = message
        self.query_one(".field-error", Static).update(message)
        self.set_class(bool(message), "-invalid")

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self.post_message(self.Changed(self, self.key, event.value))

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        self.post_message(self.Changed(self, self.key, self.value))

    def on_switch_changed(self, event: Switch.Changed) -> None:
        event.stop()
        self.query_one(".switch-value", Label).update(_on_off(event.value))
        self.post_message(self.Changed(self, self.key, event.value))


def _on_off(value: Any) -> str:
    """The word shown beside a switch, so its state reads in any terminal."""
    return "true" if value else "false"
