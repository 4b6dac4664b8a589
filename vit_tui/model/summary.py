"""Model summary: parameters per component (per stage for the CNN), sequence length and forward FLOPs per image.

The model is built on the ``meta`` device, so a summary costs no memory and no weight
initialisation, and FLOPs come from PyTorch's own counter on one image.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from ..config import ModelConfig
from .build import build_model
from .size_estimate import has_class_token, is_cnn, sequence_length


@dataclass(frozen=True)
class ModelSummary:
    """What a model costs: ``rows`` are (component, parameters) in forward order; a CNN has no tokens (0)."""

    params: int
    rows: list[tuple[str, int]]
    seq_len: int
    tokens_per_image: int
    flops_per_image: int


# The reference layout calls its feed-forward part ffn, the standard (timm) layout mlp.
_BLOCK_PARTS = {"attn": "attention", "ffn": "feed-forward", "mlp": "feed-forward", "norm1": "norms", "norm2": "norms"}


def _component(name: str, embeddings: str, stem: str) -> str:
    parts = name.split(".")
    if parts[0] == "patch_embed":
        return stem
    if parts[0] in ("cls_token", "pos_embed"):
        return embeddings
    # With mean pooling timm's final LayerNorm is fc_norm (after the pooling); norm is then empty.
    if parts[0] in ("norm", "fc_norm"):
        return "final norm"
    if parts[0] == "head":
        return "classifier"
    block = f"block {int(parts[1]) + 1}"
    return f"{block} {_BLOCK_PARTS[parts[2]]}"


def _cnn_component(name: str) -> str:
    """torchvision's ResNet names: ``conv1``/``bn1`` the stem, ``layerN`` stage N, ``fc`` the classifier."""
    top = name.split(".")[0]
    if top.startswith("layer"):
        return f"stage {top[len('layer'):]}"
    return "classifier" if top == "fc" else "stem"


def summarize(model_cfg: ModelConfig, num_classes: int = 5) -> ModelSummary:
    """Summarise the model ``model_cfg`` describes (the config is assumed valid)."""
    with torch.device("meta"):
        model = build_model(model_cfg, num_classes)
        image = torch.empty(1, 3, model_cfg.image_size, model_cfg.image_size)
    # Mean pooling has no class token, so that row holds the positions alone.
    embeddings = "class token + positions" if has_class_token(model_cfg) else "positions"
    stem = "conv stem" if model_cfg.stem == "conv" else "patch embedding"
    cnn = is_cnn(model_cfg)
    rows: OrderedDict[str, int] = OrderedDict()
    for name, param in model.named_parameters():
        key = _cnn_component(name) if cnn else _component(name, embeddings, stem)
        rows[key] = rows.get(key, 0) + param.numel()
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(image)
    if not cnn:
        rows.move_to_end(embeddings, last=False)
        rows.move_to_end(stem, last=False)
    seq_len = 0 if cnn else sequence_length(model_cfg)
    return ModelSummary(
        params=sum(rows.values()),
        rows=list(rows.items()),
        seq_len=seq_len,
        tokens_per_image=seq_len,
        flops_per_image=int(counter.get_total_flops()),
    )
