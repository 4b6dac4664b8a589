"""State the app keeps for its screens, as reactives they watch.

A controller is owned by the App (``app.training``, ``app.evaluation``); the code that learns something new (an
engine event, a worker's end) assigns it here, and every screen that shows it watches the
attribute (``self.watch(app.training, "status", ...)``). A reactive calls its watchers only
when the value changes, so an unchanged status or count costs no redraw.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.dom import DOMNode
from textual.reactive import var

from ..engine.telemetry.events import EpochEnded


class TrainingController(DOMNode):
    """The run the train screen shows: trained in the app or followed in its own process."""

    status: var[str] = var("idle")
    """idle, starting, training (in this app), following (a detached run), or how it ended."""
    run_name: var[str] = var("")
    """The run's name ("" before its start is known)."""
    run_dir: var[Path | None] = var(None)
    """The run's folder (None until the run has one)."""
    device: var[str] = var("")
    """Device, precision and step path, as the run's start told them."""
    epoch: var[tuple[int, int] | None] = var(None)
    """(epochs done or the running one, the run's epochs); None before the run's start."""
    step: var[tuple[int, int] | None] = var(None)
    """(steps done, steps per epoch) of the running epoch; None before its first log point."""
    epochs: var[int] = var(0)
    """The epochs of the last run started (kept until the next one starts)."""
    progress: var[float] = var(0.0)
    """Epochs done, the running one's steps counting as a fraction (for the run's ETA)."""
    rate: var[tuple[float, float] | None] = var(None)
    """The last (learning rate, images per second) reported; None before the first."""
    history: var[list[EpochEnded]] = var(list)
    """One row per finished epoch."""

    def reset(self, status: str) -> None:
        """Forget the previous run: nothing of it may show in the next (a failure before its start names no folder)."""
        self.run_dir = None
        self.run_name = ""
        self.device = ""
        self.history = []
        self.progress = 0.0
        self.epoch = None
        self.step = None
        self.status = status


class EvaluationController(DOMNode):
    """The run the evaluate screen shows: its folder, its scores, and the work under way on it."""

    run_dir: var[Path | None] = var(None)
    """The run shown (None before one is chosen)."""
    checkpoint: var[str] = var("")
    """The checkpoint ``evaluation`` scored (assigned before it)."""
    evaluation: var[Any] = var(None, init=False, always_update=True)
    """The run's ``Evaluation`` (None until read or computed); every assignment redraws it."""
    busy: var[str] = var("")
    """The work under way on the run: "" (none), "evaluate", "export" or "export-model"."""
    exported: var[list[Path]] = var(list)
    """The report files last exported for the run."""


def app_controller(name: str, doc: str) -> property:
    """A screen attribute that is the app's controller ``name``, looked up once (it stays readable after the app has closed)."""
    key = f"_{name}_controller"

    def controller(screen: DOMNode) -> DOMNode:
        if key not in screen.__dict__:
            screen.__dict__[key] = getattr(screen.app, name)
        return screen.__dict__[key]

    return property(controller, doc=doc)


def shown(controller: str, name: str, doc: str) -> property:
    """A read-only screen attribute that is one reactive of its controller (``screen.<controller>.<name>``)."""
    return property(lambda screen: getattr(getattr(screen, controller), name), doc=doc)
