"""The model family: exact parameter counts, equivalences between attention paths, learning."""

from __future__ import annotations

import functools
import math
from dataclasses import replace

import pytest
import torch

from vit_tui.config import ModelConfig, RunConfig, field_errors
from vit_tui.model.attention import DLStudioAttention, EinsumAttention, MultiHeadAttention
from vit_tui.model.size_estimate import sequence_length
from vit_tui.model.summary import summarize
from vit_tui.model.vit import build_model, count_parameters, set_drop_path_generator
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


def _mha_pair(length: int, embed: int, heads: int) -> tuple[MultiHeadAttention, MultiHeadAttention]:
    fused = MultiHeadAttention(length, embed, heads).double()
    manual = MultiHeadAttention(length, embed, heads).double()
    manual.load_state_dict(fused.state_dict())
    manual.fused_attn = False
    return fused, manual


@pytest.mark.parametrize(
    ("batch", "length", "embed", "heads"),
    [(3, 17, 100, 5), (2, 5, 12, 3), (1, 9, 7, 1), (4, 65, 96, 4), (2, 1, 6, 2)],
)
def test_mha_fused_kernel_matches_the_written_out_attention(batch: int, length: int, embed: int, heads: int) -> None:
    torch.manual_seed(0)
    fused, manual = _mha_pair(length, embed, heads)
    x1 = torch.randn(batch, length, embed, dtype=torch.float64, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_(True)
    out1, out2 = fused(x1), manual(x2)
    torch.testing.assert_close(out1, out2, rtol=1e-10, atol=1e-10)
    grad = torch.randn_like(out1)
    out1.backward(grad)
    out2.backward(grad)
    torch.testing.assert_close(x1.grad, x2.grad, rtol=1e-10, atol=1e-10)
    for (name, p1), p2 in zip(fused.named_parameters(), manual.parameters()):
        torch.testing.assert_close(p1.grad, p2.grad, rtol=1e-10, atol=1e-10, msg=name)


def test_mha_manual_path_is_softmax_over_keys_of_scaled_logits() -> None:
    torch.manual_seed(1)
    _, manual = _mha_pair(6, 8, 2)
    x = torch.randn(2, 6, 8, dtype=torch.float64)
    q, k, v = manual.qkv(x).view(2, 6, 3, 2, 4).permute(2, 0, 3, 1, 4)
    weights = torch.softmax(q @ k.transpose(-1, -2) / 2.0, dim=-1)  # sqrt(head_dim) = 2
    expected = manual.proj((weights @ v).transpose(1, 2).reshape(2, 6, 8))
    torch.testing.assert_close(manual(x), expected, rtol=1e-12, atol=1e-12)


def _einsum_by_the_listing(attn: EinsumAttention, x: torch.Tensor) -> torch.Tensor:
    """Loops over batch, heads, queries and keys; the softmax normalises across the head axis."""
    batch, length, embed = x.shape
    heads, dim = attn.heads, embed // attn.heads
    w = attn.qkv.detach()
    out = torch.zeros(batch, length, embed, dtype=x.dtype)
    for b in range(batch):
        q, k, v = {}, {}, {}
        for h in range(heads):
            part = x[b, :, h * dim : (h + 1) * dim]  # head h: its D channels of every token
            q[h], k[h], v[h] = part @ w[h, :, :dim], part @ w[h, :, dim : 2 * dim], part @ w[h, :, 2 * dim :]
        for i in range(length):
            for j in range(length):
                scores = [float(q[h][i] @ k[h][j]) for h in range(heads)]  # no scale on the logits
                exps = [math.exp(s) for s in scores]
                for h in range(heads):
                    weight = exps[h] / sum(exps)  # across heads, as the listing's softmax(dim=1)
                    out[b, i, h * dim : (h + 1) * dim] += weight * v[h][j]
    return out / math.sqrt(dim)  # scaled after the product with V


@pytest.mark.parametrize(
    ("batch", "length", "embed", "heads"), [(2, 5, 12, 3), (1, 4, 6, 2), (2, 3, 5, 1), (1, 7, 8, 4)]
)
def test_einsum_matches_a_loop_written_from_the_listing(batch: int, length: int, embed: int, heads: int) -> None:
    torch.manual_seed(4)
    attn = EinsumAttention(length, embed, heads).double()
    x = torch.randn(batch, length, embed, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(attn(x), _einsum_by_the_listing(attn, x), rtol=1e-10, atol=1e-10)


def test_einsum_with_one_head_weights_every_key_by_one() -> None:
    # A softmax across a single head is 1 everywhere, so each output is the sum of all values.
    torch.manual_seed(5)
    attn = EinsumAttention(5, 4, 1).double()
    x = torch.randn(2, 5, 4, dtype=torch.float64)
    v = x @ attn.qkv.detach()[0, :, 8:]
    expected = v.sum(dim=1, keepdim=True).expand(-1, 5, -1) / 2.0
    torch.testing.assert_close(attn(x).detach(), expected, rtol=1e-12, atol=1e-12)


def test_einsum_parameter_and_init_follow_the_listing() -> None:
    attn = EinsumAttention(17, 100, 5)
    assert [tuple(p.shape) for p in attn.parameters()] == [(5, 20, 60)]
    # Kaiming-uniform with a=sqrt(5) on a (H, D, 3D) tensor: fan_in = D * 3D, bound 1/sqrt(fan_in).
    bound = 1.0 / math.sqrt(20 * 60)
    assert attn.qkv.abs().max().item() <= bound
    assert attn.qkv.abs().max().item() > 0.9 * bound


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


# (image, patch, classes, embed, depth, heads, mlp_ratio): the two presets and some odd shapes.
TIMM_SHAPES = [
    (64, 8, 5, 96, 4, 3, 2.0),
    (64, 8, 5, 192, 6, 6, 2.0),
    (64, 16, 5, 100, 3, 5, 4.0),
    (28, 7, 10, 30, 1, 6, 2.5),
    (20, 4, 3, 10, 2, 1, 1.5),
    (15, 5, 7, 21, 2, 7, 3.3),
]
# Each shape with the class token (pool=token), and some also with mean pooling (pool=mean).
TIMM_CASES = [(*shape, "token") for shape in TIMM_SHAPES] + [
    (*shape, "mean") for shape in (TIMM_SHAPES[1], TIMM_SHAPES[3], TIMM_SHAPES[5])
]
TIMM_PARAMS = ("image", "patch", "classes", "embed", "depth", "heads", "ratio", "pool")


def _mha_config(
    image: int, patch: int, embed: int, depth: int, heads: int, ratio: float, pool: str = "token"
) -> ModelConfig:
    return ModelConfig(
        image_size=image,
        patch_size=patch,
        embed_dim=embed,
        heads=heads,
        blocks=depth,
        attention="mha",
        ffn="mlp",
        mlp_ratio=ratio,
        pool=pool,
    )


def _timm_vit(
    image: int,
    patch: int,
    classes: int,
    embed: int,
    depth: int,
    heads: int,
    ratio: float,
    pool: str = "token",
    drop_path: float = 0.0,
) -> torch.nn.Module:
    timm = pytest.importorskip("timm")
    # pool=mean is timm's class_token=False, global_pool='avg' (which puts its LayerNorm in fc_norm).
    layout = {"class_token": pool == "token", "global_pool": "token" if pool == "token" else "avg"}
    return timm.models.vision_transformer.VisionTransformer(
        img_size=image,
        patch_size=patch,
        in_chans=3,
        num_classes=classes,
        embed_dim=embed,
        depth=depth,
        num_heads=heads,
        mlp_ratio=ratio,
        qkv_bias=True,
        drop_path_rate=drop_path,
        **layout,
    )


@pytest.mark.parametrize(TIMM_PARAMS, TIMM_CASES)
def test_mha_has_timms_parameters_under_timms_names(
    image: int, patch: int, classes: int, embed: int, depth: int, heads: int, ratio: float, pool: str
) -> None:
    theirs = _timm_vit(image, patch, classes, embed, depth, heads, ratio, pool)
    ours = build_model(_mha_config(image, patch, embed, depth, heads, ratio, pool), classes)
    assert count_parameters(ours) == count_parameters(theirs)
    assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == {
        k: tuple(v.shape) for k, v in theirs.state_dict().items()
    }


@pytest.mark.parametrize(TIMM_PARAMS, TIMM_CASES)
def test_mha_with_timms_weights_gives_timms_logits(
    image: int, patch: int, classes: int, embed: int, depth: int, heads: int, ratio: float, pool: str
) -> None:
    torch.manual_seed(6)
    theirs = _timm_vit(image, patch, classes, embed, depth, heads, ratio, pool).double().eval()
    ours = build_model(_mha_config(image, patch, embed, depth, heads, ratio, pool), classes).double().eval()
    with torch.no_grad():
        for param in theirs.parameters():  # away from the init, so every weight matters
            param.add_(0.1 * torch.randn_like(param))
    ours.load_state_dict(theirs.state_dict(), strict=True)
    images = torch.randn(3, 3, image, image, dtype=torch.float64)
    with torch.no_grad():
        expected = theirs(images)
        for fused in (True, False):
            for block in ours.blocks:
                block.attn.fused_attn = fused
            torch.testing.assert_close(ours(images), expected, rtol=1e-10, atol=1e-10)


def test_drop_path_rates_rise_per_block_as_timms() -> None:
    theirs = _timm_vit(32, 8, 5, 24, 4, 2, 2.0, drop_path=0.3)
    ours = build_model(replace(_mha_config(32, 8, 24, 4, 2, 2.0), drop_path=0.3), 5)
    # timm puts an Identity where the rate is 0.
    expected = [getattr(block.drop_path1, "drop_prob", 0.0) for block in theirs.blocks]
    assert [block.drop_path1.rate for block in ours.blocks] == expected
    assert [block.drop_path2.rate for block in ours.blocks] == expected
    assert expected[0] == 0.0 and expected[-1] == pytest.approx(0.3)


@pytest.mark.parametrize("training", [False, True])
def test_mha_with_drop_path_gives_timms_logits(training: bool) -> None:
    """Identity in eval mode; in training mode the same per-sample draws as timm's DropPath from the same RNG."""
    torch.manual_seed(6)
    theirs = _timm_vit(32, 8, 5, 24, 3, 2, 2.0, drop_path=0.5).double().train(training)
    ours = build_model(replace(_mha_config(32, 8, 24, 3, 2, 2.0), drop_path=0.5), 5).double().train(training)
    with torch.no_grad():
        for param in theirs.parameters():
            param.add_(0.1 * torch.randn_like(param))
    ours.load_state_dict(theirs.state_dict(), strict=True)
    images = torch.randn(8, 3, 32, 32, dtype=torch.float64)
    with torch.no_grad():
        torch.manual_seed(11)
        expected = theirs(images)
        torch.manual_seed(11)
        got = ours(images)
        torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-10)
        if training:  # the draws mattered: the same model without them differs
            assert not torch.allclose(got, theirs.eval()(images))


def test_drop_path_draws_from_the_generator_it_is_given() -> None:
    torch.manual_seed(3)
    model = build_model(replace(_mha_config(32, 8, 24, 3, 2, 2.0), drop_path=0.5), 5).train()
    images = torch.randn(8, 3, 32, 32)
    outputs = []
    for _ in range(2):
        set_drop_path_generator(model, torch.Generator().manual_seed(4))
        torch.manual_seed(len(outputs))  # the global RNG differs between the two
        with torch.no_grad():
            outputs.append(model(images))
    torch.testing.assert_close(outputs[0], outputs[1], rtol=0, atol=0)


def test_mha_starts_from_timms_default_init() -> None:
    torch.manual_seed(7)
    model = build_model(_mha_config(64, 8, 192, 6, 6, 4.0), 5)
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert len(linears) == 6 * 4 + 1
    for linear in linears:
        assert 0.015 < linear.weight.std().item() < 0.025
        assert not linear.bias.any()
    assert 0.015 < model.pos_embed.std().item() < 0.025
    assert model.cls_token.abs().max().item() < 1e-5
    norms = [m for m in model.modules() if isinstance(m, torch.nn.LayerNorm)]
    assert len(norms) == 6 * 2 + 1
    assert all(n.eps == 1e-6 for n in norms)


def test_mean_pooling_has_no_class_token_and_one_token_per_patch() -> None:
    torch.manual_seed(8)
    cfg = _mha_config(64, 8, 96, 2, 3, 2.0, "mean")
    assert sequence_length(cfg) == 64
    assert sequence_length(replace(cfg, pool="token")) == 65
    model = build_model(cfg, 5)
    names = list(model.state_dict())
    assert "cls_token" not in names
    assert tuple(model.pos_embed.shape) == (1, 64, 96)
    assert isinstance(model.norm, torch.nn.Identity)
    assert isinstance(model.fc_norm, torch.nn.LayerNorm) and model.fc_norm.eps == 1e-6
    assert names[-4:] == ["fc_norm.weight", "fc_norm.bias", "head.weight", "head.bias"]
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 5)
    # The class-token model has the final norm before the head and no fc_norm parameters.
    token = build_model(replace(cfg, pool="token"), 5)
    assert isinstance(token.fc_norm, torch.nn.Identity) and isinstance(token.norm, torch.nn.LayerNorm)
    assert count_parameters(token) == count_parameters(model) + 96 + 96  # cls_token + one position


