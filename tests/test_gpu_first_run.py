"""First-run failures on a GPU box, each decided by a plain function tested here on the CPU.

The plain functions are imported inside their tests, so the behaviour tests here run on their own.

What only CUDA can show (a capture on ``cuda:1``, a resumed capture, bf16 on the card) is marked
``gpu`` and skipped without CUDA; ``bench/gpu_check.sh`` runs those on a lent GPU.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from data_fixtures import (
    one_thread,  # noqa: F401 - an autouse fixture
    restore_determinism,  # noqa: F401 - an autouse fixture
)
from test_engine_train import make_dataset, tiny_config

from vit_tui.engine.runs.folder import RunFolder
from vit_tui.engine.telemetry.events import PhaseChanged, null_sink
from vit_tui.engine.train.trainer import train

no_cuda = not torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(no_cuda, reason="needs CUDA")


# --- 5: precision=auto from the card's capability ----------------------------------------------


@pytest.mark.parametrize(
    ("requested", "device", "capability", "expected"),
    [
        ("auto", "cuda", (7, 5), "fp32"),  # T4
        ("auto", "cuda", (7, 0), "fp32"),  # V100
        ("auto", "cuda", (8, 0), "bf16"),  # A100
        ("auto", "cuda", (9, 0), "bf16"),  # H100 / H200
        ("auto", "cpu", None, "fp32"),
        ("auto", "mps", None, "fp32"),
        ("bf16", "cuda", (7, 5), "bf16"),  # asked for: kept
        ("fp32", "cuda", (9, 0), "fp32"),
    ],
    ids=["t4", "v100", "a100", "h100", "cpu", "mps", "bf16-asked-on-t4", "fp32-asked"],
)
def test_auto_precision_follows_the_cards_capability(requested, device, capability, expected) -> None:
    from vit_tui.engine.device.precision import choose_precision

    precision, note = choose_precision(requested, device, capability)
    assert precision == expected
    chose_fp32_on_cuda = requested == "auto" and device == "cuda" and expected == "fp32"
    assert bool(note) == chose_fp32_on_cuda
    if note:
        assert note.startswith("train.precision=auto chose fp32") and f"{capability[0]}.{capability[1]}" in note


# --- 6: the memory budget counts the resized split -----------------------------------------------


def test_resident_bytes_count_the_model_input_size() -> None:
    from vit_tui.engine.train.batches import resident_bytes

    assert resident_bytes(1000, 224) == 1000 * 224 * 224 * 3
    assert resident_bytes(0, 224) == 0


def test_a_small_stored_set_trained_at_a_larger_size_streams_when_its_resized_copy_is_over_budget(tmp_path) -> None:
    # Stored at 16 px (48 x 768 B = 36 KiB), trained at 32 px (144 KiB resident): a 64 KiB budget must stream.
    dataset = make_dataset(tmp_path / "small", 48, 16, size=16)
    cfg = tiny_config(dataset, "train.epochs=1", "train.data_memory_budget=64KiB")
    result = train(cfg, null_sink, runs_root=tmp_path / "runs", name="resized")
    held = RunFolder(result.run_dir).read_summary()["train_data"]
    assert result.status == "finished"
    assert held["holder"] == "streamed" and held["split_bytes"] == 48 * 32 * 32 * 3


# --- 8: CUBLAS_WORKSPACE_CONFIG before cuBLAS can start ------------------------------------------


def test_the_command_entry_sets_the_cublas_workspace_before_any_command_runs(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "CUBLAS_WORKSPACE_CONFIG"}
    code = (
        "import os, sys\n"
        "from vit_tui import cli\n"
        "try:\n    cli.main(['--home', sys.argv[1], 'data', '--help'])\nexcept SystemExit:\n    pass\n"
        "print(os.environ.get('CUBLAS_WORKSPACE_CONFIG'), 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == ":4096:8 False"  # set before torch was even imported
    kept = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=60,
        env={**env, "CUBLAS_WORKSPACE_CONFIG": ":16:8"},
    )  # fmt: skip
    assert kept.stdout.strip().splitlines()[-1] == ":16:8 False"


# --- 2: a resume keeps the optimizer's own capturable setting ------------------------------------


def _adamw(capturable: bool) -> torch.optim.AdamW:
    torch.manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(4, 3)), torch.nn.Parameter(torch.randn(3))]
    lr = torch.tensor(1e-3) if capturable else 1e-3
    return torch.optim.AdamW([{"params": params[:1]}, {"params": params[1:], "weight_decay": 0.0}], lr=lr,
                             fused=True, capturable=capturable)  # fmt: skip


def _one_step(optimizer: torch.optim.Optimizer) -> dict:
    for group in optimizer.param_groups:
        for param in group["params"]:
            param.grad = torch.ones_like(param)
    optimizer.step()
    return optimizer.state_dict()


@pytest.mark.parametrize(("saved_capturable", "own_capturable"), [(False, True), (True, False)],
                         ids=["eager-checkpoint-into-capture", "captured-checkpoint-into-eager"])  # fmt: skip
def test_a_resumed_optimizer_keeps_its_own_capturable_setting(saved_capturable, own_capturable) -> None:
    from vit_tui.engine.train.optimizer import optimizer_settings_after_resume

    saved = _one_step(_adamw(saved_capturable))
    optimizer = _adamw(own_capturable)
    optimizer.load_state_dict(optimizer_settings_after_resume(saved, optimizer))
    assert [g["capturable"] for g in optimizer.param_groups] == [own_capturable, own_capturable]
    assert all(g["fused"] for g in optimizer.param_groups)
    steps = [state["step"] for state in optimizer.state.values()]
    assert steps and all(float(step) == 1.0 for step in steps)  # what was learned is kept
    _one_step(optimizer)


# --- 3: the tensor learning rate is filled from lr_factor ---------------------------------------


def test_the_tensor_learning_rate_is_filled_in_place_from_the_schedule() -> None:
    from vit_tui.config import RunConfig, apply_overrides
    from vit_tui.engine.train.optimizer import lr_factor, make_scheduler

    cfg = apply_overrides(RunConfig(), ["train.lr=1e-3", "train.schedule=cosine", "train.warmup_epochs=1", "train.epochs=3"])
    optimizer = _adamw(capturable=True)
    tensors = [group["lr"] for group in optimizer.param_groups]
    scheduler = make_scheduler(optimizer, cfg, steps_per_epoch=4)
    for step in range(12):
        expected = 1e-3 * lr_factor(step, 4, 12, "cosine")
        assert all(t is g["lr"] for t, g in zip(tensors, optimizer.param_groups))
        assert all(float(t) == pytest.approx(expected, rel=1e-6, abs=1e-12) for t in tensors)
        assert scheduler.get_last_lr() == [expected, expected]  # plain floats, from the float peak
        assert all(type(g["initial_lr"]) is float for g in optimizer.param_groups)
        _one_step(optimizer)
        scheduler.step()


# --- 7: a checkpoint saved on CUDA resumed on the CPU -------------------------------------------


def _cuda_like_state(seed: int) -> torch.Tensor:
    """What a CUDA generator's ``get_state()`` holds: its seed and its offset, 8 bytes each."""
    return torch.tensor([seed, 4096], dtype=torch.int64).view(torch.uint8)


