"""The Textual app: five screens on keys 1-5, the command palette, themes, and quitting safely.

Screens own their behaviour; the app only switches between them, registers themes, offers
the demo set when there is no dataset, and asks before quitting while training runs (a run that
has ended but still writes its files is waited for, not stopped).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import MutableMapping
from pathlib import Path
from typing import ClassVar

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.reactive import var
from textual.theme import Theme

from ..config import RunConfig
from ..errors import UserError
from ..presets import preset
from .actions import VitCommands
from .bridge import progress_rate
from .controllers import EvaluationController, TrainingController
from .screens.base import WIDTH_BREAKPOINTS
from .screens.data import DataScreen
from .screens.evaluate import EvaluateScreen
from .screens.modals import DemoOffer, FailureScreen, HelpScreen, QuitWhileTraining
from .screens.model import ModelScreen
from .screens.runs import RunsScreen
from .screens.train import TrainScreen
from .settings import load_settings, save_setting
from .state import DEFAULT_PRESET, AppState
from .tasks import TaskResult, Tasks
from .themes import DEFAULT_THEME, load_themes

SCREEN_NAMES = ("data", "model", "train", "evaluate", "runs")


APP_THREADS_ENV = "VIT_TUI_APP_THREADS"
APP_THREAD_CHOICES = ("passive", "spin", "spare-core", "spare-core-passive")
DEFAULT_APP_THREADS = "spin"
FEW_CORES = 4
"""At most this many usable cores counts as few: a spare core for the UI is then worth a training thread."""


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the platform tells it)."""
    with contextlib.suppress(AttributeError, OSError):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def app_thread_settings(choice: str, cores: int) -> dict[str, str]:
    """The OpenMP environment for training beside the UI, for one ``VIT_TUI_APP_THREADS`` choice.

    ``passive``: waiting OpenMP threads sleep instead of spinning. ``spin``: OpenMP's own default,
    as the command line has it. ``spare-core``: one intra-op thread fewer than the usable cores,
    on machines with few of them, so the UI thread has a core of its own; ``spare-core-passive``
    both. Raises UserError for any other choice.
    """
    if choice not in APP_THREAD_CHOICES:
        raise UserError(APP_THREADS_ENV, f"must be one of {', '.join(APP_THREAD_CHOICES)}, got {choice!r}")
    settings = {}
    if choice.endswith("passive"):
        settings["OMP_WAIT_POLICY"] = "PASSIVE"
    if choice.startswith("spare-core") and 1 < cores <= FEW_CORES:
        settings["OMP_NUM_THREADS"] = str(cores - 1)
    return settings


def prepare_environment(environ: MutableMapping[str, str] = os.environ) -> None:
    """Process settings for training beside a UI; call before torch is imported.

    The one place the app's threading is chosen (``VIT_TUI_APP_THREADS``, default ``spin``: the
    same OpenMP settings as ``vit-tui train``). Measured in tmux on an idle 2-core machine ("TUI
    overhead" in bench/BENCHMARKS.md), sleeping waits (``passive``) made in-app epochs 1.20x the
    command line's and a spare core 1.86x, against 0.98x for ``spin`` with the live view at 4
    updates a second. ``passive`` stays the choice for a machine shared with other busy processes,
    where spinning threads lose their time slices. A value the user set for an OpenMP variable is kept.
    """
    choice = environ.get(APP_THREADS_ENV, "").strip() or DEFAULT_APP_THREADS
    for key, value in app_thread_settings(choice, usable_cores()).items():
        environ.setdefault(key, value)
    progress_rate(environ)  # a bad value is reported now, not by the first run


class EngineWarmed(TaskResult[None]):
    """The engine (and torch) is imported; nothing waits for it, the first train or evaluate is only quicker."""


def _import_engine() -> None:
    """Import the engine (and torch) in the background so the first train or evaluate is quick."""
    import vit_tui.engine.infer.evaluate  # noqa: F401
    import vit_tui.engine.train.trainer  # noqa: F401
    import vit_tui.model.summary  # noqa: F401


def _start_process_helpers() -> None:
    """Start multiprocessing's resource tracker while stderr is still the real one.

    While the app runs, Textual replaces ``sys.stderr`` with an object whose ``fileno()`` is -1,
    and a process pool started from a worker (the dataset builders use one) would then fail to
    launch the tracker with "bad value(s) in fds_to_keep".
    """
    from multiprocessing import resource_tracker

    # Without a tracker, a pool reports its own error, which the failure dialog then shows.
    with contextlib.suppress(OSError, ValueError):
        resource_tracker.ensure_running()