def test_reference_layout_keeps_its_checkpoint_names() -> None:
    names = list(build_model(preset("reference").model, 5).state_dict())
    assert names[:5] == ["cls_token", "pos_embed", "patch_embed.weight", "patch_embed.bias", "blocks.0.norm1.weight"]
    assert [n for n in names if n.startswith("blocks.0.")] == [
        "blocks.0.norm1.weight",
        "blocks.0.norm1.bias",
        "blocks.0.attn.weight",
        "blocks.0.attn.bias",
        "blocks.0.norm2.weight",
        "blocks.0.norm2.bias",
        "blocks.0.ffn.net.0.weight",
        "blocks.0.ffn.net.0.bias",
        "blocks.0.ffn.net.2.weight",
        "blocks.0.ffn.net.2.bias",
    ]
    assert names[-2:] == ["head.weight", "head.bias"]
    einsum = build_model(preset("reference-einsum").model, 5)
    assert tuple(einsum.state_dict()["blocks.0.attn.qkv"].shape) == (5, 20, 60)
    norms = [m for m in einsum.modules() if isinstance(m, torch.nn.LayerNorm)]
    assert len(norms) == 3 * 2 and all(n.eps == 1e-5 for n in norms)  # no final norm, PyTorch's eps


def test_summary_groups_the_standard_layout() -> None:
    summary = summarize(preset("fast").model, 5)
    names = [name for name, _ in summary.rows]
    assert names[:2] == ["conv stem", "class token + positions"]
    assert names[-2:] == ["final norm", "classifier"]
    assert "block 4 feed-forward" in names
    assert summary.params == count_parameters(build_model(preset("fast").model, 5))
    assert dict(summary.rows)["final norm"] == 2 * 96
    assert summary.seq_len == 17
    patch = summarize(replace(preset("fast").model, stem="patch", patch_size=8), 5)
    assert [name for name, _ in patch.rows][0] == "patch embedding"
    assert patch.seq_len == 65


