"""Training with stochastic depth and from loaded weights: reruns and resumes stay exact, the run says what it loaded."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from data_fixtures import one_thread  # noqa: F401 - an autouse fixture
from test_engine_train import TRAIN_IMAGES, VAL_IMAGES, CancelAfter, make_dataset, metric_values, tiny_config

from vit_tui.engine.telemetry.events import PhaseChanged, null_sink
from vit_tui.engine.train.trainer import train

STEPS_PER_EPOCH = TRAIN_IMAGES // 8
DROP_PATH = ("model.blocks=3", "model.drop_path=0.5")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("data") / "tiny", TRAIN_IMAGES, VAL_IMAGES)


def _last_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / "weights/last.pt", weights_only=True)["model"]


def test_drop_path_reruns_and_resumes_exactly(dataset, tmp_path):
    cfg = tiny_config(dataset, *DROP_PATH)
    first = train(cfg, null_sink, runs_root=tmp_path, name="first")
    second = train(cfg, null_sink, runs_root=tmp_path, name="second")
    assert metric_values(first.run_dir) == metric_values(second.run_dir)

    stopped = train(cfg, null_sink, CancelAfter(STEPS_PER_EPOCH + 3), runs_root=tmp_path, name="resumed")
    assert stopped.status == "interrupted"
    done = train(cfg, null_sink, resume=stopped.run_dir)
    assert done.status == "finished"
    assert metric_values(done.run_dir) == metric_values(first.run_dir)
    a, b = _last_weights(first.run_dir), _last_weights(done.run_dir)
    assert all(torch.equal(a[k], b[k]) for k in a)

    # The draws matter: without them the run trains differently.
    plain = train(tiny_config(dataset, "model.blocks=3"), null_sink, runs_root=tmp_path, name="plain")
    assert metric_values(plain.run_dir) != metric_values(first.run_dir)


def test_a_run_starts_from_the_file_and_says_so(dataset, tmp_path):
    timm = pytest.importorskip("timm")
    safetensors_torch = pytest.importorskip("safetensors.torch")
    # The tiny config's shape (E=32, 2 heads, 1 block, MLP ratio 4), trained at 64 px in 16 px patches.
    source = timm.models.vision_transformer.VisionTransformer(
        img_size=64, patch_size=16, embed_dim=32, depth=1, num_heads=2, num_classes=10
    )
    path = tmp_path / "vit.safetensors"
    safetensors_torch.save_file(source.state_dict(), str(path))
    events: list = []
    cfg = tiny_config(dataset, f"model.init={path}", "train.epochs=1")
    stopped = train(cfg, events.append, CancelAfter(0), runs_root=tmp_path, name="init")
    notes = [e.detail for e in events if isinstance(e, PhaseChanged) and e.detail.startswith("model.init:")]
    assert notes == [f"model.init: {path}: 18 tensors loaded, patch_embed.proj.weight resampled, head re-initialised"]
    # Nothing trained yet: the resumable weights are the file's (the patch embedding resampled to 8 px).
    state = torch.load(stopped.run_dir / "weights/resume.pt", weights_only=True)["model"]
    assert torch.equal(state["blocks.0.attn.qkv.weight"], source.state_dict()["blocks.0.attn.qkv.weight"])
    assert state["patch_embed.proj.weight"].shape[-1] == 8
    # A resumed run continues from its own weights, not the file's (which may be gone).
    path.unlink()
    assert train(cfg, null_sink, resume=stopped.run_dir).status == "finished"
