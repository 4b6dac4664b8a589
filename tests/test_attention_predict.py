"""Attention maps and predictions: what each attention variant records, rollout, top-k, CSV, the commands."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image
from tui_fixtures import CLASSES, make_tiny_dataset, tiny_config

from vit_tui.cli import main
from vit_tui.data.augment import to_model_input
from vit_tui.engine.infer.attention_maps import (
    attention_weights,
    image_attention,
    rollout_grid,
    rollout_matrix,
    rollout_patches,
)
from vit_tui.engine.infer.model import open_run
from vit_tui.engine.infer.predict import predict_paths, read_predictions_csv, write_predictions_csv
from vit_tui.engine.telemetry.events import null_sink
from vit_tui.engine.train.trainer import train
from vit_tui.errors import UserError
from vit_tui.model.attention import ATTENTION_LAYERS
from vit_tui.model.vit import build_model

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
# Two blocks so rollout multiplies something; three heads so "across heads" differs from rows.
VARIANTS = {
    "mha": ["model.attention=mha", "model.stem=patch"],
    "mha-mean-conv": ["model.attention=mha", "model.pool=mean", "model.stem=conv"],
    "dlstudio": ["model.attention=dlstudio", "model.stem=patch"],
    "einsum": ["model.attention=einsum", "model.stem=patch"],
}


def tiny_model(variant: str) -> tuple[torch.nn.Module, object]:
    cfg = tiny_config(extra=["model.blocks=2", "model.heads=3", "model.embed_dim=24", *VARIANTS[variant]])
    torch.manual_seed(0)
    return build_model(cfg.model, len(CLASSES)).eval(), cfg


def random_inputs(batch: int = 3) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    return to_model_input(torch.randint(0, 256, (batch, 32, 32, 3), dtype=torch.uint8, generator=generator))


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """A tiny dataset and a one-epoch run of the standard ViT (``tiny``) and of the reference (``ref``)."""
    root = tmp_path_factory.mktemp("home")
    data = make_tiny_dataset(root / "data")
    train(tiny_config(str(data)), null_sink, runs_root=root / "runs", name="tiny")
    train(tiny_config(str(data), VARIANTS["dlstudio"]), null_sink, runs_root=root / "runs", name="ref")
    return root


def vit(home: Path, *args: object) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "vit_tui", "--home", str(home), *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, env=ENV, timeout=120)


# --- recorded weights ---------------------------------------------------------------------


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_recorded_weights_are_one_map_per_block_and_head_normalised_as_the_variant_says(variant):
    model, cfg = tiny_model(variant)
    _, weights = attention_weights(model, random_inputs())
    tokens = 16 + (0 if variant == "mha-mean-conv" else 1)
    assert weights.shape == (3, 2, 3, tokens, tokens)
    assert (weights >= 0).all()
    rows, columns, heads = weights.sum(dim=-1), weights.sum(dim=-2), weights.sum(dim=2)
    ones = torch.ones(())
    if variant == "dlstudio":
        assert torch.allclose(columns, ones.expand_as(columns), atol=1e-5)
        assert not torch.allclose(rows, ones.expand_as(rows), atol=1e-2)
    elif variant == "einsum":
        assert torch.allclose(heads, ones.expand_as(heads), atol=1e-5)
        assert not torch.allclose(rows, ones.expand_as(rows), atol=1e-2)
    else:
        assert torch.allclose(rows, ones.expand_as(rows), atol=1e-5)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_recording_leaves_the_logits_alone_and_nothing_behind(variant):
    model, _ = tiny_model(variant)
    inputs = random_inputs()
    with torch.no_grad():
        plain = model(inputs)
    recorded, _ = attention_weights(model, inputs)
    assert torch.allclose(recorded, plain, atol=1e-5)
    layers = [m for m in model.modules() if isinstance(m, ATTENTION_LAYERS)]
    assert len(layers) == 2 and all(layer.record is None for layer in layers)


def test_rollout_rows_sum_to_one_and_cover_the_patch_grid():
    model, _ = tiny_model("mha")
    _, weights = attention_weights(model, random_inputs())
    rollout = rollout_matrix(weights)
    assert rollout.shape == (3, 17, 17) and (rollout >= 0).all()
    assert torch.allclose(rollout.sum(dim=-1), torch.ones(3, 17), atol=1e-5)
    patches = rollout_patches(weights, class_token=True)
    assert patches.shape == (3, 16) and torch.allclose(patches.sum(dim=-1), torch.ones(3), atol=1e-5)
    assert not torch.allclose(patches[0], patches[1], atol=1e-4)  # it depends on the image


def test_rollout_multiplies_later_blocks_on_the_left():
    eye = torch.eye(3)
    first = torch.tensor([[1.0, 0, 0], [1, 0, 0], [0, 0, 1]])  # everything reads token 0 ...
    second = torch.tensor([[0, 0, 1.0], [0, 1, 0], [0, 0, 1]])  # ... then token 0 reads token 2
    weights = torch.stack([first, second])[None, :, None]  # (B=1, blocks=2, heads=1, 3, 3)
    mixed = [(w + eye) / (w + eye).sum(dim=-1, keepdim=True) for w in (first, second)]
    assert torch.allclose(rollout_matrix(weights)[0], mixed[1] @ mixed[0])


def test_einsum_rollout_is_the_same_for_every_image_as_its_legend_says():
    model, _ = tiny_model("einsum")
    _, weights = attention_weights(model, random_inputs())
    patches = rollout_patches(weights, class_token=True)
    assert torch.allclose(patches, torch.full_like(patches, 1 / 16), atol=1e-6)


# --- a trained run: the app's rollout, predictions, CSV -------------------------------------


def test_rollout_grid_for_the_app_from_a_file_or_an_array(home):
    run = open_run(home / "runs/tiny")
    image = sorted((home / "data/tiny/val").glob("*.jpg"))[0]
    from_file = rollout_grid(run, image)
    from_array = rollout_grid(run, run.read_images([image])[0].numpy())
    assert from_file.shape == (4, 4) and abs(from_file.sum() - 1) < 1e-5
    assert (from_file == from_array).all()


def test_predict_on_a_folder_returns_every_image_with_the_models_softmax(home, tmp_path):
    images = sorted((home / "data/tiny/val").glob("*.jpg"))[:5]
    (tmp_path / "nested").mkdir()
    for image in images[:3]:
        shutil.copy(image, tmp_path / image.name)
    for image in images[3:]:
        shutil.copy(image, tmp_path / "nested" / image.name)
    (tmp_path / "notes.txt").write_text("not an image")
    run = open_run(home / "runs/tiny")
    predictions = predict_paths(run, [tmp_path, tmp_path / images[0].name], top_k=2)
    assert sorted(p.path.name for p in predictions) == sorted(image.name for image in images)

    with torch.no_grad():
        expected = run.model(to_model_input(run.read_images([p.path for p in predictions]))).softmax(dim=1)
    for prediction, probs in zip(predictions, expected):
        values = [prob for _, prob in prediction.top]
        assert len(values) == 2 and values == sorted(values, reverse=True) and sum(values) <= 1 + 1e-6
        for name, prob in prediction.top:
            assert prob == pytest.approx(float(probs[CLASSES.index(name)]), abs=1e-6)
        assert prediction.best == CLASSES[int(probs.argmax())]


def test_predictions_csv_round_trips(home, tmp_path):
    images = sorted((home / "data/tiny/val").glob("*.jpg"))[:3]
    predictions = predict_paths(home / "runs/tiny", images, top_k=3)
    path = write_predictions_csv(tmp_path / "out/predictions.csv", predictions)
    again = read_predictions_csv(path)
    assert [p.path for p in again] == images
    for before, after in zip(predictions, again):
        assert [name for name, _ in after.top] == [name for name, _ in before.top]
        assert [prob for _, prob in after.top] == pytest.approx([prob for _, prob in before.top], abs=1e-6)


def test_predict_refuses_a_bad_top_k_and_an_unreadable_image(home, tmp_path):
    with pytest.raises(UserError, match="--top-k: must be at least 1"):
        predict_paths(home / "runs/tiny", [tmp_path], top_k=0)
    (tmp_path / "broken.jpg").write_text("not a picture")
    with pytest.raises(UserError, match="broken.jpg: cannot read this image"):
        predict_paths(home / "runs/tiny", [tmp_path])


# --- the commands ---------------------------------------------------------------------------


def test_attention_command_writes_one_png_per_image_at_150_dpi(home, tmp_path):
    images = sorted((home / "data/tiny/val").glob("*.jpg"))[:2]
    out = vit(home, "attention", "ref", *images, "--out", tmp_path / "maps", "--device", "cpu")
    assert out.returncode == 0, out.stderr
    written = sorted(p for p in (tmp_path / "maps").iterdir() if p.name != ".vit-tui")
    assert (tmp_path / "maps" / ".vit-tui").read_text() == "vit-tui attention\n"
    assert [p.name for p in written] == sorted(f"{image.stem}_attention.png" for image in images)
    assert out.stdout.count("wrote ") == 2
    for path in written:
        with Image.open(path) as png:
            assert min(png.info["dpi"]) >= 149.5 and png.width >= 600


def test_attention_of_an_image_in_the_app_matches_the_figure(home):
    run = open_run(home / "runs/ref")
    image = sorted((home / "data/tiny/val").glob("*.jpg"))[0]
    (attention,) = image_attention(run, run.read_images([image]), [image])
    assert attention.heads.shape == (1, 2, 4, 4) and attention.rollout.shape == (4, 4)
    assert (attention.rollout == rollout_grid(run, image)).all()


@pytest.mark.parametrize("bad", ["missing.jpg", "broken.jpg"])
def test_attention_on_bad_input_is_one_line_exit_2_and_writes_nothing(home, tmp_path, capsys, bad):
    good = sorted((home / "data/tiny/val").glob("*.jpg"))[0]
    if bad == "broken.jpg":
        (tmp_path / bad).write_text("not a picture")
    code = main(
        ["--home", str(home), "attention", "tiny", str(good), str(tmp_path / bad), "--out", str(tmp_path / "maps")]
    )
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith(f"vit-tui: {tmp_path / bad}: ")
    assert ("not found" if bad == "missing.jpg" else "cannot read this image") in lines[0]
    assert not (tmp_path / "maps").exists()


def test_predict_command_takes_a_folder_and_writes_csv(home, tmp_path):
    out = vit(home, "predict", "tiny", home / "data/tiny/val", "--top-k", "2", "--csv", tmp_path / "p.csv")
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stdout.splitlines() if line.endswith("%")]
    assert len(lines) == len(list((home / "data/tiny/val").glob("*.jpg"))) == 12
    assert all(line.count("%") == 2 for line in lines)
    assert len(read_predictions_csv(tmp_path / "p.csv")) == 12


def test_predict_refuses_a_csv_that_is_a_folder_before_predicting(home, tmp_path, capsys):
    image = sorted((home / "data/tiny/val").glob("*.jpg"))[0]
    code = main(["--home", str(home), "predict", "tiny", str(image), "--csv", str(tmp_path)])
    out, err = capsys.readouterr()
    assert (
        code == 2
        and out == ""
        and err.strip() == f"vit-tui: --csv {tmp_path}: is a folder; name a file, e.g. predictions.csv"
    )