class VitApp(App[None]):
    """vit-tui: datasets, models, training, evaluation and runs in one terminal app."""

    TITLE = "vit-tui"
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {VitCommands}
    SCREENS: ClassVar = {
        "data": DataScreen,
        "model": ModelScreen,
        "train": TrainScreen,
        "evaluate": EvaluateScreen,
        "runs": RunsScreen,
    }
    MODES: ClassVar = {name: name for name in SCREEN_NAMES}
    DEFAULT_MODE = "data"
    HORIZONTAL_BREAKPOINTS: ClassVar = WIDTH_BREAKPOINTS
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+q", "quit", "Quit", priority=True, show=False)]

    # The app-wide selections: screens watch them, and every change is an assignment to one of them.
    config: var[RunConfig] = var(lambda: preset(DEFAULT_PRESET))
    """The config runs are started with (the model form edits it, the data screen sets its dataset)."""
    run_dir: var[Path | None] = var(None)
    """The run the evaluate screen shows (chosen on Runs or Evaluate, or the run that just ended)."""
    form_errors: var[dict[str, str]] = var(dict)
    """Problems the model form has (key -> why); training waits until there are none."""
    smoothing: var[float] = var(0.0)
    """The EMA weight curves and sparklines are drawn with (``engine.telemetry.smoothing``; remembered in settings)."""

    def __init__(self, home: str | Path = ".", *, demo_options: dict | None = None, offer_demo: bool = True) -> None:
        super().__init__()
        _start_process_helpers()
        self.state = AppState(self, home=Path(home).expanduser().resolve())
        self.demo_options = demo_options or {}
        self.offer_demo = offer_demo
        self.theme_order: list[str] = []
        self.training = TrainingController()
        """The run the train screen shows: its status, counts, rate and history, as reactives."""
        self.evaluation = EvaluationController()
        """The run the evaluate screen shows: its folder, evaluation and the work under way, as reactives."""
        self.tasks = Tasks(self)
        """The app's own background tasks (warming up the engine)."""
        self.alerts: list[str] = []
        """What was written to the terminal to tell of endings (``alerts.announce``), oldest first."""

    # --- start-up -------------------------------------------------------------------------

    def on_mount(self) -> None:
        self.tasks.start(EngineWarmed, _import_engine)
        self._register_themes(load_themes())
        self.theme_changed_signal.subscribe(self, self._remember_theme)
        self.smoothing = float(load_settings().get("smoothing", 0.0))

    def offer_demo_set(self) -> None:
        """The data screen's first listing found no dataset: offer the demo set (once, unless turned off)."""
        if self.offer_demo:
            self.offer_demo = False
            self.push_screen(DemoOffer(), self._demo_answer)

    def _register_themes(self, themes: list[Theme]) -> None:
        for theme in themes:
            self.register_theme(theme)
        self.theme_order = [t.name for t in themes] + sorted(set(self.available_themes) - {t.name for t in themes})
        saved = load_settings().get("theme")
        wanted = saved if saved in self.available_themes else DEFAULT_THEME
        if wanted in self.available_themes:
            self.theme = wanted

    def _remember_theme(self, theme: Theme) -> None:
        save_setting("theme", theme.name)

    def action_cycle_smoothing(self) -> None:
        """Smooth the curves more: 0, 0.6, 0.9, 0.99, then none again (remembered for next time)."""
        from ..engine.telemetry.smoothing import next_weight

        self.smoothing = next_weight(self.smoothing)
        save_setting("smoothing", self.smoothing)
        self.notify(f"curve smoothing {self.smoothing:g}" if self.smoothing else "curves not smoothed", timeout=3)

    def _demo_answer(self, make: bool | None) -> None:
        if make:
            self.screen_named("data").action_make_demo()

    # --- navigation -----------------------------------------------------------------------

    def screen_named(self, name: str):
        """The installed screen called ``name`` (created on first use)."""
        return self.get_screen(name)

    async def action_goto(self, mode: str, action: str | None = None) -> None:
        """Show a screen, then optionally run one of its actions."""
        if self.current_mode != mode:
            await self.switch_mode(mode)
        if action:
            await self.screen_named(mode).run_action(action)

    def action_doctor(self) -> None:
        """The doctor's table; its probes run in a subprocess, never while a run trains in the app."""
        from ..engine.train.trainer_slot import running_trainer
        from .screens.doctor import DoctorScreen

        training = running_trainer()
        if training is not None:
            self.notify(f"{training} is training in this app; run the doctor once it ends", severity="warning")
            return
        self.push_screen(DoctorScreen())

    def action_help(self) -> None:
        """Show the keys of the current screen."""
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def action_use_theme(self, name: str) -> None:
        """Switch theme (remembered for next time)."""
        if name in self.available_themes:
            self.theme = name

    def show_failure(self, title: str, message: str, run_dir: Path | None = None) -> None:
        """A modal with the failure; the app stays up."""
        self.push_screen(FailureScreen(title, message, run_dir))

    # --- quitting -------------------------------------------------------------------------

    async def action_quit(self) -> None:
        """Quit, asking first while a training run or a study lives inside the app."""
        if self.screen_named("runs").study_running:
            self.push_screen(QuitWhileTraining(study=True), self._quit_study_answer)
            return
        train: TrainScreen = self.screen_named("train")
        if train.finishing_in_app:
            self._quit_when_written(train)
            return
        if not train.training_in_app:
            self.exit()
            return
        self.push_screen(QuitWhileTraining(), self._quit_answer)

    @work(group="quit", exclusive=True, exit_on_error=False)
    async def _quit_when_written(self, train: TrainScreen) -> None:
        """The run has ended but its worker still writes its files: there is nothing to stop, so wait, then quit."""
        self.notify("The run has ended; writing its last files, then quitting…")
        await train.wait_for_worker()
        self.exit()

    async def _quit_answer(self, choice: str | None) -> None:
        if choice not in ("stop", "detach"):
            return
        train: TrainScreen = self.screen_named("train")
        await train.stop_in_app(detach=choice == "detach")
        self.exit()

    async def _quit_study_answer(self, choice: str | None) -> None:
        if choice != "stop":
            return
        await self.screen_named("runs").stop_study()
        await self.action_quit()  # a training run in the app is asked about next