def test_a_checkpoint_from_a_cuda_run_resumes_on_the_cpu_with_a_warning(tmp_path) -> None:
    from test_engine_train import CancelAfter

    dataset = make_dataset(tmp_path / "data", 48, 16)
    cfg = tiny_config(dataset, "train.augment=flip-crop", "train.device=cpu")
    stopped = train(cfg, null_sink, CancelAfter(8), runs_root=tmp_path / "runs", name="moved")
    assert stopped.status == "interrupted"
    path = stopped.run_dir / "weights" / "resume.pt"
    data = torch.load(path, weights_only=True)
    for rng in [data["rng"], *data["rank_rng"]]:
        rng["generators"]["augment"] = _cuda_like_state(7)  # as a run on cuda:0 saved it
    torch.save(data, path)
    sink: list = []
    resumed = train(cfg, sink.append, resume=stopped.run_dir)
    assert resumed.status == "finished"
    warnings = [e.detail for e in sink if isinstance(e, PhaseChanged) and e.phase == "warning"]
    assert any("augment random stream was saved on another device type than cpu" in w for w in warnings), warnings


def test_a_generator_state_of_another_device_type_seeds_the_same_way_each_time() -> None:
    from vit_tui.engine.runs.checkpoint import fit_generator_state

    first, second = torch.Generator(), torch.Generator()
    assert not fit_generator_state(_cuda_like_state(7), first)
    assert not fit_generator_state(_cuda_like_state(7), second)
    assert torch.equal(torch.rand(4, generator=first), torch.rand(4, generator=second))
    own = torch.Generator().manual_seed(3)
    copy = torch.Generator()
    assert fit_generator_state(own.get_state(), copy)
    assert torch.equal(torch.rand(4, generator=own), torch.rand(4, generator=copy))


