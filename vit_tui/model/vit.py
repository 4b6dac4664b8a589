"""The Vision Transformer: patch embedding, pre-LayerNorm encoder blocks, class-token head.

``build_model(model_cfg, num_classes)`` is the one builder. With ``ffn="flattened"`` and
``attention="dlstudio"`` it is the course reference (39,993,005 parameters at its shape);
``ffn="mlp"`` gives the usual per-token MLP.
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import ModelConfig, sequence_length
from .attention import ATTENTION_CLASSES


class FlattenedFeedForward(nn.Module):
    """The reference's feed-forward part: the whole (L, E) sequence as one vector of L*E."""

    def __init__(self, seq_len: int, embed_dim: int, dropout: float) -> None:
        super().__init__()
        width = seq_len * embed_dim
        self.net = nn.Sequential(
            nn.Linear(width, 2 * width), nn.ReLU(), nn.Linear(2 * width, width), nn.Dropout(dropout)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.flatten(1)).view_as(x)


class TokenMLP(nn.Module):
    """Per-token feed-forward: Linear(E -> ratio*E), GELU, Linear back."""

    def __init__(self, embed_dim: int, ratio: float, dropout: float) -> None:
        super().__init__()
        hidden = max(1, round(embed_dim * ratio))
        self.net = nn.Sequential(
            nn.Linear(embed_dim, hidden),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, embed_dim),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class EncoderBlock(nn.Module):
    """``x + attn(LN1(x))`` then ``x + ffn(LN2(x))``."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        seq_len = sequence_length(cfg)
        self.norm1 = nn.LayerNorm(cfg.embed_dim)
        self.attn = ATTENTION_CLASSES[cfg.attention](seq_len, cfg.embed_dim, cfg.heads)
        self.attn_drop = nn.Dropout(cfg.dropout)
        self.norm2 = nn.LayerNorm(cfg.embed_dim)
        if cfg.ffn == "flattened":
            self.ffn: nn.Module = FlattenedFeedForward(seq_len, cfg.embed_dim, cfg.dropout)
        else:
            self.ffn = TokenMLP(cfg.embed_dim, cfg.mlp_ratio, cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn_drop(self.attn(self.norm1(x)))
        return x + self.ffn(self.norm2(x))


class VisionTransformer(nn.Module):
    """Patchify with a strided Conv2d, prepend a class token, add positions, encode, classify."""

    def __init__(self, cfg: ModelConfig, num_classes: int) -> None:
        super().__init__()
        self.cfg = cfg
        patches = (cfg.image_size // cfg.patch_size) ** 2
        self.patch_embed = nn.Conv2d(3, cfg.embed_dim, kernel_size=cfg.patch_size, stride=cfg.patch_size)
        self.cls_token = nn.Parameter(torch.empty(1, 1, cfg.embed_dim))
        self.pos_embed = nn.Parameter(torch.empty(1, patches + 1, cfg.embed_dim))
        self.blocks = nn.Sequential(*(EncoderBlock(cfg) for _ in range(cfg.blocks)))
        self.head = nn.Linear(cfg.embed_dim, num_classes)
        if cfg.ffn == "flattened":
            # The reference draws both from a standard normal.
            nn.init.normal_(self.cls_token)
            nn.init.normal_(self.pos_embed)
        else:
            # Per-token models train better from small embeddings, as in common ViT recipes.
            nn.init.trunc_normal_(self.cls_token, std=0.02)
            nn.init.trunc_normal_(self.pos_embed, std=0.02)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        tokens = self.patch_embed(images).flatten(2).transpose(1, 2)  # (B, N, E)
        cls = self.cls_token.expand(tokens.shape[0], -1, -1)
        x = torch.cat([cls, tokens], dim=1) + self.pos_embed  # (B, L, E)
        x = self.blocks(x)
        return self.head(x[:, 0])  # (B, C)


def build_model(model_cfg: ModelConfig, num_classes: int) -> VisionTransformer:
    """The ViT described by ``model_cfg`` with ``num_classes`` outputs (config assumed valid)."""
    return VisionTransformer(model_cfg, num_classes)


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
