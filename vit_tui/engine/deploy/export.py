"""Model export: a run's checkpoint as a TorchScript or ONNX file that needs no vit-tui to run.

The exported graph takes what an image file decodes to, uint8 RGB ``(B, S, S, 3)`` with any batch
size of at least one, and returns the logits: the normalisation of training (``to_model_input``) is inside the
graph. Resizing a picture to S x S stays outside (it depends on the picture), and the sidecar
JSON written next to the model states it exactly, with the class list in order, the input and
output, and the verification. The same JSON is embedded in the file (TorchScript extra file
``vit_tui.json``, ONNX metadata key ``vit_tui``).

Every export is verified before anything is written: the exported model, loaded back (through
onnxruntime for ONNX), runs on a batch of the run's validation images and on a single image, and
its logits must match the PyTorch model's within ``TOLERANCE`` x max(1, largest |logit|).
Export runs on the CPU in float32, whatever device the run trained on.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ... import __version__, files
from ...config import RunConfig
from ...errors import UserError
from ...model.size_estimate import is_cnn
from ...outputs import output_file
from ..infer.evaluate import load_val_split
from ..infer.model import load_run_model, resize_mode

FORMATS = ("torchscript", "onnx")
SUFFIXES = {"torchscript": ".torchscript.pt", "onnx": ".onnx"}
SIDECAR_FORMAT = "vit-tui/export"
METADATA_KEY = "vit_tui"
TOLERANCE = 1e-4
"""Largest allowed |exported - PyTorch| logit difference, relative to max(1, largest |logit|)."""
VERIFY_IMAGES = 32
INPUT_NAME, OUTPUT_NAME = "images", "logits"
EXPORT_EXTRA = "pip install 'vit-tui[export]'"
ONNX_PACKAGES = ("onnx", "onnxscript", "onnxruntime")
MIN_BATCH = 1
"""The smallest batch an export is verified for and promises: an empty batch is not supported (onnxruntime
can die on one, with a division by zero in an einsum kernel)."""
ANSI_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote and how well the exported model matched the PyTorch one."""

    model_path: Path
    sidecar_path: Path
    fmt: str
    checkpoint: str
    epoch: int
    val_acc: float
    max_abs_diff: float
    allowed_diff: float
    batch_sizes: tuple[int, ...]
    attention_path: str
    sidecar: dict[str, Any] = field(repr=False)


