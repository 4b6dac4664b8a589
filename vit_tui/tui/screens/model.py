"""Model screen (2): every ``model.*`` and ``train.*`` setting, presets, validation, summary.

Each field is named exactly as its config key. Every edit rebuilds the config and validates
it with ``config.field_errors``: problems show under their field and Start stays disabled
until there are none. The summary (parameters, sequence length, FLOPs per image) is computed
by the model package in a thread worker so typing never waits on it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Footer, Input, Label, Select, Static

from ... import config as cfgmod
from ...config import ConfigError, RunConfig, field_errors, get_value, with_value
from ...config.schema import VIT_ONLY_KEYS
from ...errors import UserError
from ...model.size_estimate import is_cnn
from ...presets import PRESETS, preset
from ..tasks import TaskResult
from ..widgets.form import ConfigField, field_id
from .base import WIDTH_BREAKPOINTS, VitScreen

FORM_KEYS = ["data.dataset"] + [k for k in cfgmod.all_keys() if k.startswith(("model.", "train."))]
DEFAULT_CONFIG_FILE = "vit-tui.toml"
INLINE_DOCS_MIN_WIDTH = 160
"""From this width each field's description fits beside it without wrapping word by word."""
FIELD_HELP_HINT = "Move to a field to read what it does here."


def _visible_devices() -> int:
    """CUDA devices this process sees (imports torch: call it in a worker)."""
    from ...engine.device.placement import visible_devices

    return visible_devices()


class DevicesCounted(TaskResult[int]):
    """How many devices a run could use."""


class ModelSummaryReady(TaskResult[str]):
    """The model summary text of the form's config."""


