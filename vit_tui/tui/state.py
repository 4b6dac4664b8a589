"""What the screens share: the home folder and its paths; the selections live in the app's reactives.

The chosen config, the chosen run and the model form's problems are reactives of ``VitApp``
(``config``, ``run_dir``, ``form_errors``): a screen that shows one watches it, and every change,
from any screen or from ``AppState``'s setters, is an assignment to that one reactive.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from ..config import RunConfig

DEFAULT_PRESET = "fast"


class AppState:
    """The home folder, and a view of the app's reactive selections (assigning here assigns there)."""

    def __init__(self, app: Any, home: Path) -> None:
        self._app = app
        self.home = home

    @property
    def config(self) -> RunConfig:
        """The config runs are started with (the app's ``config`` reactive)."""
        return self._app.config

    @config.setter
    def config(self, cfg: RunConfig) -> None:
        self._app.config = cfg

    @property
    def run_dir(self) -> Path | None:
        """The run the evaluate screen shows (the app's ``run_dir`` reactive)."""
        return self._app.run_dir

    @run_dir.setter
    def run_dir(self, path: Path | None) -> None:
        self._app.run_dir = path

    @property
    def form_errors(self) -> dict[str, str]:
        """Problems the model screen's form has (key -> why); training waits until it is empty."""
        return self._app.form_errors

    @form_errors.setter
    def form_errors(self, errors: dict[str, str]) -> None:
        self._app.form_errors = dict(errors)

    @property
    def data_root(self) -> Path:
        """Where datasets live: ``<home>/data``."""
        return self.home / "data"

    @property
    def runs_root(self) -> Path:
        """Where runs live: ``<home>/runs``."""
        return self.home / "runs"

    def dataset_path(self) -> Path:
        """The config's dataset folder, relative paths taken from the home folder."""
        path = Path(self.config.data.dataset).expanduser()
        return path if path.is_absolute() else self.home / path

    def set_dataset(self, path: Path) -> None:
        """Point the config at ``path`` (kept relative to home when it lies inside it)."""
        try:
            shown = str(path.resolve().relative_to(self.home.resolve()))
        except ValueError:
            shown = str(path)
        self.config = replace(self.config, data=replace(self.config.data, dataset=shown))

    def training_config(self) -> RunConfig:
        """The config a run is started with: the dataset path made absolute."""
        return replace(self.config, data=replace(self.config.data, dataset=str(self.dataset_path())))