class PreprocessedClassifier(nn.Module):
    """uint8 RGB ``(B, S, S, 3)`` in, logits ``(B, C)`` out: training's normalisation inside the graph."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        from ...data.augment import to_model_input

        return self.model(to_model_input(images))


def default_out(run_dir: Path, fmt: str, checkpoint: str) -> Path:
    """``<run>/export/model-<checkpoint><suffix>``."""
    return run_dir / "export" / f"model-{checkpoint}{SUFFIXES[fmt]}"


def sidecar_path(model_path: Path) -> Path:
    """The sidecar JSON of an exported model file: its name plus ``.json``."""
    return model_path.with_name(model_path.name + ".json")


def require_export_packages(fmt: str) -> None:
    """A one-line ``UserError`` naming what to install when ``fmt`` needs a package that is missing."""
    if fmt not in FORMATS:
        raise UserError("--format", f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt != "onnx":
        return
    missing = [name for name in ONNX_PACKAGES if not _importable(name)]
    if missing:
        raise UserError("--format onnx", f"needs {', '.join(missing)}, which is not installed; run: {EXPORT_EXTRA}")


def _importable(name: str) -> bool:
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


def export_model(
    run_dir: str | os.PathLike,
    fmt: str,
    out: str | os.PathLike | None = None,
    *,
    checkpoint: str = "best",
    data_dir: str | os.PathLike | None = None,
) -> ExportResult:
    """Export a run's checkpoint as ``fmt``, verify it, then write it and its sidecar (see the module doc).

    ``out`` is the model file, or a folder to write the default file name into.

    Bad input (unknown format, a missing package, no checkpoint, no validation images, a model that
    does not match after export) is a ``UserError``; nothing is written then.
    """
    require_export_packages(fmt)
    run_dir = Path(run_dir)
    model_path = export_target(run_dir, fmt, checkpoint, out)
    cpu = torch.device("cpu")
    model, cfg, classes, meta = load_run_model(run_dir, checkpoint, cpu)
    _, val_images = load_val_split(cfg, classes, data_dir, cpu)
    batches = verification_batches(val_images)
    wrapper = PreprocessedClassifier(model.float()).eval()
    sidecar = _sidecar(run_dir, fmt, model_path, cfg, classes, checkpoint, meta)
    exporter = _torchscript if fmt == "torchscript" else _onnx
    program, run_exported, attention = _export_with_fallback(exporter, wrapper, batches[0], fmt)
    max_diff, allowed = _verify(wrapper, run_exported, batches, fmt)
    sidecar["model"]["attention_path"] = attention
    sidecar["verification"] = {
        "images": "the run's validation split",
        "batch_sizes": [int(b.shape[0]) for b in batches],
        "max_abs_diff": max_diff,
        "allowed_diff": allowed,
        "tolerance": f"{TOLERANCE:g} x max(1, largest |logit|)",
        "runtime": _runtime_name(fmt),
    }
    _write(model_path, _serialise(fmt, program, sidecar), sidecar)
    return ExportResult(
        model_path=model_path,
        sidecar_path=sidecar_path(model_path),
        fmt=fmt,
        checkpoint=checkpoint,
        epoch=int(meta["epoch"]),
        val_acc=float(meta["val_acc"]),
        max_abs_diff=max_diff,
        allowed_diff=allowed,
        batch_sizes=tuple(int(b.shape[0]) for b in batches),
        attention_path=attention,
        sidecar=sidecar,
    )


def verification_batches(images: torch.Tensor) -> list[torch.Tensor]:
    """Up to ``VERIFY_IMAGES`` images spread over the split, and one image alone: two batch sizes.

    The first batch also traces the export, so it has at least two images (a batch of one would
    let the exporter fix the batch size at 1); a split of one image is repeated.
    """
    if images.shape[0] == 0:
        raise UserError("validation split", "has no images to verify the export with; pass --data DIR")
    count = min(VERIFY_IMAGES, images.shape[0])
    picks = torch.linspace(0, images.shape[0] - 1, max(2, count)).round().long()
    first = images[picks].contiguous()
    return [first, first[:1].contiguous()]


# --- exporters: each returns the exported program and a callable running it loaded back -------

Runner = Callable[[torch.Tensor], torch.Tensor]


def _export_with_fallback(exporter, wrapper: nn.Module, example: torch.Tensor, fmt: str) -> tuple[Any, Runner, str]:
    """Export as trained; should the fused attention kernel not export, retry with it written out."""
    fused = [m for m in wrapper.modules() if getattr(m, "fused_attn", False)]
    path = "fused scaled_dot_product_attention" if fused else "as trained"
    try:
        return (*exporter(wrapper, example), path)
    except Exception as exc:  # noqa: BLE001 - any exporter failure gets the fallback or one line
        _reraise_interrupt(exc)
        if not fused:
            raise _export_failed(fmt, exc) from None
        reason = _first_line(exc)
    for module in fused:
        module.fused_attn = False  # the same function spelled out; the tests hold them equal
    try:
        return (*exporter(wrapper, example), f"written out (the fused kernel did not export: {reason})")
    except Exception as exc:  # noqa: BLE001
        _reraise_interrupt(exc)
        raise _export_failed(fmt, exc) from None


def _reraise_interrupt(exc: BaseException) -> None:
    """Ctrl+C stays Ctrl+C: the exporters catch it deep inside and raise their own error "from" it."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            raise KeyboardInterrupt from None
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__


def _export_failed(fmt: str, exc: Exception) -> UserError:
    other = "onnx" if fmt == "torchscript" else "torchscript"
    return UserError(f"--format {fmt}", f"the exporter failed ({_first_line(exc)}); try --format {other}")


def _first_line(exc: Exception) -> str:
    """The exception's type and first line, without the colour codes some exporters put in their messages."""
    text = [line.strip() for line in ANSI_ESCAPE.sub("", str(exc)).splitlines() if line.strip()]
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


