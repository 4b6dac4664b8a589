"""The new augmentation settings in a run: checked config, seeded batches, exact resumes, the capture decision."""

from __future__ import annotations

import pytest
import torch
from data_fixtures import one_thread  # noqa: F401 - an autouse fixture
from test_engine_train import STEPS_PER_EPOCH, TRAIN_IMAGES, CancelAfter, make_dataset, metric_values, tiny_config

from vit_tui.config import ConfigError, RunConfig, apply_overrides, validate
from vit_tui.data.augment import augment_batch, to_model_input
from vit_tui.data.augment_mix import Mixing, random_erase
from vit_tui.data.augment_policy import apply_policy
from vit_tui.engine.train.graph_step import graph_unavailable_reason
from vit_tui.engine.train.trainer import train

EVERYTHING = ["train.policy=trivialaugment", "train.random_erasing=0.25", "train.mixup=0.8", "train.cutmix=1.0"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("data") / "tiny", TRAIN_IMAGES, 48)


@pytest.mark.parametrize(
    ("setting", "needle"),
    [
        ("train.policy=autoaugment", "choose one of none, trivialaugment, randaugment"),
        ("train.policy_magnitude=31", "between 0 and 30"),
        ("train.mixup=-0.1", "Beta alpha >= 0"),
        ("train.cutmix=nan", "Beta alpha >= 0"),
        ("train.random_erasing=1.5", "probability in [0, 1]"),
    ],
)
def test_bad_values_are_one_line_naming_the_key(setting, needle):
    with pytest.raises(ConfigError) as caught:
        validate(apply_overrides(RunConfig(), ["data.dataset=x", setting]))
    assert caught.value.field == setting.split("=")[0]
    assert needle in str(caught.value) and "\n" not in str(caught.value)


def test_defaults_are_off():
    t = RunConfig().train
    assert (t.policy, t.policy_magnitude, t.mixup, t.cutmix, t.random_erasing) == ("none", 9, 0.0, 0.0, 0.0)


def _pipeline(images: torch.Tensor, seed: int | torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """The step's input pipeline with everything on, as ``TrainStep._inputs`` runs it."""
    generator = seed if isinstance(seed, torch.Generator) else torch.Generator().manual_seed(seed)
    images = apply_policy(augment_batch(images, "flip-crop", generator), "randaugment", 9, generator)
    x = random_erase(to_model_input(images), 0.25, generator)
    return Mixing(0.8, 1.0, 0.1)(x, generator)


def test_same_seed_gives_identical_augmented_batches():
    images = torch.randint(0, 256, (16, 32, 32, 3), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    first, lam = _pipeline(images, 5)
    second, lam_again = _pipeline(images, 5)
    assert torch.equal(first, second) and torch.equal(lam, lam_again)
    assert not torch.equal(first, _pipeline(images, 6)[0])


@pytest.mark.parametrize("extra", [EVERYTHING, ["train.policy=randaugment", "train.cutmix=1.0"]], ids=["trivial-all", "rand-cutmix"])
def test_interrupted_and_resumed_run_matches_uninterrupted(dataset, tmp_path, extra):
    cfg = tiny_config(dataset, *extra)
    base = train(cfg, lambda e: None, runs_root=tmp_path, name="base")
    stopped = train(cfg, lambda e: None, CancelAfter(STEPS_PER_EPOCH + 3), runs_root=tmp_path, name="r")
    assert stopped.status == "interrupted"
    done = train(cfg, lambda e: None, resume=stopped.run_dir)
    assert done.status == "finished"
    assert metric_values(done.run_dir) == metric_values(base.run_dir)
    again = train(cfg, lambda e: None, runs_root=tmp_path, name="again")
    assert metric_values(again.run_dir) == metric_values(base.run_dir)


def _graph_config(*extra: str) -> RunConfig:
    return apply_overrides(RunConfig(), ["train.cuda_graph=auto", "train.optimizer=adamw", *extra])


@pytest.mark.parametrize("extra", [[s] for s in EVERYTHING] + [["train.policy=randaugment"]])
def test_every_new_option_is_captured_with_the_generator(monkeypatch, extra):
    cuda = torch.device("cuda")
    with_generators = type("CUDAGraph", (), {"register_generator_state": lambda self, generator: None})
    monkeypatch.setattr(torch.cuda, "CUDAGraph", with_generators)
    assert graph_unavailable_reason(_graph_config(*extra), cuda) is None
    monkeypatch.setattr(torch.cuda, "CUDAGraph", type("CUDAGraph", (), {}))  # an older torch
    reason = graph_unavailable_reason(_graph_config(*extra), cuda)
    assert reason and extra[0] in reason and "\n" not in reason
    assert graph_unavailable_reason(_graph_config(), cuda) is None  # nothing random: no generator needed


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_pipeline_is_captured_in_a_cuda_graph_and_replays_what_eager_draws():
    device = torch.device("cuda")
    images = torch.randint(0, 256, (32, 32, 32, 3), dtype=torch.uint8, device=device)
    generator = torch.Generator(device=device).manual_seed(3)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up: the tables and grids are made here, not during capture
        _pipeline(images, generator)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    graph.register_generator_state(generator)
    with torch.cuda.graph(graph, capture_error_mode="thread_local"):
        static_out, static_lam = _pipeline(images, generator)
    for _ in range(2):
        before = generator.get_state()
        graph.replay()
        torch.cuda.synchronize()
        eager_out, eager_lam = _pipeline(images, torch.Generator(device=device).set_state(before))
        assert torch.equal(static_lam, eager_lam)
        assert torch.allclose(static_out, eager_out, atol=1e-5)