class ModelScreen(VitScreen):
    """The config form with presets, inline errors, a live summary, and TOML save/load."""

    CSS_PATH = "model.tcss"
    # Narrower screens would squeeze the descriptions into a few letters a line: they move to one
    # line under the form, for the focused field.
    HORIZONTAL_BREAKPOINTS: ClassVar = [*WIDTH_BREAKPOINTS, (INLINE_DOCS_MIN_WIDTH, "-docs-inline")]
    TITLE = "Model"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+r", "start", "Start"),
        Binding("ctrl+s", "save_config", "Save"),
        Binding("ctrl+o", "load_config", "Load"),
        Binding("ctrl+e", "focus_presets", "Presets", show=False),
    ]

    def __init__(self) -> None:
        super().__init__(name="model")
        self.errors: dict[str, str] = {}
        self.summary_text = ""
        self._form_config: RunConfig | None = None
        """The config the form shows (a change of the app's config to anything else is put into the form)."""

    def compose(self) -> ComposeResult:
        state = self.app.state
        with Horizontal(id="model-bar"):
            yield Select(
                [(name, name) for name in PRESETS],
                value=state.config.preset if state.config.preset in PRESETS else Select.NULL,
                prompt="preset",
                compact=True,
                id="preset-select",
            )
            yield Input(DEFAULT_CONFIG_FILE, compact=True, id="config-path", tooltip="TOML file (relative to home)")
            yield Button("Save", id="save-config", compact=True)
            yield Button("Load", id="load-config", compact=True)
            yield Select(
                [("1 process", 1)], value=1, allow_blank=False, compact=True, id="processes",
                tooltip="processes: more than 1 trains data-parallel under torchrun, one per device",
            )
            yield Button("Start ▶", id="start-training", variant="success", compact=True)
        with Horizontal(id="model-body"):
            with VerticalScroll(id="model-form"):
                for section in ("data", "model", "train"):
                    yield Label(f"{section} settings", classes="form-section")
                    for key in FORM_KEYS:
                        if key.startswith(section + "."):
                            yield ConfigField(key, get_value(state.config, key))
            with VerticalScroll(id="model-side"):
                yield Static("", id="model-errors")
                yield Static("summary…", id="model-summary")
        yield Static(FIELD_HELP_HINT, id="field-help", markup=False)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._form_config = self.app.config
        self._validate(self.app.config)
        self.watch(self.app, "config", self._config_changed, init=False)
        self.query_one("#processes", Select).display = False
        # Counting devices imports torch and asks the driver: a worker, so the form shows at once.
        self.tasks.start(DevicesCounted, type(self).count_devices)

    count_devices: ClassVar[Callable[[], int]] = staticmethod(_visible_devices)
    """How many devices a run could use; more than one shows the processes field (tests set it)."""

    @property
    def processes(self) -> int:
        """The number of processes Start trains with (1 unless the processes field offers more)."""
        field = self.query_one("#processes", Select)
        return int(field.value) if field.display and isinstance(field.value, int) else 1

    def on_devices_counted(self, message: DevicesCounted) -> None:
        if message.result > 1:
            field = self.query_one("#processes", Select)
            count = int(message.result)
            field.set_options([(f"{n} process{'es' * (n > 1)}", n) for n in range(1, count + 1)])
            field.value = 1
            field.display = True

    def _config_changed(self, cfg: RunConfig) -> None:
        # The form's own edits come back here too; only a change made elsewhere is put into it
        # (rewriting a field the user is typing in would reformat their text under the cursor).
        if cfg != self._form_config:
            self._show_config(cfg)

    # --- help for the focused field -----------------------------------------------------------

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        field = next((node for node in event.widget.ancestors_with_self if isinstance(node, ConfigField)), None)
        text = f"{field.key}: {cfgmod.field_doc(field.key)}" if field is not None else FIELD_HELP_HINT
        self.query_one("#field-help", Static).update(text)

    # --- editing ------------------------------------------------------------------------------

    def on_config_field_changed(self, message: ConfigField.Changed) -> None:
        self._rebuild_from_form()

    def _rebuild_from_form(self) -> None:
        state = self.app.state
        cfg = state.config
        parse_errors: dict[str, str] = {}
        for field in self.query(ConfigField):
            try:
                cfg = with_value(cfg, field.key, field.value)
            except ConfigError as exc:
                parse_errors[field.key] = exc.why
        self._form_config = cfg
        state.config = cfg
        self._validate(cfg, parse_errors)

    def _validate(self, cfg: RunConfig, parse_errors: dict[str, str] | None = None) -> None:
        errors = dict(parse_errors or {})
        for error in field_errors(cfg):
            errors.setdefault(error.field, error.why)
        self.errors = errors
        self.app.state.form_errors = dict(errors)
        for field in self.query(ConfigField):
            field.show_error(errors.get(field.key, ""))
        self.query_one("#start-training", Button).disabled = bool(errors)
        self._grey_out_unused(cfg)
        problems = self.query_one("#model-errors", Static)
        problems.update(
            f"[b]{len(errors)} problem{'s' * (len(errors) != 1)}[/b] — fix the marked fields" if errors else ""
        )
        problems.set_class(bool(errors), "-visible")
        if not any(key.startswith("model.") for key in errors):
            self._refresh_summary(cfg)

    def _grey_out_unused(self, cfg: RunConfig) -> None:
        """Disable the settings the chosen network ignores: the ViT's for a CNN, the width for a ViT."""
        cnn = is_cnn(cfg.model)
        for field in self.query(ConfigField):
            section, _, name = field.key.partition(".")
            if section == "model":
                field.disabled = (name in VIT_ONLY_KEYS) if cnn else name == "width"

    def _show_config(self, cfg: RunConfig) -> None:
        """Put every value of ``cfg`` into the form."""
        self._form_config = cfg
        self.app.state.config = cfg
        for field in self.query(ConfigField):
            field.set_value(get_value(cfg, field.key))
        preset_select = self.query_one("#preset-select", Select)
        with preset_select.prevent(Select.Changed):
            preset_select.value = cfg.preset if cfg.preset in PRESETS else Select.NULL
        self._validate(cfg)

    def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id != "preset-select" or event.value is Select.NULL:
            return
        if event.value != self.app.state.config.preset:
            self.action_use_preset(str(event.value))

    def action_use_preset(self, name: str) -> None:
        """Start from a preset, keeping the chosen dataset."""
        dataset = self.app.state.config.data.dataset
        cfg = preset(name)
        self._show_config(with_value(cfg, "data.dataset", dataset))
        self.notify(f"preset {name}")

    def action_focus_field(self, key: str) -> None:
        """Move the focus to one field (the palette's "Edit <key>")."""
        field = self.query_one(f"#{field_id(key)}", ConfigField)
        field.control.focus()
        field.scroll_visible()

    def action_focus_presets(self) -> None:
        """Focus the preset list."""
        self.query_one("#preset-select", Select).focus()

    # --- summary ------------------------------------------------------------------------------

    def _refresh_summary(self, cfg: RunConfig) -> None:
        self.tasks.start(ModelSummaryReady, format_summary, cfg.model, _class_count(self.app.state.dataset_path()))

    def on_model_summary_ready(self, message: ModelSummaryReady) -> None:
        self.summary_text = message.result
        self.query_one("#model-summary", Static).update(message.result)

    # --- buttons and files --------------------------------------------------------------------

    def on_button_pressed(self, event: Button.Pressed) -> None:
        actions = {"save-config": "save_config", "load-config": "load_config", "start-training": "start"}
        action = actions.get(event.button.id or "")
        if action:
            self.run_action(action)

    def _config_path(self) -> Path:
        raw = self.query_one("#config-path", Input).value.strip() or DEFAULT_CONFIG_FILE
        path = Path(raw).expanduser()
        return path if path.is_absolute() else self.app.state.home / path

    def action_save_config(self) -> None:
        """Write the config as TOML to the path in the file field."""
        path = self._config_path()
        try:
            cfgmod.save(self.app.state.config, path)
        except OSError as exc:
            self.notify(f"{path}: cannot write ({exc.strerror or exc})", severity="error")
            return
        self.notify(f"saved {path}")

    def action_load_config(self) -> None:
        """Read the config from the TOML file in the file field."""
        path = self._config_path()
        try:
            cfg = cfgmod.load(path)
        except UserError as exc:
            self.notify(str(exc), severity="error")
            return
        self._show_config(cfg)
        self.notify(f"loaded {path}")

    async def action_start(self) -> None:
        """Switch to the train screen and start training (only when the form is valid)."""
        if self.errors:
            key, why = next(iter(self.errors.items()))
            self.notify(f"{key}: {why}", severity="error")
            return
        if self.processes > 1:
            await self.app.run_action("goto('train')")
            self.app.screen_named("train").start_processes(self.processes)
            return
        await self.app.run_action("goto('train', 'start')")