def test_summary_of_mean_pooling() -> None:
    cfg = replace(preset("fast").model, pool="mean", stem="patch", patch_size=8)
    summary = summarize(cfg, 5)
    names = [name for name, _ in summary.rows]
    assert names[:2] == ["patch embedding", "positions"]
    assert names[-2:] == ["final norm", "classifier"]
    assert dict(summary.rows)["positions"] == 64 * 96
    assert dict(summary.rows)["final norm"] == 2 * 96  # fc_norm
    assert summary.seq_len == summary.tokens_per_image == 64
    assert summary.params == count_parameters(build_model(cfg, 5))


@pytest.mark.parametrize("attention", ["dlstudio", "einsum", "mha"])
@pytest.mark.parametrize("ffn", ["flattened", "mlp"])
def test_output_shapes(attention: str, ffn: str) -> None:
    cfg = ModelConfig(image_size=32, patch_size=8, embed_dim=24, heads=3, blocks=2, attention=attention, ffn=ffn)
    model = build_model(cfg, 7)
    assert model(torch.randn(5, 3, 32, 32)).shape == (5, 7)


@pytest.mark.parametrize("attention", ["dlstudio", "einsum", "mha"])
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


# (image, patch, embed, depth, heads, pool): the fast preset's shape and odd ones.
CONV_STEM_CASES = [
    (64, 16, 96, 4, 6, "token"),
    (64, 8, 96, 4, 3, "token"),
    (32, 4, 40, 2, 4, "mean"),
    (16, 2, 12, 1, 2, "token"),
]


