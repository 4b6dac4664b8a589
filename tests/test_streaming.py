"""A training split held on the device or streamed from its memory-mapped cache trains identically.

``train.data_memory_budget`` decides the holder: a split larger than the budget is streamed. Runs
here use a 1 KiB budget to force streaming on a tiny dataset and compare it, step for step and
weight for weight, with the resident run; the batch source is checked on its own for arbitrary
index lists and for prefetches that are used or overtaken.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from data_fixtures import one_thread  # noqa: F401 - an autouse fixture
from test_engine_train import CancelAfter, make_dataset, tiny_config

from vit_tui.config import ConfigError, apply_overrides, validate
from vit_tui.data.store import load_split
from vit_tui.engine.runs.folder import RunFolder
from vit_tui.engine.telemetry.events import PhaseChanged, null_sink
from vit_tui.engine.train import trainer as trainer_mod
from vit_tui.engine.train.batches import StreamedTrainData, TrainData, auto_budget, choose_holding
from vit_tui.engine.train.trainer import train
from vit_tui.sizes import format_size, parse_size

TRAIN_IMAGES, VAL_IMAGES, BATCH = 48, 24, 8
STREAM = "train.data_memory_budget=1KiB"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    # 36-pixel images for a 32-pixel model: the streamed path resizes each batch, the resident one the split.
    return make_dataset(tmp_path_factory.mktemp("data") / "stream", TRAIN_IMAGES, VAL_IMAGES, size=36)


@pytest.fixture
def every_step_logged(monkeypatch):
    monkeypatch.setattr(trainer_mod, "LOG_INTERVAL_S", 0.0)


def step_losses(run_dir: Path) -> list[tuple[int, float, float]]:
    return [(row["global_step"], row["loss"], row["acc"]) for row in RunFolder(run_dir).read_steps()]


def final_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / "weights/last.pt", weights_only=True)["model"]


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])]


@pytest.fixture(scope="module")
def resident_run(tmp_path_factory, dataset):
    sink: list = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(trainer_mod, "LOG_INTERVAL_S", 0.0)  # one steps.csv row per step
        result = train(tiny_config(dataset), sink.append, runs_root=tmp_path_factory.mktemp("runs"), name="resident")
    return result, sink


def test_streamed_run_equals_resident_run(resident_run, dataset, tmp_path, every_step_logged):
    resident, resident_sink = resident_run
    sink: list = []
    streamed = train(tiny_config(dataset, STREAM), sink.append, runs_root=tmp_path, name="streamed")
    assert resident.status == streamed.status == "finished"

    losses = step_losses(streamed.run_dir)
    assert len(losses) == 2 * (TRAIN_IMAGES // BATCH)  # every step of both epochs
    assert losses == step_losses(resident.run_dir)
    assert_same_weights(final_weights(streamed.run_dir), final_weights(resident.run_dir))

    held = RunFolder(streamed.run_dir).read_summary()["train_data"]
    assert held["holder"] == "streamed" and held["budget_bytes"] == 1024
    assert held["split_bytes"] == TRAIN_IMAGES * 32 * 32 * 3  # resized to the model's 32 px, as the device holds it
    assert RunFolder(resident.run_dir).read_summary()["train_data"]["holder"] == "resident"
    notes = [e.detail for e in sink if isinstance(e, PhaseChanged) and e.phase == "note"]
    assert notes == [f"streaming the train split: {format_size(held['split_bytes'])} > budget 1.0 KiB "
                     "(train.data_memory_budget=1KiB)"]  # fmt: skip
    resident_notes = [e.detail for e in resident_sink if isinstance(e, PhaseChanged) and e.phase == "note"]
    assert len(resident_notes) == 1 and resident_notes[0].startswith("train split resident on the device")
    # The events file carries the note too, so attach and the app show it.
    logged = [json.loads(line) for line in (streamed.run_dir / "events.jsonl").read_text().splitlines()]
    assert "step_path" in logged[0] and RunFolder(streamed.run_dir).read_summary()["step_path"] == "eager"


def test_streamed_run_interrupted_and_resumed_equals_resident_run(resident_run, dataset, tmp_path):
    resident, _ = resident_run
    cfg = tiny_config(dataset, STREAM)
    stopped = train(cfg, null_sink, CancelAfter(TRAIN_IMAGES // BATCH + 2), runs_root=tmp_path, name="r")
    assert stopped.status == "interrupted"
    assert torch.load(stopped.run_dir / "weights/resume.pt", weights_only=True)["step"] == 2  # mid epoch 2
    done = train(cfg, null_sink, resume=stopped.run_dir)
    assert done.status == "finished"
    assert_same_weights(final_weights(done.run_dir), final_weights(resident.run_dir))


def test_streamed_batches_match_resident_for_any_indices(dataset):
    mapped = load_split(dataset, "train", mmap=True)
    in_memory = load_split(dataset, "train")
    resident = TrainData(in_memory.images, in_memory.labels)
    streamed = StreamedTrainData(mapped.images, mapped.labels, torch.device("cpu"), image_size=36, background=True)
    try:
        shares = [torch.tensor([5, 0, 47, 5, 12]), torch.arange(1, TRAIN_IMAGES, 2), torch.tensor([], dtype=torch.long)]
        for indices in shares:  # unsorted with repeats, one rank's stride, empty
            expected = resident.batch(indices)
            assert all(torch.equal(a, b) for a, b in zip(streamed.batch(indices), expected))
        streamed.prefetch(shares[0])  # used
        assert torch.equal(streamed.batch(shares[0])[0], resident.batch(shares[0])[0])
        streamed.prefetch(shares[0])  # overtaken: another batch is asked for
        assert torch.equal(streamed.batch(shares[1])[1], resident.batch(shares[1])[1])
        assert torch.equal(streamed.batch(shares[0])[1], resident.batch(shares[0])[1])
    finally:
        streamed.close()


def test_holder_follows_the_budget():
    cpu = torch.device("cpu")
    assert choose_holding(2048, "2KiB", cpu).streamed is False
    assert choose_holding(2049, "2KiB", cpu).streamed is True
    assert choose_holding(1, "0", cpu).streamed is True
    auto = choose_holding(1, "auto", cpu)
    assert not auto.streamed and 0 < auto.budget_bytes == auto_budget(cpu)
    total_ram = int(Path("/proc/meminfo").read_text().split()[1]) * 1024 if Path("/proc/meminfo").exists() else None
    if total_ram:
        assert auto.budget_bytes < total_ram


@pytest.mark.parametrize(
    ("text", "size"),
    [("1KiB", 1024), ("2GiB", 2 * 1024**3), ("1.5GB", 1_500_000_000), ("123", 123), (" 64 mib ", 64 * 1024**2)],
)
def test_sizes_read_as_written(text, size):
    assert parse_size(text) == size
    validate(apply_overrides(tiny_config(Path("data")), [f"train.data_memory_budget={text}"]))


@pytest.mark.parametrize("bad", ["lots", "-1GiB", "2 GiB of RAM", "1e9", ""])
def test_bad_budgets_are_refused_naming_the_key(bad):
    with pytest.raises(ConfigError) as caught:
        validate(apply_overrides(tiny_config(Path("data")), [f"train.data_memory_budget={bad}"]))
    assert caught.value.field == "train.data_memory_budget"
    assert "auto" in caught.value.why and "GiB" in caught.value.why


def test_cli_refuses_a_bad_budget_in_one_line(dataset, tmp_path):
    runs = tmp_path / "runs"
    result = subprocess.run(
        [sys.executable, "-m", "vit_tui", "--home", str(tmp_path), "train", "--data", str(dataset),
         "--set", "train.data_memory_budget=plenty", "--set", "train.device=cpu"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vit-tui: train.data_memory_budget: cannot read 'plenty' as a size")
    assert "Traceback" not in result.stderr and not runs.exists()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_streamed_batches_on_cuda_match_resident(dataset):
    cuda = torch.device("cuda")
    mapped = load_split(dataset, "train", mmap=True)
    resident = TrainData(mapped.images.to(cuda, copy=True), mapped.labels.to(cuda))
    streamed = StreamedTrainData(mapped.images, mapped.labels, cuda, image_size=36)
    try:
        order = torch.randperm(TRAIN_IMAGES)
        batches = [order[i : i + BATCH] for i in range(0, TRAIN_IMAGES, BATCH)]
        for k, indices in enumerate(batches):
            got = streamed.batch(indices)
            if k + 1 < len(batches):
                streamed.prefetch(batches[k + 1])
            expected = resident.batch(indices.to(cuda))
            assert got[0].device.type == "cuda" and all(torch.equal(a, b) for a, b in zip(got, expected))
    finally:
        streamed.close()
