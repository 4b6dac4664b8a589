"""The train screen's GPU line in Pilot: absent for a CPU run, and absent for a CUDA run where NVML has no driver."""

from __future__ import annotations

import pytest
from tui_fixtures import (
    make_fixed_run,
    make_tiny_dataset,
    settings_in_tmp,  # noqa: F401 - an autouse fixture
    wait_until,
)

from vit_tui.engine.telemetry.events import RunStarted
from vit_tui.engine.telemetry.gpu_facts import query_facts
from vit_tui.tui.app import VitApp
from vit_tui.tui.widgets.gpu_facts import GpuFactsLine


async def test_gpu_line_is_absent_without_a_cuda_device_or_nvml(tmp_path):
    if query_facts("cuda:0") is not None:
        pytest.skip("this machine has an NVIDIA driver and a GPU")
    make_tiny_dataset(tmp_path / "data")
    run_dir = make_fixed_run(tmp_path / "runs", "cpu-run")
    app = VitApp(tmp_path)
    async with app.run_test(size=(100, 32)) as pilot:
        await pilot.press("3")
        train = app.screen_named("train")
        train.follow(run_dir, fresh=False)
        await wait_until(pilot, lambda: train.status == "finished", 10)
        line = train.query_one(GpuFactsLine)
        await pilot.pause(1.3)  # past one refresh
        assert train.device.startswith("cpu")
        assert not line.display and line.region.height == 0

        # A run on CUDA (as a detached run on another machine's GPU would report it): NVML is asked, in a
        # worker, and finds no driver here, so the line stays away.
        started = RunStarted(
            run_dir=str(run_dir), name="gpu-run", preset="fast", classes=("a", "b"), epochs=1, start_epoch=0,
            steps_per_epoch=3, train_images=6, val_images=2, params=10, device="cuda:0 NVIDIA H200",
            precision="bf16", step_path="eager", pid=0, started=0.0,
        )  # fmt: skip
        train.show_event(started)
        await wait_until(pilot, lambda: line._reader is not None and line._reader.queries >= 1, 5)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not line.display and line.region.height == 0