def _class_count(dataset: Path) -> int:
    """Classes of the chosen dataset (5, the demo's, when it cannot be read)."""
    from ...data.store import read_manifest

    try:
        return len(read_manifest(dataset).classes)
    except UserError:
        return 5


def format_summary(model_cfg: cfgmod.ModelConfig, classes: int) -> str:
    """The summary panel's text: parameters, sequence length, FLOPs per image and each part's parameters."""
    from ...model.summary import summarize

    try:
        summary = summarize(model_cfg, classes)
    except Exception as exc:  # a shape the model cannot build: say so instead of crashing
        return f"cannot summarise this model: {exc}"
    lines = [
        "[b]Summary[/b]",
        f"parameters   {summary.params:>14,}",
        f"sequence     {summary.seq_len:>8} tokens" if summary.seq_len else "sequence     none (a CNN)",
        f"FLOPs/image  {summary.flops_per_image / 1e6:>12,.1f} M",
        f"classes      {classes:>14}",
        "",
    ]
    # Columns as wide as their longest entry: the panel is narrow at 80 columns.
    name_width = max(len(name) for name, _ in summary.rows)
    count_width = max(len(f"{count:,}") for _, count in summary.rows)
    lines += [f"{name:<{name_width}} {count:>{count_width},}" for name, count in summary.rows]
    return "\n".join(lines)
