"""The Vision Transformer in two layouts, chosen by ``model.attention``.

- Reference layout (``dlstudio``, ``einsum``): the course model. A Conv2d patch embedding,
  pre-LayerNorm blocks (PyTorch's default eps), no final norm, a class-token head. With
  ``ffn="flattened"`` and ``attention="dlstudio"`` it has the reference's 39,993,005
  parameters. Its parameter names are those of the checkpoints already written, so they stay.
- Standard layout (``mha``): timm's ``VisionTransformer``. LayerNorms with eps 1e-6, standard
  attention, timm's default initialisation, and (with ``ffn="mlp"``) timm's parameter names,
  so a timm state dict loads. ``pool="token"`` is timm's default (class token, final LayerNorm,
  head on the class token); ``pool="mean"`` is timm's ``class_token=False, global_pool='avg'``
  (no class token, the patch tokens averaged, then the LayerNorm ``fc_norm``, then the head).
  ``stem="conv"`` replaces the patch Conv2d by timm's ``ConvStem`` inside a ``HybridEmbed``
  (3x3 stride-2 convolutions with BatchNorm and ReLU down to the same patch grid); the
  transformer after it is unchanged. ``drop_path`` is timm's stochastic depth: each block's
  two residual branches are dropped per sample at a rate rising linearly from 0 in the first
  block to ``drop_path`` in the last, drawn from the generator ``set_drop_path_generator`` gives.

``ffn`` is independent of the layout: ``flattened`` is the reference's L*E -> 2*L*E -> L*E
feed-forward, ``mlp`` the usual per-token MLP. ``build_model`` is the one builder.
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import ModelConfig
from .attention import REFERENCE_ATTENTIONS, MultiHeadAttention
from .size_estimate import conv_stem_widths, has_class_token, mlp_hidden_size, patch_count, sequence_length


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


# --- reference layout -----------------------------------------------------------------------


class TokenMLP(nn.Module):
    """Per-token feed-forward of the reference layout: Linear(E -> ratio*E), GELU, Linear back.

    ``Mlp`` computes the same function under timm's names; this one keeps the names of
    the reference layout's existing checkpoints.
    """

    def __init__(self, embed_dim: int, ratio: float, dropout: float) -> None:
        super().__init__()
        hidden = mlp_hidden_size(embed_dim, ratio, standard=False)
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
        self.attn = REFERENCE_ATTENTIONS[cfg.attention](seq_len, cfg.embed_dim, cfg.heads)
        self.attn_drop = nn.Dropout(cfg.dropout)
        self.norm2 = nn.LayerNorm(cfg.embed_dim)
        if cfg.ffn == "flattened":
            self.ffn: nn.Module = FlattenedFeedForward(seq_len, cfg.embed_dim, cfg.dropout)
        else:
            self.ffn = TokenMLP(cfg.embed_dim, cfg.mlp_ratio, cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn_drop(self.attn(self.norm1(x)))
        return x + self.ffn(self.norm2(x))


class ReferenceViT(nn.Module):
    """Patchify with a strided Conv2d, prepend a class token, add positions, encode, classify."""

    def __init__(self, cfg: ModelConfig, num_classes: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.patch_embed = nn.Conv2d(3, cfg.embed_dim, kernel_size=cfg.patch_size, stride=cfg.patch_size)
        self.cls_token = nn.Parameter(torch.empty(1, 1, cfg.embed_dim))
        self.pos_embed = nn.Parameter(torch.empty(1, patch_count(cfg) + 1, cfg.embed_dim))
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


# --- standard layout ------------------------------------------------------------------------


class PatchEmbed(nn.Module):
    """Patchify and embed with one strided Conv2d: (B, 3, S, S) -> (B, N, E)."""

    def __init__(self, patch_size: int, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.proj(images).flatten(2).transpose(1, 2)


class ConvNormAct(nn.Module):
    """A 3x3 stride-2 Conv2d, then BatchNorm and ReLU unless it is a stem's last layer."""

    def __init__(self, in_channels: int, out_channels: int, last: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=2, padding=1, bias=last)
        self.bn = nn.Identity() if last else nn.BatchNorm2d(out_channels)
        self.act = nn.Identity() if last else nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class ConvStemEmbed(nn.Module):
    """Embed with log2(patch) 3x3 stride-2 convolutions instead of one patch Conv2d.

    timm's ``HybridEmbed(ConvStem(depth, channels=E), proj=False)``: channels E/2^(depth-1),
    ..., E/2, E, BatchNorm and ReLU after all but the last, which has a bias instead. Edges and
    corners come out of the stem; a single patch projection cannot compute them, being linear.
    """

    def __init__(self, patch_size: int, embed_dim: int) -> None:
        super().__init__()
        widths = conv_stem_widths(patch_size, embed_dim)
        depth = len(widths) - 1
        self.backbone = nn.Sequential(
            *(ConvNormAct(widths[i], widths[i + 1], last=i == depth - 1) for i in range(depth))
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.backbone(images).flatten(2).transpose(1, 2)


class Mlp(nn.Module):
    """Per-token feed-forward: fc1 (E -> int(ratio*E)), GELU, fc2 back."""

    def __init__(self, embed_dim: int, ratio: float, dropout: float) -> None:
        super().__init__()
        hidden = mlp_hidden_size(embed_dim, ratio, standard=True)
        self.fc1 = nn.Linear(embed_dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, embed_dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class DropPath(nn.Module):
    """timm's ``DropPath``: zero a residual branch for a random part of the batch, scale the rest by 1/keep.

    Identity in eval mode and at rate 0. The draws come from ``generator`` (the run's, so reruns and
    resumes repeat them; a captured CUDA graph replays them) or, without one, the global RNG.
    """

    def __init__(self, rate: float) -> None:
        super().__init__()
        self.rate = rate
        self.generator: torch.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.rate == 0.0 or not self.training:
            return x
        keep = 1.0 - self.rate
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep, generator=self.generator)
        return x * mask.div_(keep)

    def extra_repr(self) -> str:
        return f"rate={self.rate:g}"


def drop_path_rates(rate: float, blocks: int) -> list[float]:
    """Per-block rates as timm computes them: evenly spaced from 0 to ``rate``."""
    # On the CPU whatever the default device: a summary builds the model on the meta device.
    return [x.item() for x in torch.linspace(0, rate, blocks, device="cpu")]


def set_drop_path_generator(model: nn.Module, generator: torch.Generator | None) -> None:
    """Make every ``DropPath`` in ``model`` draw from ``generator`` (on the model's device)."""
    for module in model.modules():
        if isinstance(module, DropPath):
            module.generator = generator


class Block(nn.Module):
    """``x + drop_path(attn(LN1(x)))`` then ``x + drop_path(mlp(LN2(x)))``, LayerNorm eps 1e-6."""

    def __init__(self, cfg: ModelConfig, drop_path: float = 0.0) -> None:
        super().__init__()
        seq_len = sequence_length(cfg)
        self.norm1 = nn.LayerNorm(cfg.embed_dim, eps=1e-6)
        self.attn = MultiHeadAttention(seq_len, cfg.embed_dim, cfg.heads)
        self.drop = nn.Dropout(cfg.dropout)
        self.norm2 = nn.LayerNorm(cfg.embed_dim, eps=1e-6)
        if cfg.ffn == "flattened":
            self.mlp: nn.Module = FlattenedFeedForward(seq_len, cfg.embed_dim, cfg.dropout)
        else:
            self.mlp = Mlp(cfg.embed_dim, cfg.mlp_ratio, cfg.dropout)
        # Parameter-free, so the state dict keeps timm's keys.
        self.drop_path1 = DropPath(drop_path)
        self.drop_path2 = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path1(self.drop(self.attn(self.norm1(x))))
        return x + self.drop_path2(self.mlp(self.norm2(x)))


class StandardViT(nn.Module):
    """The standard ViT: learned positions, pre-norm blocks, a LayerNorm, a linear head.

    ``cfg.pool`` picks what the head sees. ``token``: a class token is prepended and the head
    reads it after the final ``norm``. ``mean``: no class token; the tokens are averaged after
    the blocks and normalised by ``fc_norm``. As in timm, the unused one of ``norm`` and
    ``fc_norm`` is an Identity, so the state dict holds exactly timm's keys in either mode.
    """

    def __init__(self, cfg: ModelConfig, num_classes: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.mean_pool = not has_class_token(cfg)
        stem = ConvStemEmbed if cfg.stem == "conv" else PatchEmbed
        self.patch_embed = stem(cfg.patch_size, cfg.embed_dim)
        # A plain None attribute (as timm's) keeps cls_token out of the state dict.
        self.cls_token = None if self.mean_pool else nn.Parameter(torch.empty(1, 1, cfg.embed_dim))
        self.pos_embed = nn.Parameter(torch.empty(1, sequence_length(cfg), cfg.embed_dim))
        rates = drop_path_rates(cfg.drop_path, cfg.blocks)
        self.blocks = nn.Sequential(*(Block(cfg, rate) for rate in rates))
        self.norm = nn.Identity() if self.mean_pool else nn.LayerNorm(cfg.embed_dim, eps=1e-6)
        self.fc_norm = nn.LayerNorm(cfg.embed_dim, eps=1e-6) if self.mean_pool else nn.Identity()
        self.head = nn.Linear(cfg.embed_dim, num_classes)
        # timm's default init; the patch Conv2d and the LayerNorms keep PyTorch's, as there.
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        if self.cls_token is not None:
            nn.init.normal_(self.cls_token, std=1e-6)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(images)  # (B, N, E)
        if self.cls_token is not None:
            x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)  # (B, N+1, E)
        x = self.norm(self.blocks(x + self.pos_embed))
        pooled = x.mean(dim=1) if self.mean_pool else x[:, 0]  # (B, E)
        return self.head(self.fc_norm(pooled))  # (B, C)


def build_model(model_cfg: ModelConfig, num_classes: int) -> nn.Module:
    """The ViT described by ``model_cfg`` with ``num_classes`` outputs (config assumed valid)."""
    if model_cfg.attention == "mha":
        return StandardViT(model_cfg, num_classes)
    return ReferenceViT(model_cfg, num_classes)


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