def _timm_conv_stem_vit(image: int, patch: int, embed: int, depth: int, heads: int, pool: str) -> torch.nn.Module:
    timm = pytest.importorskip("timm")
    from timm.layers import HybridEmbed
    from timm.models.vision_transformer_hybrid import ConvStem

    depth_of_stem = patch.bit_length() - 1
    stem = ConvStem(depth=depth_of_stem, channels=embed, stride=(2,) * depth_of_stem)
    # timm's patch_size is the HybridEmbed's own patch on the stem's output: 1, no extra projection.
    return timm.models.vision_transformer.VisionTransformer(
        img_size=image,
        patch_size=1,
        num_classes=5,
        embed_dim=embed,
        depth=depth,
        num_heads=heads,
        mlp_ratio=2.0,
        class_token=pool == "token",
        global_pool="token" if pool == "token" else "avg",
        embed_layer=functools.partial(HybridEmbed, backbone=stem, proj=False),
    )


@pytest.mark.parametrize(("image", "patch", "embed", "depth", "heads", "pool"), CONV_STEM_CASES)
def test_conv_stem_is_timms_hybrid_embed_with_its_conv_stem(
    image: int, patch: int, embed: int, depth: int, heads: int, pool: str
) -> None:
    torch.manual_seed(9)
    theirs = _timm_conv_stem_vit(image, patch, embed, depth, heads, pool).double()
    cfg = replace(_mha_config(image, patch, embed, depth, heads, 2.0, pool), stem="conv")
    ours = build_model(cfg, 5).double()
    assert count_parameters(ours) == count_parameters(theirs)
    with torch.no_grad():
        for param in theirs.parameters():
            param.add_(0.1 * torch.randn_like(param))
    ours.load_state_dict(theirs.state_dict(), strict=True)
    images = torch.randn(4, 3, image, image, dtype=torch.float64)
    with torch.no_grad():
        # train mode normalises by the batch and updates the running statistics in both models,
        # which eval mode then uses: both halves of BatchNorm are compared.
        for mode in (True, False):
            torch.testing.assert_close(ours.train(mode)(images), theirs.train(mode)(images), rtol=1e-10, atol=1e-10)


def test_conv_stem_halves_the_image_per_layer_down_to_the_patch_grid() -> None:
    cfg = replace(_mha_config(64, 16, 96, 1, 6, 2.0), stem="conv")
    model = build_model(cfg, 5)
    convs = [m for m in model.patch_embed.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [12, 24, 48, 96]
    assert [c.bias is not None for c in convs] == [False, False, False, True]
    assert model.patch_embed(torch.randn(2, 3, 64, 64)).shape == (2, 16, 96)
    assert tuple(model.pos_embed.shape) == (1, 17, 96)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"attention": "dlstudio"}, "conv stem needs attention mha"),
        ({"patch_size": 12, "image_size": 48}, "power of two"),
        ({"stem": "resnet"}, "choose one of patch, conv"),
    ],
)
def test_conv_stem_settings_are_checked(changes: dict, message: str) -> None:
    base = replace(_mha_config(64, 16, 96, 1, 6, 2.0), stem="conv")
    cfg = RunConfig(model=replace(base, **changes))
    errors = [e for e in field_errors(cfg) if e.field == "model.stem"]
    assert errors and message in str(errors[0])
