"""Evaluation results without torch: the dataclasses, scikit-learn scores and ``evaluation.json``.

``summarize_predictions`` turns labels and class probabilities into an ``Evaluation``;
``save_evaluation``/``load_evaluation`` keep it in the run folder, where the exports, the
comparisons and the app's mistake browser read it without loading a model.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ... import schemas
from ...files import write_text
from ...run_layout import EVALUATION_FILE
from ..runs.folder import RunFolder

MAX_MISTAKES = 100
MISTAKE_FIELDS = ("index", "file", "true", "predicted", "probability")


@dataclass(frozen=True)
class Mistake:
    """A validation image the model got wrong, with its confidence in the wrong class."""

    index: int
    file: str
    true: str
    predicted: str
    probability: float


@dataclass(frozen=True)
class Evaluation:
    """Scores of one checkpoint on one split."""

    accuracy: float
    loss: float
    classes: list[str]
    confusion: np.ndarray
    per_class: list[dict]
    mistakes: list[Mistake]


def summarize_predictions(
    labels: np.ndarray, probs: np.ndarray, loss: float, classes: Sequence[str], files: Sequence[str] = ()
) -> Evaluation:
    """Confusion matrix, per-class precision/recall/F1 (scikit-learn) and the most confident mistakes."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    preds = probs.argmax(axis=1) if len(probs) else np.zeros(0, dtype=np.int64)
    ids = list(range(len(classes)))
    confusion = confusion_matrix(labels, preds, labels=ids)
    precision, recall, f1, support = precision_recall_fscore_support(labels, preds, labels=ids, zero_division=0)
    per_class = [
        {"class": c, "precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for c, p, r, f, s in zip(classes, precision, recall, f1, support)
    ]
    wrong = np.flatnonzero(preds != labels)
    confidence = probs[wrong, preds[wrong]] if len(wrong) else np.zeros(0)
    order = wrong[np.argsort(-confidence, kind="stable")][:MAX_MISTAKES]
    mistakes = [
        Mistake(
            index=int(i),
            file=str(files[i]) if i < len(files) else "",
            true=classes[int(labels[i])],
            predicted=classes[int(preds[i])],
            probability=float(probs[i, preds[i]]),
        )
        for i in order
    ]
    accuracy = float((preds == labels).mean()) if len(labels) else 0.0
    return Evaluation(accuracy, float(loss), list(classes), confusion, per_class, mistakes)


def save_evaluation(run_dir: Path, evaluation: Evaluation, extra: dict[str, Any] | None = None) -> Path:
    """Write ``evaluation.json`` (what the exports and the app's mistake browser read)."""
    data = {
        "accuracy": evaluation.accuracy,
        "loss": evaluation.loss,
        "classes": evaluation.classes,
        "confusion": evaluation.confusion.tolist(),
        "per_class": evaluation.per_class,
        "mistakes": [asdict(m) for m in evaluation.mistakes],
        **(extra or {}),
    }
    path = RunFolder(run_dir).file(EVALUATION_FILE)
    write_text(path, json.dumps(data, indent=1) + "\n")
    return path


def load_evaluation(run_dir: Path) -> tuple[Evaluation, dict[str, Any]] | None:
    """``evaluation.json`` back as an ``Evaluation`` plus its extra fields; None when the run has none.

    A damaged file is a ``SchemaError`` naming the file and the field.
    """
    path = RunFolder(run_dir).file(EVALUATION_FILE)
    if not path.exists():
        return None
    hint = f"remove it and run vit-tui report {run_dir} to evaluate the run again"
    data = schemas.load_dict(path, schemas.Evaluation, hint)
    evaluation = Evaluation(
        accuracy=float(data["accuracy"]),
        loss=float(data["loss"]),
        classes=list(data["classes"]),
        confusion=np.asarray(data["confusion"], dtype=np.int64),
        per_class=list(data["per_class"]),
        mistakes=[Mistake(**{k: m[k] for k in MISTAKE_FIELDS}) for m in data["mistakes"]],
    )
    return evaluation, data
