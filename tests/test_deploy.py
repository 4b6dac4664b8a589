"""``vit-tui export``: TorchScript and ONNX files of tiny trained runs, loaded back and run.

One tiny run per attention variant (and the conv stem, and the CNN) is trained once per module. Each export is
loaded back the way a user would (``torch.jit.load``, ``onnxruntime``) and compared with the
PyTorch model on two batch sizes; the CLI's exports are compared with ``vit-tui predict``.
ONNX tests skip when onnxruntime is not installed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from data_fixtures import one_thread  # noqa: F401 - an autouse fixture
from PIL import Image
from tui_fixtures import TINY_SETTINGS

from vit_tui.config import RunConfig, apply_overrides
from vit_tui.data.augment import to_model_input
from vit_tui.data.demo import make_demo
from vit_tui.data.imaging import read_image
from vit_tui.engine.deploy.export import ONNX_PACKAGES, TOLERANCE, export_model
from vit_tui.engine.infer.evaluate import load_val_split
from vit_tui.engine.infer.model import load_run_model
from vit_tui.engine.train.trainer import train
from vit_tui.errors import UserError

pytestmark = pytest.mark.filterwarnings("ignore:.*torch.jit.*deprecated:FutureWarning")
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
VARIANTS = {
    "mha": ["model.attention=mha", "model.ffn=mlp"],
    "mha-conv-stem": ["model.attention=mha", "model.ffn=mlp", "model.stem=conv", "model.pool=mean"],
    "dlstudio": ["model.attention=dlstudio", "model.ffn=flattened"],
    "einsum": ["model.attention=einsum", "model.ffn=mlp"],
    "resnet18": ["model.arch=resnet18", "model.width=4"],
}
needs_onnx = pytest.mark.skipif(
    any(importlib.util.find_spec(name) is None for name in ONNX_PACKAGES),
    reason="needs the export extra (onnx, onnxruntime, onnxscript)",
)


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("home")
    make_demo(home / "data" / "demo", per_class_train=8, per_class_val=4, size=32, workers=1)
    return home


@pytest.fixture(scope="module")
def runs(home):
    """``runs(variant)``: the run of that variant, trained one epoch the first time it is asked for."""
    trained: dict[str, Path] = {}

    def run_of(variant: str) -> Path:
        if variant not in trained:
            cfg = apply_overrides(
                RunConfig(), [f"data.dataset={home / 'data/demo'}", *TINY_SETTINGS, *VARIANTS[variant]]
            )
            result = train(cfg, runs_root=home / "runs", name=variant)
            assert result.status == "finished"
            trained[variant] = result.run_dir
        return trained[variant]

    return run_of


@pytest.fixture(params=list(VARIANTS))
def trained_run(request, runs) -> Path:
    return runs(request.param)


def run_loaded_back(path: Path, fmt: str, images: torch.Tensor) -> torch.Tensor:
    """Logits of an exported file, loaded as a user would load it (no vit-tui involved)."""
    if fmt == "torchscript":
        module = torch.jit.load(str(path))
        with torch.no_grad():
            return module(images)
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return torch.from_numpy(session.run(["logits"], {"images": images.numpy()})[0])


def embedded_sidecar(path: Path, fmt: str) -> dict:
    """The JSON the export embeds in the model file itself."""
    if fmt == "torchscript":
        extra = {"vit_tui.json": ""}
        torch.jit.load(str(path), _extra_files=extra)
        return json.loads(extra["vit_tui.json"])
    import onnx

    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    return json.loads(props["vit_tui"])


@pytest.mark.parametrize("fmt", ["torchscript", pytest.param("onnx", marks=needs_onnx)])
def test_export_round_trip_matches_pytorch_at_two_batch_sizes(trained_run, fmt, tmp_path):
    out = tmp_path / f"model.{fmt}"
    result = export_model(trained_run, fmt, out)
    assert result.model_path == out and out.is_file()
    assert result.max_abs_diff <= result.allowed_diff

    model, cfg, classes, _ = load_run_model(trained_run, "best")
    _, images = load_val_split(cfg, classes, None, torch.device("cpu"))
    for batch in (images[:7], images[-1:]):  # sizes the export never saw
        with torch.no_grad():
            expected = model(to_model_input(batch))
        got = run_loaded_back(out, fmt, batch.contiguous())
        assert got.shape == expected.shape
        assert float((got - expected).abs().max()) <= TOLERANCE * max(1.0, float(expected.abs().max()))

    sidecar = json.loads(result.sidecar_path.read_text())
    assert result.sidecar_path == tmp_path / f"model.{fmt}.json"
    assert sidecar["classes"] == classes
    assert sidecar["input"] == {
        "name": "images",
        "dtype": "uint8",
        "layout": "NHWC",
        "shape": ["batch", 32, 32, 3],
        "channels": "RGB",
        "batch": sidecar["input"]["batch"],
    }
    assert sidecar["input"]["batch"]["min"] == 1  # an empty batch is not promised (onnxruntime may die on one)
    assert sidecar["preprocessing"]["normalization"]["mean"] == [0.5] * 3
    assert sidecar["preprocessing"]["normalization"]["std"] == [0.5] * 3
    assert sidecar["preprocessing"]["resize"]["mode"] == "stretch"
    assert sidecar["output"]["shape"] == ["batch", len(classes)]
    assert sidecar["model"]["arch"] == cfg.model.arch
    assert sidecar["model"].get("attention") == (None if cfg.model.arch == "resnet18" else cfg.model.attention)
    assert sidecar["verification"]["max_abs_diff"] == result.max_abs_diff
    assert sidecar["verification"]["batch_sizes"][1] == 1
    assert embedded_sidecar(out, fmt) == sidecar


def vit(home: Path, *args: str | Path, pre: str = "") -> subprocess.CompletedProcess:
    """``vit-tui ARGS`` in a fresh interpreter; ``pre`` is Python run before the CLI's main."""
    code = f"import sys\n{pre}\nfrom vit_tui.cli import main\nraise SystemExit(main(sys.argv[1:]))"
    command = [sys.executable, "-c", code, "--home", str(home), *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, env=ENV, timeout=300)


