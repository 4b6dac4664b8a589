"""What the screens share: the home folder, the chosen dataset, the config and the chosen run."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from ..config import RunConfig
from ..presets import preset

DEFAULT_PRESET = "fast"


@dataclass
class AppState:
    """Mutable app-wide selections; screens read it and post messages to change it."""

    home: Path
    config: RunConfig = field(default_factory=lambda: preset(DEFAULT_PRESET))
    run_dir: Path | None = None
    """The run the evaluate screen shows."""
    form_errors: dict[str, str] = field(default_factory=dict)
    """Problems the model screen's form has (key -> why); training waits until it is empty."""

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