@pytest.mark.gpu
@needs_cuda
def test_a_cpu_generator_state_seeds_a_cuda_generator() -> None:
    from vit_tui.engine.runs.checkpoint import fit_generator_state

    cuda = torch.Generator(device="cuda")
    assert not fit_generator_state(torch.Generator().manual_seed(1).get_state(), cuda)
    saved = torch.Generator(device="cuda").manual_seed(5)
    assert fit_generator_state(saved.get_state(), cuda)


# --- 1 and 4: capture on the run's device, and a failed capture undone --------------------------


def test_a_capture_makes_the_runs_own_device_current() -> None:
    from vit_tui.engine.train.graph_step import CAPTURE_ERROR_MODE, capture_device_index

    assert capture_device_index(torch.device("cuda", 1), current=0) == 1
    assert capture_device_index(torch.device("cuda", 0), current=1) == 0
    assert capture_device_index(torch.device("cuda"), current=2) == 2
    assert CAPTURE_ERROR_MODE == "thread_local"


@pytest.mark.gpu
@pytest.mark.skipif(no_cuda or torch.cuda.device_count() < 2, reason="needs two CUDA devices")
def test_a_step_pinned_to_the_second_gpu_captures_there_and_trains() -> None:
    from test_graph_step import _build, _config, _losses

    cuda1 = torch.device("cuda", 1)
    cfg = _config("train.precision=fp32", "train.deterministic=true", "train.augment=flip")
    torch.cuda.set_device(0)  # the process's current device is another one, as in a sweep child
    step = _build(cfg, cuda1, steps=10)
    losses = _losses(step, 10, cfg.train.batch_size)
    assert step.describe() == "cuda-graph" and step.graph is not None
    assert losses[-1] < losses[0]  # the replays trained the model on cuda:1


@pytest.mark.gpu
@needs_cuda
def test_a_capture_holds_while_another_thread_runs_inference() -> None:
    import threading

    from test_graph_step import _build, _config, _losses

    cfg = _config("train.precision=fp32", "train.augment=flip-crop")
    stop = threading.Event()

    def infer() -> None:  # the Evaluate screen's work: allocations and host reads on the same GPU
        while not stop.is_set():
            torch.ones(256, 256, device="cuda").matmul(torch.ones(256, 256, device="cuda")).sum().item()

    other = threading.Thread(target=infer, daemon=True)
    other.start()
    try:
        step = _build(cfg, torch.device("cuda"), steps=10)
        _losses(step, 10, cfg.train.batch_size)
    finally:
        stop.set()
        other.join()
    assert step.describe() == "cuda-graph"


@pytest.mark.gpu
@needs_cuda
def test_an_eager_run_resumed_with_cuda_graph_auto_captures(tmp_path) -> None:
    from test_engine_train import CancelAfter

    dataset = make_dataset(tmp_path / "data", 64, 16)
    eager = tiny_config(dataset, "train.device=cuda", "train.cuda_graph=off", "train.optimizer=adamw")
    stopped = train(eager, null_sink, CancelAfter(5), runs_root=tmp_path / "runs", name="r")
    assert stopped.status == "interrupted"
    resumed = train(tiny_config(dataset, "train.device=cuda", "train.cuda_graph=auto"), null_sink, resume=stopped.run_dir)
    assert resumed.status == "finished"
    assert RunFolder(resumed.run_dir).read_summary()["step_path"] == "cuda-graph"


# --- 10: one trainer at a time per process -------------------------------------------------------