def pictures(folder: Path, home: Path) -> list[Path]:
    """Validation pictures saved at other sizes than the model's, so that resizing is part of the test."""
    paths = []
    for i, source in enumerate(sorted((home / "data/demo/val").glob("*.jpg"))[::4]):
        with Image.open(source) as img:
            path = folder / f"photo{i}.png"
            img.convert("RGB").resize((45 + 3 * i, 38)).save(path)
            paths.append(path)
    return paths


def predicted(output: str, paths: list[Path]) -> list[dict[str, float]]:
    """``vit-tui predict`` lines as {class: probability} per picture."""
    rows = []
    for path in paths:
        line = next(line for line in output.splitlines() if line.startswith(f"{path}: "))
        pairs = re.findall(r"(\S+) ([\d.]+)%", line.removeprefix(f"{path}: "))
        rows.append({name: float(percent) / 100 for name, percent in pairs})
    return rows


def test_exports_give_the_predictions_of_vit_tui_predict(home, runs, tmp_path):
    run = runs("mha-conv-stem")
    out = vit(home, "export", run.name, "--format", "torchscript", "--out", tmp_path / "model.pt")
    assert out.returncode == 0, out.stderr
    difference = float(re.search(r"max \|logit difference\| (\S+)", out.stdout).group(1))
    assert difference <= TOLERANCE
    exported = {"torchscript": tmp_path / "model.pt"}
    if not any(importlib.util.find_spec(name) is None for name in ONNX_PACKAGES):
        folder = tmp_path / "onnx"
        folder.mkdir()
        exported["onnx"] = export_model(run, "onnx", folder).model_path  # a folder gets the default name
        assert exported["onnx"] == folder / "model-best.onnx"

    paths = pictures(tmp_path, home)
    classes = json.loads((tmp_path / "model.pt.json").read_text())["classes"]
    shown = vit(home, "predict", run.name, *paths, "--top-k", str(len(classes)))
    assert shown.returncode == 0, shown.stderr
    expected_rows = predicted(shown.stdout, paths)
    for fmt, path in exported.items():
        sidecar = json.loads(Path(f"{path}.json").read_text())
        size, mode = sidecar["input"]["shape"][1], sidecar["preprocessing"]["resize"]["mode"]
        batch = torch.from_numpy(np.stack([read_image(p, size, mode) for p in paths]))
        probs = run_loaded_back(path, fmt, batch).softmax(dim=1)
        for row, expected in zip(probs.tolist(), expected_rows):
            ours = dict(zip(sidecar["classes"], row))
            assert max(ours, key=ours.get) == max(expected, key=expected.get), fmt
            for name, probability in expected.items():
                assert ours[name] == pytest.approx(probability, abs=0.0006), fmt  # predict prints 0.1% steps


def test_missing_onnx_package_is_one_line_exit_2_and_writes_nothing(home, runs, tmp_path):
    run = runs("mha")
    out = vit(
        home, "export", run, "--format", "onnx", "--out", tmp_path / "m.onnx", pre="sys.modules['onnxruntime'] = None"
    )
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0
    assert "onnxruntime" in out.stderr and "pip install 'vit-tui[export]'" in out.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_dataset_that_cannot_verify_is_refused_and_nothing_is_written(runs, tmp_path):
    run = runs("mha")
    with pytest.raises(UserError) as caught:
        export_model(run, "torchscript", tmp_path / "m.pt", data_dir=tmp_path / "no-such-dataset")
    assert "no-such-dataset" in str(caught.value)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(UserError, match="--format"):
        export_model(run, "tflite", tmp_path / "m.tflite")


def test_export_help_names_formats_sidecar_and_extra():
    out = subprocess.run(
        [sys.executable, "-m", "vit_tui", "export", "--help"], capture_output=True, text=True, env=ENV, timeout=60
    )
    assert out.returncode == 0
    text = " ".join(out.stdout.split())
    for needle in ("torchscript", "onnx", "sidecar", "--checkpoint", "vit-tui[export]"):
        assert needle in text
