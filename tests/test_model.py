"""The model family: exact parameter counts, equivalences between attention paths, learning."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from vit_tui.config import ModelConfig
from vit_tui.model.attention import DLStudioAttention, EinsumAttention, SdpaAttention
from vit_tui.model.summary import summarize
from vit_tui.model.vit import build_model, count_parameters
from vit_tui.presets import preset


def test_reference_parameter_counts_match_the_course_model() -> None:
    assert count_parameters(build_model(preset("reference").model, 5)) == 39_993_005
    assert count_parameters(build_model(preset("reference-einsum").model, 5)) == 34_793_705


def test_summary_agrees_with_the_built_model() -> None:
    cfg = preset("reference").model
    summary = summarize(cfg, 5)
    assert summary.params == 39_993_005
    assert summary.seq_len == 17
    assert sum(n for _, n in summary.rows) == summary.params
    # Two flattened FFN matmuls dominate: 2 * (1700*3400) * 2 FLOP per block, three blocks.
    assert summary.flops_per_image > 3 * 2 * 2 * 1700 * 3400


@pytest.mark.parametrize(
    ("batch", "length", "embed", "heads"),
    [(3, 17, 100, 5), (2, 5, 12, 3), (1, 9, 7, 1), (4, 65, 96, 4)],
)
def test_einsum_and_sdpa_agree_in_outputs_and_gradients(batch: int, length: int, embed: int, heads: int) -> None:
    torch.manual_seed(0)
    einsum = EinsumAttention(length, embed, heads).double()
    sdpa = SdpaAttention(length, embed, heads).double()
    sdpa.load_state_dict(einsum.state_dict())
    x1 = torch.randn(batch, length, embed, dtype=torch.float64, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_(True)
    out1, out2 = einsum(x1), sdpa(x2)
    torch.testing.assert_close(out1, out2, rtol=1e-10, atol=1e-10)
    grad = torch.randn_like(out1)
    out1.backward(grad)
    out2.backward(grad)
    torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(einsum.qkv.grad, sdpa.qkv.grad, rtol=1e-10, atol=1e-10)


def test_einsum_and_sdpa_agree_in_float32() -> None:
    torch.manual_seed(1)
    einsum, sdpa = EinsumAttention(17, 100, 5), SdpaAttention(17, 100, 5)
    sdpa.load_state_dict(einsum.state_dict())
    x = torch.randn(8, 17, 100)
    torch.testing.assert_close(einsum(x), sdpa(x), rtol=1e-5, atol=1e-5)


def _dlstudio_by_the_spec(attn: DLStudioAttention, x: torch.Tensor) -> torch.Tensor:
    """Loop over heads, one Linear per Q/K/V over the flattened slice, softmax over dim=1."""
    batch, length, embed = x.shape
    dim = embed // attn.heads
    size = length * dim
    outputs = []
    for h in range(attn.heads):
        flat = x[:, :, h * dim : (h + 1) * dim].reshape(batch, size)
        q, k, v = (
            torch.nn.functional.linear(
                flat, attn.weight[h, :, j * size : (j + 1) * size].T, attn.bias[h, 0, j * size : (j + 1) * size]
            ).reshape(batch, length, dim)
            for j in range(3)
        )
        scores = torch.softmax(q @ k.transpose(1, 2), dim=1)
        outputs.append((scores @ v) / math.sqrt(dim))
    return torch.cat(outputs, dim=2)


@pytest.mark.parametrize(("batch", "length", "embed", "heads"), [(3, 17, 100, 5), (2, 5, 6, 2), (1, 3, 3, 3)])
def test_dlstudio_matches_a_loop_over_heads_written_from_the_spec(
    batch: int, length: int, embed: int, heads: int
) -> None:
    torch.manual_seed(2)
    attn = DLStudioAttention(length, embed, heads).double()
    x = torch.randn(batch, length, embed, dtype=torch.float64)
    torch.testing.assert_close(attn(x), _dlstudio_by_the_spec(attn, x), rtol=1e-10, atol=1e-10)


def test_dlstudio_softmax_runs_over_queries_not_keys() -> None:
    torch.manual_seed(3)
    attn = DLStudioAttention(4, 4, 1).double()
    x = torch.randn(1, 4, 4, dtype=torch.float64)
    # With V = identity-like probing we can read the weights: columns, not rows, sum to one.
    with torch.no_grad():
        size = 16
        attn.weight[0, :, 2 * size :] = 0
        attn.bias[0, 0, 2 * size :] = 0
        attn.bias[0, 0, 2 * size : 3 * size] = torch.eye(4, dtype=torch.float64).reshape(-1)
    weights = attn(x)[0] * 2.0  # undo the 1/sqrt(4) applied after the product
    torch.testing.assert_close(weights.sum(dim=0), torch.ones(4, dtype=torch.float64))
    assert not torch.allclose(weights.sum(dim=1), torch.ones(4, dtype=torch.float64))


@pytest.mark.parametrize("attention", ["dlstudio", "einsum", "sdpa"])
@pytest.mark.parametrize("ffn", ["flattened", "mlp"])
def test_output_shapes(attention: str, ffn: str) -> None:
    cfg = ModelConfig(image_size=32, patch_size=8, embed_dim=24, heads=3, blocks=2, attention=attention, ffn=ffn)
    model = build_model(cfg, 7)
    assert model(torch.randn(5, 3, 32, 32)).shape == (5, 7)


@pytest.mark.parametrize("attention", ["dlstudio", "einsum", "sdpa"])
@pytest.mark.parametrize("ffn", ["flattened", "mlp"])
def test_each_variant_overfits_a_tiny_batch(attention: str, ffn: str) -> None:
    torch.manual_seed(0)
    cfg = ModelConfig(image_size=16, patch_size=4, embed_dim=32, heads=4, blocks=2, attention=attention, ffn=ffn)
    model = build_model(cfg, 4)
    images, labels = torch.randn(16, 3, 16, 16), torch.arange(16) % 4
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    first = None
    for _ in range(60):
        loss = torch.nn.functional.cross_entropy(model(images), labels)
        first = first if first is not None else loss.item()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    accuracy = (model(images).argmax(1) == labels).float().mean().item()
    assert accuracy == 1.0, (attention, ffn, first, loss.item())
    assert loss.item() < first / 4


def test_dropout_is_applied_only_in_training_mode() -> None:
    cfg = replace(preset("fast").model, image_size=16, patch_size=4, dropout=0.5)
    model = build_model(cfg, 3)
    x = torch.randn(2, 3, 16, 16)
    model.eval()
    torch.testing.assert_close(model(x), model(x))
    model.train()
    assert not torch.allclose(model(x), model(x))
