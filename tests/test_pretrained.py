"""``model.init``: timm ViT weights loaded through timm's own resampling loader, equal to timm's load by test.

A small timm ``VisionTransformer`` with random weights stands for a pretrained file (no machine
here is online); ``timm:<name>`` is tested with timm's hub download replaced by that file.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from vit_tui.config import ConfigError, ModelConfig, RunConfig, field_errors
from vit_tui.errors import UserError
from vit_tui.model.pretrained import init_shape, load_init
from vit_tui.model.vit import build_model

timm = pytest.importorskip("timm")
safetensors_torch = pytest.importorskip("safetensors.torch")

SOURCE = {"img_size": 32, "patch_size": 8, "embed_dim": 24, "depth": 2, "num_heads": 2, "mlp_ratio": 2.0}
"""The file's model: trained at 32 px in 8 px patches (a 4x4 grid), a 1000-class head."""
CLASSES = 5


def _source_model(classes: int = 1000) -> torch.nn.Module:
    torch.manual_seed(0)
    model = timm.models.vision_transformer.VisionTransformer(num_classes=classes, **SOURCE)
    with torch.no_grad():  # away from the init, so every tensor matters
        for param in model.parameters():
            param.add_(0.1 * torch.randn_like(param))
    return model


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("weights") / "tiny_vit.safetensors"
    safetensors_torch.save_file(_source_model().state_dict(), str(path))
    return path


def _config(init: str, image: int, patch: int, **changes) -> ModelConfig:
    shape = {"embed_dim": 24, "heads": 2, "blocks": 2, "mlp_ratio": 2.0}
    return ModelConfig(
        image_size=image, patch_size=patch, attention="mha", ffn="mlp", init=init, **{**shape, **changes}
    )


def _timms_load(path: Path, image: int, patch: int, classes: int = CLASSES) -> torch.nn.Module:
    """timm's own load of the file at the run's image and patch size (its filter resamples)."""
    return timm.create_model(
        "vit_tiny_patch16_224",
        pretrained=True,
        pretrained_cfg_overlay={"file": str(path)},
        num_classes=classes,
        img_size=image,
        patch_size=patch,
        embed_dim=SOURCE["embed_dim"],
        depth=SOURCE["depth"],
        num_heads=SOURCE["num_heads"],
        mlp_ratio=SOURCE["mlp_ratio"],
    ).eval()


@pytest.mark.parametrize(
    ("image", "patch", "resampled"),
    [
        (64, 16, ("patch_embed.proj.weight",)),  # the same 4x4 grid from larger patches
        (32, 8, ()),  # the file's own sizes
        (48, 8, ("pos_embed",)),  # a 6x6 grid
        (64, 32, ("pos_embed", "patch_embed.proj.weight")),  # a 2x2 grid of larger patches
    ],
)
def test_a_file_loads_as_timm_loads_it(weights_file, image, patch, resampled):
    m = _config(str(weights_file), image, patch)
    ours = build_model(m, CLASSES)
    report = load_init(ours, m, CLASSES)
    theirs = _timms_load(weights_file, image, patch)
    # timm gives a head of other classes a fresh init; ours took the one timm drew.
    assert report.head_reinitialised and report.resampled == resampled
    assert report.loaded == len(theirs.state_dict()) - 2
    with torch.no_grad():
        theirs.head.weight.copy_(ours.head.weight)
        images = torch.randn(3, 3, image, image)
        torch.testing.assert_close(ours.eval()(images), theirs(images), rtol=1e-5, atol=1e-5)
    source = _source_model().state_dict()
    assert torch.equal(ours.state_dict()["blocks.1.mlp.fc2.weight"], source["blocks.1.mlp.fc2.weight"])


def test_a_head_with_the_datasets_classes_is_kept(tmp_path):
    path = tmp_path / "five.pth"
    torch.save({"state_dict": _source_model(CLASSES).state_dict()}, path)  # a wrapped torch pickle
    m = _config(str(path), 32, 8)
    ours = build_model(m, CLASSES)
    report = load_init(ours, m, CLASSES)
    assert not report.head_reinitialised and "head loaded" in report.describe()
    assert torch.equal(ours.head.weight, _source_model(CLASSES).head.weight)


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"embed_dim": 48}, "cls_token is [1, 1, 24] there, the model needs [1, 1, 48]"),
        ({"blocks": 3}, "has no tensor blocks.2.norm1.weight, which the model needs"),
        ({"blocks": 1}, "has a tensor blocks.1."),
        ({"mlp_ratio": 4.0}, "blocks.0.mlp.fc1.weight is [48, 24] there, the model needs [96, 24]"),
    ],
)
def test_a_tensor_that_does_not_fit_is_one_line_naming_it(weights_file, changes, needle):
    m = _config(str(weights_file), 32, 8, **changes)
    with pytest.raises(UserError) as caught:
        load_init(build_model(m, CLASSES), m, CLASSES)
    message = str(caught.value)
    assert caught.value.subject == "model.init" and needle in message and "\n" not in message


