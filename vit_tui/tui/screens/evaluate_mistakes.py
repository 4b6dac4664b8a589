"""The evaluate screen's mistakes pane: the most confident mistakes, each image, its attention rollout.

A mixin of ``EvaluateScreen``: a highlighted mistake shows its image (or, after a, the attention
rollout over it, computed once per run and image in a worker).
"""

from __future__ import annotations

from pathlib import Path

from textual.widgets import OptionList, Static

from ...errors import UserError
from ..tasks import TaskResult
from ..widgets.heatmap import AttentionHeatMap
from ..widgets.thumbnails import Thumbnail
from . import evaluate_tools as tools


class AttentionReady(TaskResult[tools.AttentionResult]):
    """The attention rollout over one image."""


class MistakesView:
    """The mistakes list, the selected mistake's image and its attention map (a mixin of ``EvaluateScreen``)."""

    attention_on: bool
    sample: Path | None
    _attention_maps: dict[tuple[Path, Path], tools.AttentionResult]

    def on_attention_ready(self, message: AttentionReady) -> None:
        result = message.result
        self._attention_maps[(result.run_dir, result.image)] = result
        self._show_attention()

    def action_attention(self) -> None:
        """Show (or hide) the attention rollout over the selected mistake instead of its thumbnail."""
        if not self.attention_on and _is_cnn_run(self.run_dir):
            self.notify(f"run {self.run_dir.name} is a CNN: it has no attention to show", severity="warning")
            return
        self.attention_on = not self.attention_on
        self.query_one("#mistake-thumb").display = not self.attention_on
        self.query_one("#mistake-heat").display = self.attention_on
        if self.attention_on:
            self._show_attention()

    def _show_attention(self) -> None:
        """Draw the map of the selected sample: from the cache, or start computing it."""
        if not self.attention_on:
            return
        heat = self.query_one(AttentionHeatMap)
        if self.run_dir is None or self.sample is None:
            heat.show_message("no sample: pick a run with mistakes whose images are still there")
            return
        cached = self._attention_maps.get((self.run_dir, self.sample))
        if cached is not None:
            heat.show_map(cached.image, cached.grid, cached.legend)
            return
        heat.show_message("computing the attention rollout…")
        self.tasks.start(AttentionReady, tools.attention_rollout, self.models, self.run_dir, self.sample)

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_list.id == "mistake-list" and event.option.id is not None:
            self._show_mistake(int(event.option.id))

    def _show_mistake(self, number: int) -> None:
        if self.evaluation is None or self.run_dir is None:
            return
        mistake = self.evaluation.mistakes[number]
        path = _mistake_image(self.run_dir, mistake.file, self.app.state.home)
        self.sample = path
        self._show_attention()
        thumb = self.query_one("#mistake-thumb", Thumbnail)
        try:
            thumb.set_image(path if path is not None else None)
        except OSError:
            thumb.set_image(None)
        self.query_one("#mistake-caption", Static).update(
            f"{mistake.file}\ntrue {mistake.true} · said {mistake.predicted} ({mistake.probability:.1%})"
        )


def _is_cnn_run(run_dir: Path | None) -> bool:
    """Whether the run is a CNN (``model.arch`` not vit), read from its config without torch."""
    from ...engine.runs.folder import RunFolder
    from ...model.size_estimate import is_cnn

    if run_dir is None:
        return False
    try:
        return is_cnn(RunFolder(run_dir).read_config().model)
    except UserError:
        return False


def _mistake_image(run_dir: Path, file_name: str, home: Path) -> Path | None:
    """The validation image a mistake refers to (file names are relative to the split folder)."""
    from ...engine.runs.folder import RunFolder

    if not file_name:
        return None
    try:
        dataset = Path(RunFolder(run_dir).read_config().data.dataset).expanduser()
    except UserError:
        return None
    if not dataset.is_absolute():
        dataset = home / dataset
    for candidate in (dataset / "val" / file_name, dataset / file_name, Path(file_name)):
        if candidate.is_file():
            return candidate
    return None
