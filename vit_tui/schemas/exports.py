"""An export's sidecar ``<model file>.json`` read back."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar

from msgspec import Meta, Struct

from .core import FileSchema, Positive


class SidecarBatch(Struct):
    """The batch sizes the exported model takes (an empty batch is not one of them)."""

    min: Positive
    max: Positive | None = None
    note: str = ""


class SidecarInput(Struct):
    """The exported model's input tensor."""

    name: str
    dtype: str
    layout: str
    shape: list[str | int]
    channels: str
    batch: SidecarBatch | None = None


class SidecarResize(Struct):
    """How a picture is brought to the model's size outside the graph."""

    size: list[Positive]
    mode: str
    how: str = ""


class SidecarNormalization(Struct):
    """The normalisation (inside the graph)."""

    in_graph: bool
    formula: str
    mean: list[float]
    std: list[float]


class SidecarPreprocessing(Struct):
    """Resize, then normalise."""

    resize: SidecarResize
    normalization: SidecarNormalization


class SidecarOutput(Struct):
    """The exported model's output tensor."""

    name: str
    shape: list[str | int]
    meaning: str = ""


class Sidecar(FileSchema):
    """An export's sidecar ``<model file>.json`` (also embedded in the model file)."""

    hint: ClassVar[str] = "export the run again"

    format: str
    version: int
    model_format: str
    file: str
    run: str
    checkpoint: str
    epoch: int
    val_acc: float
    classes: Annotated[list[str], Meta(min_length=1)]
    input: SidecarInput
    preprocessing: SidecarPreprocessing
    output: SidecarOutput
    model: dict[str, Any] = {}
    exported_with: dict[str, str] = {}
    verification: dict[str, Any] = {}