def test_a_second_run_in_the_process_is_refused_naming_the_one_that_trains(tmp_path) -> None:
    import threading

    from vit_tui.engine.train.trainer_slot import running_trainer
    from vit_tui.errors import UserError

    dataset = make_dataset(tmp_path / "data", 48, 16)
    cfg = tiny_config(dataset, "train.epochs=1")
    training, release = threading.Event(), threading.Event()
    first: list = []

    def held_sink(event: object) -> None:  # the first run waits here, mid-training, until the check is done
        if isinstance(event, PhaseChanged) and event.phase == "training":
            training.set()
            release.wait(30)

    thread = threading.Thread(target=lambda: first.append(train(cfg, held_sink, runs_root=tmp_path / "runs", name="first")))
    thread.start()
    try:
        assert training.wait(60)
        assert running_trainer() == "run first"
        with pytest.raises(UserError) as refused:
            train(cfg, null_sink, runs_root=tmp_path / "runs", name="second")
    finally:
        release.set()
        thread.join(60)
    assert str(refused.value).startswith("train: run first is training in this process; one trainer at a time")
    assert not (tmp_path / "runs" / "second").exists()
    assert first[0].status == "finished" and running_trainer() is None
    assert train(cfg, null_sink, runs_root=tmp_path / "runs", name="second").status == "finished"  # free again


def test_a_study_holds_the_slot_for_its_runs_and_lets_them_train() -> None:
    from vit_tui.engine.train.trainer_slot import TRAINER_SLOT, running_trainer

    with TRAINER_SLOT.hold("study s"):
        with TRAINER_SLOT.hold("run a"):  # its own runs, on its own thread
            TRAINER_SLOT.rename("run a1")
            assert running_trainer() == "study s"
        assert running_trainer() == "study s"
    assert running_trainer() is None


# --- 9: NVML: CUDA's device order, MIG, a driver that comes up late ------------------------------


@pytest.mark.parametrize(
    ("index", "visible", "order", "names", "expected"),
    [
        (1, None, None, ["H100", "H100"], 1),  # alike: fastest-first keeps the bus order
        (1, None, None, ["A100", "H100"], None),  # CUDA would put the H100 first: cannot tell
        (1, None, "PCI_BUS_ID", ["A100", "H100"], 1),
        (0, "1", "PCI_BUS_ID", ["A100", "H100"], 1),
        (0, "1", None, ["A100", "H100"], None),
        (0, "GPU-8a2f", None, ["A100", "H100"], "GPU-8a2f"),
        (0, "MIG-1c3d", None, ["A100"], None),
        (2, "0,1", "PCI_BUS_ID", ["H100", "H100"], None),
        (3, None, "PCI_BUS_ID", ["H100", "H100"], None),
    ],
    ids=["alike", "mixed-fastest-first", "mixed-pci", "visible-pci", "visible-mixed", "uuid", "mig", "past-visible",
         "past-count"],
)  # fmt: skip
def test_the_nvml_device_follows_cuda_device_order(index, visible, order, names, expected) -> None:
    from vit_tui.engine.telemetry.gpu_facts import nvml_target

    assert nvml_target(index, visible, order, names) == expected


class FakeNvml:
    """Stands in for ``pynvml`` (no NVIDIA driver here): fails ``nvmlInit`` until told, MIG has no utilisation."""

    class NVMLError(Exception):
        pass

    def __init__(self) -> None:
        self.driver_up = False
        self.inits = 0

    def nvmlInit(self) -> None:
        self.inits += 1
        if not self.driver_up:
            raise self.NVMLError("driver not loaded")

    def nvmlDeviceGetCount(self) -> int:
        return 1

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetName(self, handle: int) -> str:
        return "NVIDIA A100-SXM4-40GB MIG 3g.20gb"

    def nvmlDeviceGetMemoryInfo(self, handle: int):
        return type("Memory", (), {"used": 2**30, "total": 20 * 2**30})()

    def nvmlDeviceGetUtilizationRates(self, handle: int):
        raise self.NVMLError("Not Supported")


def test_nvml_is_tried_again_after_a_failure_and_a_mig_device_shows_its_memory(monkeypatch) -> None:
    from vit_tui.engine.telemetry import gpu_facts

    fake = FakeNvml()
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    monkeypatch.setattr(gpu_facts, "_nvml_ready", None)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert gpu_facts._nvml(now=100.0) is None and fake.inits == 1
    fake.driver_up = True
    assert gpu_facts._nvml(now=101.0) is None and fake.inits == 1  # not asked again at once
    assert gpu_facts._nvml(now=100.0 + gpu_facts.NVML_RETRY_S) is fake and fake.inits == 2
    facts = gpu_facts.query_facts("cuda:0")
    assert facts is not None and facts.utilisation is None
    assert gpu_facts.format_facts(facts) == "A100-SXM4-40GB MIG 3g.20gb · 1.0/20.0 GiB"
