"""The Evaluate screen's model work, run in thread workers: attention rollout, predictions, model export.

A run's checkpoint is loaded once and kept (``RunModels``) while the screen shows that run, so
the second prediction or attention map costs only the forward pass.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import UserError


@dataclass(frozen=True)
class AttentionResult:
    """A sample's rollout over the patch grid and the line saying what it shows."""

    run_dir: Path
    image: Path
    grid: np.ndarray
    legend: str


@dataclass(frozen=True)
class PredictionsResult:
    """What a path typed on the screen predicts to, with the run that said so."""

    run_dir: Path
    source: Path
    predictions: list


class RunModels:
    """The newest run's checkpoint loaded for inference, shared by the workers.

    Hold ``lock`` while using the model: recording attention swaps the model's attention layers
    for a while, and a prediction running beside it would be recorded too.
    """

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._key: tuple | None = None
        self._model = None

    def get(self, run_dir: Path):
        """The run's kept checkpoint as a ``RunModel`` (loaded again only when the run or its file changed)."""
        from ...engine.infer.model import open_run
        from ...engine.runs.folder import RunFolder

        checkpoint = kept_checkpoint(run_dir)
        weights = RunFolder(run_dir).weights(checkpoint)
        stamp = weights.stat().st_mtime_ns if weights.is_file() else 0
        with self.lock:
            if self._key != (run_dir, checkpoint, stamp):
                self._model = open_run(run_dir, checkpoint)
                self._key = (run_dir, checkpoint, stamp)
            return self._model


def kept_checkpoint(run_dir: Path) -> str:
    """The checkpoint the run keeps (``train.keep``): the one its evaluation scores."""
    from ...engine.runs.folder import RunFolder

    return RunFolder(run_dir).read_config().train.keep


def attention_rollout(models: RunModels, run_dir: Path, image: Path) -> AttentionResult:
    from ...engine.infer.attention_maps import rollout_caption, rollout_grid
    from ...model.size_estimate import has_class_token

    with models.lock:
        run = models.get(run_dir)
        grid = rollout_grid(run, image)
    legend = rollout_caption(run.cfg.model.attention, has_class_token(run.cfg.model))
    return AttentionResult(run_dir, image, grid, legend)


def predict(models: RunModels, run_dir: Path, source: Path) -> PredictionsResult:
    from ...data.imaging import image_files
    from ...engine.infer.predict import predict_paths

    files = image_files([source])  # a bad path is the user's error before any model is loaded
    with models.lock:
        predictions = predict_paths(models.get(run_dir), files, top_k=5)
    return PredictionsResult(run_dir, source, predictions)


def predictions_csv_path(run_dir: Path, source: Path) -> Path:
    """``<run>/predictions/<file or folder name>.csv``: the same input writes the same file again."""
    return run_dir / "predictions" / f"{source.stem or 'predictions'}.csv"


def save_predictions(run_dir: Path, source: Path, predictions: list) -> Path:
    from ...engine.infer.predict import write_predictions_csv
    from ...outputs import output_file

    target = output_file(predictions_csv_path(run_dir, source), "predictions CSV", example="predictions.csv")
    return write_predictions_csv(target, predictions)


def onnx_missing() -> str | None:
    """What to install for ONNX export, or None when it can be written here."""
    from ...engine.deploy.export import require_export_packages

    try:
        require_export_packages("onnx")
    except UserError as exc:
        return str(exc)
    return None


def export_model(run_dir: Path, fmt: str):
    from ...engine.deploy.export import export_model as export

    return export(run_dir, fmt, checkpoint=kept_checkpoint(run_dir))
