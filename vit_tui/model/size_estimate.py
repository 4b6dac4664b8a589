"""The model's shape arithmetic and its parameter count, without torch (the ViT and the CNN).

The config refuses a model too large to build from this count alone (it runs on every keystroke
in the form, before anything is built), and ``runs``, ``compare`` and ``attach`` must start
without torch, so this module imports nothing: it reads a ``ModelConfig`` through the
``ModelShape`` protocol. ``vit.py`` takes its token count, conv-stem widths and MLP hidden sizes
from here, so the model and the count cannot drift apart; a test checks the count against the
built model for every preset and every ``model.arch``.
"""

from __future__ import annotations

from typing import Protocol


class ModelShape(Protocol):
    """The ``ModelConfig`` fields the arithmetic reads."""

    arch: str
    width: int
    image_size: int
    patch_size: int
    embed_dim: int
    heads: int
    blocks: int
    attention: str
    pool: str
    stem: str
    ffn: str
    mlp_ratio: float


RESNET18_LAYERS = (2, 2, 2, 2)
"""BasicBlocks per stage of ResNet-18."""


def is_cnn(model: ModelShape) -> bool:
    """Whether ``model.arch`` names a convolutional network (no tokens, no attention maps)."""
    return model.arch != "vit"


def resnet_stage_widths(width: int) -> tuple[int, int, int, int]:
    """Channels of the four ResNet stages: ``width * (1, 2, 4, 8)`` (torchvision's at width 64)."""
    return (width, 2 * width, 4 * width, 8 * width)


def describe_layout(model: ModelShape) -> str:
    """The network's kind in a few words: ``mha attention, mlp feed-forward`` or ``resnet18 CNN, width 16``."""
    if is_cnn(model):
        return f"{model.arch} CNN, width {model.width}"
    return f"{model.attention} attention, {model.ffn} feed-forward"


def patch_count(model: ModelShape) -> int:
    """Patches per image: the grid of ``patch_size`` squares covering the image."""
    return (model.image_size // model.patch_size) ** 2


def has_class_token(model: ModelShape) -> bool:
    """Whether the model prepends a class token (every layout except mha with mean pooling)."""
    return model.pool != "mean"


def sequence_length(model: ModelShape) -> int:
    """Tokens per image: the patches, plus the class token unless ``pool`` is mean."""
    return patch_count(model) + (1 if has_class_token(model) else 0)


def conv_stem_widths(patch_size: int, embed_dim: int) -> list[int]:
    """Channels into the conv stem and out of each layer: 3, E/2^(depth-1), ..., E/2, E.

    ``depth`` is log2(patch_size): each 3x3 stride-2 layer halves the image.
    """
    depth = patch_size.bit_length() - 1
    return [3, *(embed_dim // 2**k for k in reversed(range(depth)))]


def mlp_hidden_size(embed_dim: int, ratio: float, standard: bool) -> int:
    """Hidden width of the per-token MLP: timm's ``Mlp`` (standard layout) truncates, the reference rounds."""
    return max(1, int(embed_dim * ratio) if standard else round(embed_dim * ratio))


def _linear(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


def _conv_stem(patch_size: int, embed_dim: int) -> int:
    widths = conv_stem_widths(patch_size, embed_dim)
    total = 0
    for i, (n_in, n_out) in enumerate(zip(widths, widths[1:])):
        last = i == len(widths) - 2
        # The last layer has a bias; the others a BatchNorm's weight and bias instead.
        total += 9 * n_in * n_out + (n_out if last else 2 * n_out)
    return total


def _attention(model: ModelShape) -> int:
    E, H, L = model.embed_dim, model.heads, sequence_length(model)
    D = E // H
    if model.attention == "dlstudio":
        return H * (L * D) * (3 * L * D) + H * 3 * L * D
    if model.attention == "einsum":
        return H * D * 3 * D
    return _linear(E, 3 * E) + _linear(E, E)


def _feed_forward(model: ModelShape) -> int:
    if model.ffn == "flattened":
        width = sequence_length(model) * model.embed_dim
        return _linear(width, 2 * width) + _linear(2 * width, width)
    hidden = mlp_hidden_size(model.embed_dim, model.mlp_ratio, standard=model.attention == "mha")
    return _linear(model.embed_dim, hidden) + _linear(hidden, model.embed_dim)


def _basic_block(n_in: int, n_out: int, stride: int) -> int:
    """Two 3x3 convolutions without bias, each with a BatchNorm; a 1x1 projection where the shape changes."""
    total = 9 * n_in * n_out + 9 * n_out * n_out + 2 * 2 * n_out
    if stride != 1 or n_in != n_out:
        total += n_in * n_out + 2 * n_out
    return total


def resnet_stage_parameters(width: int) -> list[int]:
    """Parameters of the stem (3x3 conv and BatchNorm) and of each of the four stages."""
    counts = [9 * 3 * width + 2 * width]
    n_in = width
    for stage, (n_out, blocks) in enumerate(zip(resnet_stage_widths(width), RESNET18_LAYERS)):
        stride = 1 if stage == 0 else 2
        counts.append(_basic_block(n_in, n_out, stride) + (blocks - 1) * _basic_block(n_out, n_out, 1))
        n_in = n_out
    return counts


def estimate_parameters(model: ModelShape, num_classes: int = 100) -> int:
    """The parameter count ``model`` describes, by arithmetic (``build.build_model`` builds exactly these)."""
    if is_cnn(model):
        return sum(resnet_stage_parameters(model.width)) + _linear(8 * model.width, num_classes)
    E = model.embed_dim
    block = _attention(model) + _feed_forward(model) + 2 * 2 * E  # and two LayerNorms
    head = _linear(E, num_classes)
    patch_embed = 3 * model.patch_size**2 * E + E
    if model.attention != "mha":  # the reference layout: always a class token, no final norm
        return patch_embed + E + (patch_count(model) + 1) * E + model.blocks * block + head
    stem = _conv_stem(model.patch_size, E) if model.stem == "conv" else patch_embed
    cls = E if has_class_token(model) else 0
    final_norm = 2 * E
    return stem + cls + sequence_length(model) * E + model.blocks * block + final_norm + head
