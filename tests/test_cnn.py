"""The CNN baseline (``model.arch=resnet18``): torchvision's ResNet-18 for small images, trained,
evaluated, predicted and summarised through the same engine as the ViT; attention refused in one line."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
from data_fixtures import one_thread  # noqa: F401 - an autouse fixture
from torchvision.models import resnet18
from tui_fixtures import make_tiny_dataset, tiny_config

from vit_tui.cli import main
from vit_tui.config import ConfigError, field_errors, validate
from vit_tui.engine.infer.evaluate import evaluate_run
from vit_tui.engine.infer.predict import predict_paths
from vit_tui.engine.runs.folder import RunFolder
from vit_tui.engine.telemetry.events import null_sink
from vit_tui.engine.train.trainer import train
from vit_tui.model.build import build_model
from vit_tui.model.summary import summarize
from vit_tui.presets import preset

CNN = ["model.arch=resnet18", "model.width=4"]


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    """A tiny dataset and a one-epoch CNN run of it (``cnn``)."""
    root = tmp_path_factory.mktemp("home")
    data = make_tiny_dataset(root / "data")
    result = train(tiny_config(str(data), CNN), null_sink, runs_root=root / "runs", name="cnn")
    assert result.status == "finished"
    return root


def test_at_width_64_it_is_torchvisions_resnet18_with_the_small_image_stem() -> None:
    ours = build_model(replace(preset("cnn").model, width=64), 5).eval()
    theirs = resnet18(num_classes=5)
    theirs.conv1 = torch.nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    theirs.maxpool = torch.nn.Identity()
    theirs.load_state_dict(ours.state_dict())  # the same names and shapes, strictly
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours(images), theirs.eval()(images))


def test_the_stages_widen_from_the_width_and_any_image_side_reaches_the_head() -> None:
    model = build_model(replace(preset("cnn").model, width=8, image_size=40), 3)
    assert [getattr(model, f"layer{i}")[0].conv1.out_channels for i in range(1, 5)] == [8, 16, 32, 64]
    assert isinstance(model.maxpool, torch.nn.Identity) and model.conv1.stride == (1, 1)
    assert model(torch.randn(2, 3, 40, 40)).shape == (2, 3)


def test_summary_has_a_row_per_stage_and_flops_grow_with_the_square_of_the_width() -> None:
    narrow, wide = (summarize(replace(preset("cnn").model, width=w), 5) for w in (8, 16))
    assert [name for name, _ in narrow.rows] == ["stem", "stage 1", "stage 2", "stage 3", "stage 4", "classifier"]
    assert narrow.seq_len == 0
    assert 3.5 < wide.flops_per_image / narrow.flops_per_image < 4.1


def test_vit_only_settings_are_ignored_and_the_width_is_range_checked() -> None:
    cfg = tiny_config("data/tiny", [*CNN, "model.patch_size=7", "model.heads=5"])  # wrong for a ViT: not checked
    validate(cfg)
    for width in (0, 257):
        bad = replace(cfg, model=replace(cfg.model, width=width))
        assert [e.field for e in field_errors(bad)] == ["model.width"]
    with pytest.raises(ConfigError, match="did you mean resnet18"):
        validate(replace(cfg, model=replace(cfg.model, arch="resnet1")))


def test_a_cnn_run_trains_evaluates_and_predicts_through_the_engine(home) -> None:
    run = home / "runs" / "cnn"
    summary = RunFolder(run).read_summary()
    assert summary["status"] == "finished" and summary["epochs_done"] == 1
    assert summary["params"] == sum(p.numel() for p in build_model(tiny_config("x", CNN).model, 3).parameters())
    evaluation = evaluate_run(run, device="cpu")
    kept = RunFolder(run).read_summary()["best_val_acc"]
    assert evaluation.accuracy == pytest.approx(kept) and evaluation.classes == summary["classes"]
    image = sorted((home / "data").rglob("*.jpg"))[0]
    (prediction,) = predict_paths(run, [image], top_k=2)
    assert prediction.best in summary["classes"] and sum(p for _, p in prediction.top) <= 1.0 + 1e-6


def test_attention_on_a_cnn_run_is_one_line_naming_the_run(home, capsys) -> None:
    image = sorted((home / "data").rglob("*.jpg"))[0]
    code = main(["--home", str(home), "attention", "cnn", str(image)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "run cnn" in err[0] and "is a CNN" in err[0]
    assert not (home / "runs" / "cnn" / "attention").exists()
