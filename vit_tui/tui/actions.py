"""The command palette: every main action of the app, every config key and every theme.

Each entry runs an app action string, so the palette, the keys and the tests all go
through the same code.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from ..config import all_keys, field_doc
from ..presets import PRESETS


@dataclass(frozen=True)
class PaletteEntry:
    """One palette line: what it says, the help under it, the app action it runs."""

    text: str
    help: str
    action: str


MAIN_ACTIONS: tuple[PaletteEntry, ...] = (
    PaletteEntry("Go to Data", "datasets, COCO builder, folder import, demo set", "goto('data')"),
    PaletteEntry("Go to Model", "model and training settings, presets, summary", "goto('model')"),
    PaletteEntry("Go to Train", "live training view", "goto('train')"),
    PaletteEntry("Go to Evaluate", "confusion matrix, per-class metrics, mistakes", "goto('evaluate')"),
    PaletteEntry("Go to Runs", "every run: attach, resume, compare", "goto('runs')"),
    PaletteEntry("Make the demo dataset", "five classes of drawn shapes, no download", "goto('data', 'make_demo')"),
    PaletteEntry("Build a dataset from COCO", "annotation file, image folder, classes", "goto('data', 'show_coco')"),
    PaletteEntry("Import an image folder", "class subfolders or <class>_*.jpg files", "goto('data', 'show_import')"),
    PaletteEntry("Start training", "train the current config on the chosen dataset", "goto('train', 'start')"),
    PaletteEntry("Stop training", "stop and save a checkpoint", "goto('train', 'stop')"),
    PaletteEntry("Detach training", "keep training in its own process", "goto('train', 'detach')"),
    PaletteEntry("Evaluate the selected run", "confusion matrix and mistakes", "goto('evaluate', 'evaluate')"),
    PaletteEntry("Export the selected run", "CSV, PNG and Markdown into the run folder", "goto('evaluate', 'export')"),
    PaletteEntry(
        "Export the model (ONNX/TorchScript)",
        "the selected run's model, checked, into its export/ folder",
        "goto('evaluate', 'export_model')",
    ),
    PaletteEntry(
        "Predict image files", "top-5 classes of a file or folder with the selected run", "goto('evaluate', 'predict')"
    ),
    PaletteEntry(
        "Show the attention rollout",
        "over the selected mistake on Evaluate (again hides)",
        "goto('evaluate', 'attention')",
    ),
    PaletteEntry("Refresh the run list", "read the runs folder again", "goto('runs', 'refresh')"),
    PaletteEntry("Attach to the selected run", "follow a detached run live", "goto('runs', 'attach')"),
    PaletteEntry("Resume the selected run", "continue an interrupted run detached", "goto('runs', 'resume')"),
    PaletteEntry(
        "Compare the marked runs", "two to six: curves, metrics and confusion side by side", "goto('runs', 'compare')"
    ),
    PaletteEntry(
        "Reproduce the course experiment", "reference vs reference-einsum per seed, figures and comparison.md",
        "goto('runs', 'reproduce')",
    ),
    PaletteEntry("Sweep a grid of settings", "every combination over seeds, mean ± std", "goto('runs', 'sweep')"),
    PaletteEntry("Stop the study", "the run in progress saves a checkpoint", "goto('runs', 'stop_study')"),
    PaletteEntry("Save the config as TOML", "to the path in the config file field", "goto('model', 'save_config')"),
    PaletteEntry("Load a config from TOML", "from the path in the config file field", "goto('model', 'load_config')"),
    PaletteEntry(
        "Check this machine (doctor)", "versions, GPUs and short training probes, in a subprocess", "doctor"
    ),
    PaletteEntry("Show keys", "the keys of the current screen", "help"),
    PaletteEntry("Quit", "asks first while training runs", "quit"),
)


def preset_entries() -> list[PaletteEntry]:
    """One entry per preset."""
    return [
        PaletteEntry(f"Preset: {name}", row.description, f"goto('model', \"use_preset('{name}')\")")
        for name, row in PRESETS.items()
    ]


def field_entries() -> list[PaletteEntry]:
    """One entry per config key: jumps to its field on the model screen."""
    return [
        PaletteEntry(f"Edit {key}", field_doc(key), f"goto('model', \"focus_field('{key}')\")") for key in all_keys()
    ]


def theme_entries(theme_names: list[str]) -> list[PaletteEntry]:
    """One entry per registered theme."""
    return [PaletteEntry(f"Theme: {name}", "switch and remember", f"use_theme('{name}')") for name in theme_names]


class VitCommands(Provider):
    """Palette provider listing every entry above."""

    def _entries(self) -> list[PaletteEntry]:
        app = self.app
        themes = getattr(app, "theme_order", None) or sorted(app.available_themes)
        return [*MAIN_ACTIONS, *preset_entries(), *theme_entries(list(themes)), *field_entries()]

    def _run(self, action: str) -> None:
        self.app.call_later(self.app.run_action, action)

    async def discover(self) -> Hits:
        for entry in self._entries():
            if entry.text.startswith("Edit "):
                continue
            yield DiscoveryHit(entry.text, partial(self._run, entry.action), help=entry.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for entry in self._entries():
            score = matcher.match(entry.text)
            if score > 0:
                yield Hit(score, matcher.highlight(entry.text), partial(self._run, entry.action), help=entry.help)