@contextlib.contextmanager
def _quiet_exporter():
    # The exporters warn about deprecations and tracing details that say nothing to the user:
    # verification on two batch sizes is what proves the file right.
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def _torchscript(wrapper: nn.Module, example: torch.Tensor) -> tuple[Any, Runner]:
    with _quiet_exporter(), torch.no_grad():
        traced = torch.jit.trace(wrapper, example, check_trace=False)
        loaded = torch.jit.load(io.BytesIO(_serialise("torchscript", traced, {})), map_location="cpu")

    def run(images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return loaded(images)

    return traced, run


def _onnx(wrapper: nn.Module, example: torch.Tensor) -> tuple[Any, Runner]:
    import onnxruntime

    batch = torch.export.Dim("batch", min=MIN_BATCH)
    with _quiet_exporter():
        program = torch.onnx.export(
            wrapper,
            (example,),
            dynamo=True,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamic_shapes={"images": {0: batch}},
            verbose=False,
        )
    proto = program.model_proto
    session = onnxruntime.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])

    def run(images: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(session.run([OUTPUT_NAME], {INPUT_NAME: images.numpy()})[0])

    return proto, run


def _serialise(fmt: str, program: Any, sidecar: dict) -> bytes:
    """The file's bytes, with the sidecar embedded (a TorchScript extra file, an ONNX metadata entry)."""
    text = json.dumps(sidecar)
    if fmt == "torchscript":
        buffer = io.BytesIO()
        with _quiet_exporter():
            torch.jit.save(program, buffer, _extra_files={f"{METADATA_KEY}.json": text})
        return buffer.getvalue()
    for entry in list(program.metadata_props):
        if entry.key == METADATA_KEY:
            program.metadata_props.remove(entry)
    entry = program.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, text
    return program.SerializeToString()


def _runtime_name(fmt: str) -> str:
    if fmt == "onnx":
        import onnxruntime

        return f"onnxruntime {onnxruntime.__version__} (CPUExecutionProvider)"
    return f"torch.jit {torch.__version__}"


# --- verification and writing ------------------------------------------------------------------


def _verify(wrapper: nn.Module, run_exported: Runner, batches: list[torch.Tensor], fmt: str) -> tuple[float, float]:
    """The largest logit difference over all batches and the allowed one; a ``UserError`` when over."""
    worst, allowed = 0.0, TOLERANCE
    for images in batches:
        with torch.no_grad():
            expected = wrapper(images).float()
        got = run_exported(images).float()
        if tuple(got.shape) != tuple(expected.shape):
            raise UserError(
                f"--format {fmt}",
                f"the exported model gave logits of shape {tuple(got.shape)} for a batch of {images.shape[0]}, "
                f"expected {tuple(expected.shape)}; nothing was written",
            )
        worst = max(worst, float((got - expected).abs().max()))
        allowed = max(allowed, TOLERANCE * float(expected.abs().max()))
    if not worst <= allowed:  # also catches NaN
        raise UserError(
            f"--format {fmt}",
            f"the exported model's logits differ from the PyTorch model's by {worst:.3g}, more than the allowed "
            f"{allowed:.3g}; nothing was written",
        )
    return worst, allowed


def _write(model_path: Path, data: bytes, sidecar: dict) -> None:
    """The model file and its sidecar as one pair: both new, or the previous pair kept as it was."""
    files.write_together({model_path: data, sidecar_path(model_path): (json.dumps(sidecar, indent=2) + "\n").encode()})


def export_target(run_dir: Path, fmt: str, checkpoint: str, out: str | os.PathLike | None) -> Path:
    """The model file an export writes, checked with its sidecar as output files; nothing is made.

    ``out`` is the model file, or a folder to write the default file name into.
    """
    model_path = default_out(run_dir, fmt, checkpoint)
    if out is not None:
        out = Path(out).expanduser()
        model_path = out / model_path.name if out.is_dir() else out
    model_path = output_file(model_path, "--out", example=model_path.name)
    output_file(sidecar_path(model_path), "--out", example=sidecar_path(model_path).name)
    return model_path


def _sidecar(
    run_dir: Path, fmt: str, model_path: Path, cfg: RunConfig, classes: list[str], checkpoint: str, meta: dict
) -> dict[str, Any]:
    """What a program needs to feed the exported model and read its answer, stated exactly."""
    from ...data.augment import MEAN, STD

    size = cfg.model.image_size
    return {
        "format": SIDECAR_FORMAT,
        "version": 1,
        "model_format": fmt,
        "file": model_path.name,
        "run": run_dir.resolve().name,
        "checkpoint": checkpoint,
        "epoch": int(meta["epoch"]),
        "val_acc": float(meta["val_acc"]),
        "classes": list(classes),
        "input": {
            "name": INPUT_NAME,
            "dtype": "uint8",
            "layout": "NHWC",
            "shape": ["batch", size, size, 3],
            "channels": "RGB",
            "batch": {
                "min": MIN_BATCH,
                "max": None,
                "note": f"any batch of {MIN_BATCH} or more images; an empty batch (0 images) is not supported",
            },
        },
        "preprocessing": {
            "resize": {
                "size": [size, size],
                "mode": resize_mode(cfg),
                "how": "outside the graph: EXIF-upright RGB picture; center-crop mode first crops the central "
                "square; then resize to size with PIL bicubic (as vit-tui predict does)",
            },
            "normalization": {
                "in_graph": True,
                "formula": "(x / 255 - mean) / std",
                "mean": [MEAN] * 3,
                "std": [STD] * 3,
            },
        },
        "output": {
            "name": OUTPUT_NAME,
            "shape": ["batch", len(classes)],
            "meaning": "logits in the order of classes; softmax over dim 1 gives the probabilities",
        },
        "model": _model_facts(cfg),
        "exported_with": {"vit_tui": __version__, "torch": torch.__version__},
    }



def _model_facts(cfg: RunConfig) -> dict[str, Any]:
    """The network in the sidecar: the CNN's width, or the ViT's layout."""
    keys = ("arch", "width") if is_cnn(cfg.model) else ("arch", "attention", "stem", "pool", "ffn")
    return {**{key: getattr(cfg.model, key) for key in keys}, "image_size": cfg.model.image_size}
