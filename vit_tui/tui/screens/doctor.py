"""The doctor's table in the app: ``vit-tui doctor --json`` runs in a subprocess, its report shows here.

A subprocess, so its probes (a CUDA context, a captured graph, seeding) never touch the app's
own process; refused while a run or study trains in the app.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from ... import schemas
from ...errors import UserError
from ..tasks import TaskResult, Tasks

LIMIT_S = 180


def run_doctor_subprocess(device: str = "auto", timeout_s: float = LIMIT_S) -> dict:
    """The report of ``python -m vit_tui doctor --json FILE`` run in its own process."""
    with tempfile.TemporaryDirectory(prefix="vit-tui-doctor-") as folder:
        out = Path(folder) / "doctor.json"
        done = subprocess.run([sys.executable, "-m", "vit_tui", "doctor", "--device", device, "--json", str(out)],
                              capture_output=True, text=True, timeout=timeout_s)  # fmt: skip
        if not out.is_file():
            lines = (done.stderr or done.stdout).strip().splitlines()
            raise RuntimeError(lines[-1] if lines else f"vit-tui doctor ended with code {done.returncode}")
        return schemas.load_dict(out, schemas.DoctorReport)


class DoctorReportReady(TaskResult[object]):
    """The doctor's table, or one line saying why there is none."""


def doctor_table() -> object:
    """The doctor's report as its table (run in a worker: the probes take up to a minute)."""
    try:
        report = run_doctor_subprocess()
    except (OSError, RuntimeError, ValueError, UserError, subprocess.TimeoutExpired) as exc:
        return f"doctor failed: {exc}"
    from ...views.doctor import table

    return table(report)


class DoctorScreen(ModalScreen[None]):
    """The doctor's facts and probes, as ``vit-tui doctor`` prints them; the table scrolls when the
    terminal is too short for it."""

    DEFAULT_CSS = """
    DoctorScreen .dialog {
        width: 84;
        height: 90%;
    }
    DoctorScreen #doctor-scroll {
        height: 1fr;
    }
    """
    BINDINGS = [Binding("escape,enter,q", "dismiss", "Close")]

    def __init__(self) -> None:
        super().__init__(classes="modal")
        self.tasks = Tasks(self)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Doctor: this machine", classes="dialog-title")
            with VerticalScroll(id="doctor-scroll"):
                yield Static("running the probes in a subprocess (up to a minute)…", id="doctor-report")
            yield Label("arrows or page keys scroll · enter or esc closes", classes="dialog-hint")

    def on_mount(self) -> None:
        self.tasks.start(DoctorReportReady, doctor_table)

    def on_doctor_report_ready(self, message: DoctorReportReady) -> None:
        self._show(message.result)

    def _show(self, content: object) -> None:
        self.query_one("#doctor-report", Static).update(content)
        self.query_one("#doctor-scroll", VerticalScroll).focus()
