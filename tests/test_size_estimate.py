"""The torch-free parameter count equals the built model's, for every preset and every ``model.arch``."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace

import pytest
import torch

from vit_tui.config.schema import ARCHS
from vit_tui.model.build import build_model
from vit_tui.model.size_estimate import estimate_parameters
from vit_tui.presets import PRESETS, preset


@pytest.mark.parametrize("name", list(PRESETS))
@pytest.mark.parametrize("num_classes", [5, 100])
def test_estimate_equals_the_built_models_parameter_count(name: str, num_classes: int) -> None:
    model_cfg = preset(name).model
    with torch.device("meta"):  # shapes only: no memory, no initialisation
        model = build_model(model_cfg, num_classes)
    assert estimate_parameters(model_cfg, num_classes) == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("width", [8, 16, 64])
def test_estimate_equals_the_built_model_for_every_arch(arch: str, width: int) -> None:
    model_cfg = replace(preset("fast").model, arch=arch, width=width)
    with torch.device("meta"):
        model = build_model(model_cfg, 7)
    assert estimate_parameters(model_cfg, 7) == sum(p.numel() for p in model.parameters())


def test_size_estimate_imports_no_torch() -> None:
    code = "import sys, vit_tui.config, vit_tui.presets, vit_tui.model.size_estimate; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
