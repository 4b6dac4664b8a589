"""GPU facts from NVML: none without a driver or a CUDA device, the line's format, the rate limit, real facts on a GPU.

Headless on purpose (no UI import), so bench/gpu_check.sh can run the GPU test with the CUDA tests.
"""

from __future__ import annotations

import pytest
import torch

from vit_tui.engine.telemetry import gpu_facts
from vit_tui.engine.telemetry.gpu_facts import GpuFacts, GpuFactsReader, cuda_index, format_facts, query_facts

GIB = 2**30
no_cuda = not torch.cuda.is_available()


def test_device_texts_map_to_cuda_indices() -> None:
    assert cuda_index("cuda") == 0
    assert cuda_index("cuda:1") == 1
    assert cuda_index("cuda:0 NVIDIA H200 · bf16 · eager") == 0
    assert cuda_index("cpu (2 threads) · fp32 · eager") is None
    assert cuda_index("mps") is None
    assert cuda_index("") is None


def test_facts_read_as_one_line() -> None:
    facts = GpuFacts(name="NVIDIA H200", memory_used=int(31.2 * GIB), memory_total=int(139.0 * GIB), utilisation=87)
    assert format_facts(facts) == "H200 · 31.2/139.0 GiB · 87 %"
    assert format_facts(GpuFacts("Tesla T4", 0, 15 * GIB, 0)) == "Tesla T4 · 0.0/15.0 GiB · 0 %"


def test_a_device_that_is_not_cuda_has_no_facts() -> None:
    assert query_facts("cpu (2 threads)") is None
    assert GpuFactsReader("mps").read() is None


def test_without_a_driver_nvml_fails_and_the_reader_returns_none() -> None:
    pynvml = pytest.importorskip("pynvml")
    try:
        pynvml.nvmlInit()  # the real library lookup
    except pynvml.NVMLError:
        pass
    else:
        pytest.skip("an NVIDIA driver is present here")
    assert query_facts("cuda:0") is None
    assert GpuFactsReader("cuda:0").read() is None


def test_nvml_is_asked_at_most_once_a_second() -> None:
    now = [100.0]
    reader = GpuFactsReader("cuda:0", clock=lambda: now[0])
    first = reader.read()
    for step in (0.2, 0.5, 0.25):
        now[0] += step
        assert reader.read() is first
    assert reader.queries == 1
    now[0] += 0.05  # 1.0 s after the first query
    reader.read()
    assert reader.queries == 2
    now[0] += 0.999
    reader.read()
    assert reader.queries == 2


@pytest.mark.gpu
@pytest.mark.skipif(no_cuda, reason="needs CUDA")
def test_real_facts_of_the_training_device() -> None:
    device = torch.device("cuda", 0)
    block = torch.empty(512 * 2**20, dtype=torch.uint8, device=device)  # 512 MiB held while reading
    torch.cuda.synchronize()
    facts = GpuFactsReader("cuda:0").read()
    assert facts is not None
    assert facts.name and facts.name.removeprefix("NVIDIA ") in torch.cuda.get_device_name(0)
    free, total = torch.cuda.mem_get_info(0)
    assert abs(facts.memory_total - total) <= 0.05 * total  # NVML counts all memory, CUDA what it can reach
    assert 512 * 2**20 <= facts.memory_used <= total
    assert 0 <= facts.utilisation <= 100
    assert gpu_facts._torch_uuid(0) is not None  # CUDA is up here, so the handle came from torch's UUID
    assert format_facts(facts).endswith(" %")
    del block