def test_a_missing_or_unreadable_file_is_one_line_naming_it(tmp_path):
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a safetensors file")
    for path, needle in ((tmp_path / "absent.safetensors", "no weights file"), (garbage, "cannot read")):
        m = _config(str(path), 32, 8)
        with pytest.raises(UserError) as caught:
            load_init(build_model(m, CLASSES), m, CLASSES)
        assert needle in str(caught.value) and str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_timm_name_takes_timms_shape_and_its_download(weights_file, monkeypatch):
    """``timm:<name>``: the shape from timm's config, the weights from the hub (here: the local file)."""
    name = "vit_tiny_patch16_224.augreg_in21k_ft_in1k"
    shaped = init_shape(_config(f"timm:{name}", 64, 8))
    assert (shaped.embed_dim, shaped.blocks, shaped.heads, shaped.patch_size, shaped.mlp_ratio) == (192, 12, 3, 16, 4.0)
    # The hub holds a 224 px ViT-Ti/16: made here from the small file's blocks would not fit, so
    # a ViT-Ti-shaped random model stands for it.
    torch.manual_seed(1)
    hub_weights = timm.create_model("vit_tiny_patch16_224", pretrained=False).state_dict()
    asked: list = []

    def fake_download(hub_id, *args, **kwargs):
        asked.append(hub_id)
        return dict(hub_weights)

    monkeypatch.setattr(timm.models._builder, "load_state_dict_from_hf", fake_download)
    ours = build_model(shaped, CLASSES)
    report = load_init(ours, shaped, CLASSES)
    assert asked == ["timm/" + name]
    assert report.resampled == ("pos_embed",) and report.head_reinitialised
    theirs = timm.create_model(name, pretrained=True, num_classes=CLASSES, img_size=64).eval()
    with torch.no_grad():
        theirs.head.load_state_dict(ours.head.state_dict())
        images = torch.randn(2, 3, 64, 64)
        torch.testing.assert_close(ours.eval()(images), theirs(images), rtol=1e-5, atol=1e-5)


def test_an_unknown_timm_name_is_one_line():
    with pytest.raises(UserError, match="timm could not make no_such_vit"):
        init_shape(_config("timm:no_such_vit", 64, 16))


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        ({"attention": "dlstudio"}, "model.attention=mha, not dlstudio"),
        ({"stem": "conv"}, "model.stem=patch, not conv"),
        ({"ffn": "flattened"}, "model.ffn=mlp, not flattened"),
        ({"pool": "mean"}, "model.pool=token, not mean"),
        ({"init": "weights.npz"}, "neither none, timm:<name> nor a weights file"),
        ({"init": "timm:"}, "needs a model name"),
    ],
)
def test_init_on_another_layout_is_refused_by_validation(changes, needle):
    cfg = RunConfig(model=replace(_config("w.safetensors", 64, 16), **changes))
    errors = [e for e in field_errors(cfg) if e.field == "model.init"]
    assert len(errors) == 1 and needle in errors[0].why


def test_drop_path_is_refused_for_the_reference_layouts():
    errors = field_errors(RunConfig(model=ModelConfig(drop_path=0.1)))
    assert [e.field for e in errors] == ["model.drop_path"] and "mha blocks only" in errors[0].why
    assert isinstance(errors[0], ConfigError)


def test_without_timm_vit_tui_imports_and_init_names_the_extra(tmp_path, weights_file):
    """timm is an extra: the package works without it, and ``model.init`` says how to install it."""
    (tmp_path / "sitecustomize.py").write_text("import sys\nsys.modules['timm'] = None\n")
    script = (
        "import vit_tui.model.vit, vit_tui.model.pretrained, vit_tui.cli\n"
        "from vit_tui.model.pretrained import load_init\n"
        "from vit_tui.config import ModelConfig, RunConfig, field_errors\n"
        f"m = ModelConfig(attention='mha', ffn='mlp', init={str(weights_file)!r})\n"
        "print([e.why for e in field_errors(RunConfig(model=m))])\n"
        "try:\n"
        "    load_init(vit_tui.model.vit.build_model(m, 5), m, 5)\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(root)])}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    extra = "pip install 'vit-tui[pretrained]'"
    lines = out.stdout.splitlines()
    assert extra in lines[0] and lines[1].startswith("UserError") and extra in lines[1]
