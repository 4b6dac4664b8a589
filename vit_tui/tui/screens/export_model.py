"""The question before a model export: TorchScript or ONNX (ONNX only when its packages are installed)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static


class ExportModelQuestion(ModalScreen[str | None]):
    """Answers ``"torchscript"``, ``"onnx"`` or None (cancelled)."""

    BINDINGS = [
        Binding("t", "choose('torchscript')", "TorchScript"),
        Binding("o", "choose('onnx')", "ONNX"),
        Binding("escape,c", "choose(None)", "Cancel"),
    ]

    def __init__(self, run_name: str, onnx_missing: str | None) -> None:
        super().__init__(classes="modal")
        self.run_name = run_name
        self.onnx_missing = onnx_missing
        """Why ONNX cannot be written here (what to install), or None when it can."""

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"Export the model of {self.run_name}", classes="dialog-title")
            yield Static(
                "Writes the kept checkpoint into the run's export/ folder, with a sidecar JSON (classes, input, "
                "normalisation), after checking its logits against PyTorch on validation images.\n"
                "t: TorchScript   o: ONNX   esc: cancel"
            )
            if self.onnx_missing:
                yield Static(f"ONNX is not available: {self.onnx_missing}", id="export-onnx-missing", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("TorchScript (t)", id="torchscript", variant="primary")
                yield Button("ONNX (o)", id="onnx", disabled=self.onnx_missing is not None)
                yield Button("Cancel", id="cancel")

    def action_choose(self, choice: str | None) -> None:
        if choice == "onnx" and self.onnx_missing:
            self.notify(self.onnx_missing, severity="warning", markup=False)
            return
        self.dismiss(choice)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_choose(None if event.button.id == "cancel" else event.button.id)
