"""The evaluate screen's model export: TorchScript or ONNX, asked in a dialog, written and verified in a worker.

A mixin of ``EvaluateScreen``.
"""

from __future__ import annotations

from pathlib import Path

from ..controllers import EvaluationController
from ..tasks import TaskResult
from . import evaluate_tools as tools
from .export_model import ExportModelQuestion


class OnnxChecked(TaskResult["str | None"], title="Onnx-check"):
    """What ONNX export lacks here (None: nothing)."""


class ModelExported(TaskResult[object], title="Export-model"):
    """The exported model file and how far its outputs are from PyTorch's."""


class ModelExport:
    """x on the evaluate screen: the run's kept checkpoint as a verified model file (a mixin of ``EvaluateScreen``)."""

    run_dir: Path | None
    busy: str
    evaluating: EvaluationController
    _onnx_missing: str | None | bool

    def on_onnx_checked(self, message: OnnxChecked) -> None:
        self._onnx_missing = message.result
        self._ask_model_format()

    def on_model_exported(self, message: ModelExported) -> None:
        self.evaluating.busy = ""
        self._model_exported(message.result)

    # --- model export -----------------------------------------------------------------------

    def action_export_model(self) -> None:
        """Ask TorchScript or ONNX, then export the run's kept checkpoint (verified) in a worker."""
        if not self._free_with_a_run():
            return
        if self._onnx_missing is False:
            # Importing onnxruntime takes a while: check once, off the UI thread.
            self.tasks.start(OnnxChecked, tools.onnx_missing)
            return
        self._ask_model_format()

    def _ask_model_format(self) -> None:
        if self.run_dir is None:
            return
        missing = self._onnx_missing if isinstance(self._onnx_missing, str) else None
        self.app.push_screen(ExportModelQuestion(self.run_dir.name, missing), self._export_model_as)

    def _export_model_as(self, fmt: str | None) -> None:
        if fmt is None or self.run_dir is None or self.busy:
            return
        self.evaluating.busy = "export-model"
        self._note(f"exporting the model of {self.run_dir.name} as {fmt}, then checking it…")
        self.tasks.start(ModelExported, tools.export_model, self.run_dir, fmt, run_dir=self.run_dir)

    def _model_exported(self, result) -> None:
        text = (
            f"{result.fmt} model written to {result.model_path} · max difference from PyTorch "
            f"{result.max_abs_diff:.1e} (allowed {result.allowed_diff:.1e})"
        )
        self._note(text)
        self.notify(text, title="model exported", timeout=10, markup=False)
