"""Three multi-head self-attention implementations over (B, L, E) token sequences.

- ``DLStudioAttention`` reproduces the course reference on purpose, quirks included: each
  head owns three Linear layers over its whole flattened (L, E/H) slice, the softmax runs
  across *queries* (dim 1 of the (B, L, L) scores), and the 1/sqrt(E/H) scale is applied
  after the product with V. The per-head Linears are stored stacked so that all heads and
  all of Q, K, V run as one batched matrix product; the arithmetic is the reference's.
- ``EinsumAttention`` reproduces the course listing's einsum attention just as faithfully,
  including its softmax across *heads* (dim 1 of the (B, H, L, L) scores).
- ``MultiHeadAttention`` is the standard attention of the ViT paper and timm: a biased
  ``qkv`` Linear, softmax over keys of the scaled logits, an output ``proj`` Linear. It runs
  through the fused ``scaled_dot_product_attention`` kernel unless ``fused_attn`` is off.

``record_attention(model)`` collects the weights each layer actually computes, as
(B, H, query, key), for the duration of a ``with`` block only; outside it a layer's ``record``
is None and the forward passes (the fused kernel included) are the training ones.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn


class DLStudioAttention(nn.Module):
    """The reference's attention: per-head Linear over the flattened slice, softmax over queries.

    ``weight[h]`` is (L*D, 3*L*D): columns ``[0:LD]`` are head h's Q Linear (transposed),
    ``[LD:2LD]`` its K, ``[2LD:3LD]`` its V; ``bias[h]`` holds their biases likewise.
    """

    def __init__(self, seq_len: int, embed_dim: int, heads: int) -> None:
        super().__init__()
        self.seq_len, self.heads = seq_len, heads
        self.head_dim = embed_dim // heads
        self.record: list[torch.Tensor] | None = None
        slice_size = seq_len * self.head_dim
        self.weight = nn.Parameter(torch.empty(heads, slice_size, 3 * slice_size))
        self.bias = nn.Parameter(torch.empty(heads, 1, 3 * slice_size))
        # nn.Linear's default init (kaiming-uniform a=sqrt(5)) reduces to U(-1/sqrt(fan_in), +).
        bound = 1.0 / math.sqrt(slice_size)
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, embed = x.shape
        heads, dim = self.heads, self.head_dim
        # (B, L, H, D) -> (H, B, L*D): each head's slice flattened, as the reference's Linear sees it
        slices = x.view(batch, length, heads, dim).permute(2, 0, 1, 3).reshape(heads, batch, length * dim)
        qkv = torch.baddbmm(self.bias, slices, self.weight)  # (H, B, 3*L*D)
        q, k, v = qkv.view(heads, batch, 3, length, dim).unbind(2)  # each (H, B, L, D)
        scores = q @ k.transpose(-1, -2)  # (H, B, L, L): rows are queries
        weights = scores.softmax(dim=-2)  # across queries: the reference's dim=1 of (B, L, L)
        if self.record is not None:
            self.record.append(weights.detach().transpose(0, 1))  # (B, H, L, L)
        z = (weights @ v) * (1.0 / math.sqrt(dim))  # scale after the product, as the reference
        return z.permute(1, 2, 0, 3).reshape(batch, length, embed)  # heads concatenated


class EinsumAttention(nn.Module):
    """The course listing's einsum attention, reproduced as written.

    One parameter ``qkv`` of shape (H, D, 3D) with D = E/H, Kaiming-uniform (a = sqrt(5)),
    no bias; columns ``[0:D]`` of ``qkv[h]`` give head h's Q, ``[D:2D]`` its K, ``[2D:3D]``
    its V. The listing reshapes the input to (B, H, L, D); that is read here as the usual
    head split, a view to (B, L, H, D) then a transpose, so head h sees channels
    ``h*D:(h+1)*D`` of every token (a bare reshape would mix tokens across heads).

    Then: Q, K, V from one einsum; scores ``Q K^T`` with no scale on the logits; a softmax
    over dim 1 of the (B, H, L, L) scores, which normalises each (query, key) pair *across
    heads*; the product with V; and only then the 1/sqrt(D) factor. The softmax axis is the
    listing's defect, kept because this variant exists to reproduce that listing; the
    standard attention is ``MultiHeadAttention``.
    """

    def __init__(self, seq_len: int, embed_dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.head_dim = embed_dim // heads
        self.record: list[torch.Tensor] | None = None
        self.qkv = nn.Parameter(torch.empty(heads, self.head_dim, 3 * self.head_dim))
        nn.init.kaiming_uniform_(self.qkv, a=math.sqrt(5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, embed = x.shape
        heads = x.view(batch, length, self.heads, self.head_dim).transpose(1, 2)  # (B, H, L, D)
        q, k, v = torch.einsum("bhld,hdk->bhlk", heads, self.qkv).split(self.head_dim, dim=-1)
        scores = torch.einsum("bhld,bhmd->bhlm", q, k)  # (B, H, L, L), unscaled as in the listing
        weights = scores.softmax(dim=1)  # across heads: the listing's dim=1
        if self.record is not None:
            self.record.append(weights.detach())
        z = torch.einsum("bhlm,bhmd->bhld", weights, v) * (1.0 / math.sqrt(self.head_dim))
        return z.transpose(1, 2).reshape(batch, length, embed)


class MultiHeadAttention(nn.Module):
    """Standard multi-head self-attention with timm's parameter layout (``qkv``, ``proj``).

    ``fused_attn`` picks ``F.scaled_dot_product_attention``; off, the same function is
    spelled out (scaled logits, softmax over keys, product with V), which the tests use as
    the reference for the fused kernel.
    """

    def __init__(self, seq_len: int, embed_dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.head_dim = embed_dim // heads
        self.scale = self.head_dim**-0.5
        self.fused_attn = True
        self.record: list[torch.Tensor] | None = None
        self.qkv = nn.Linear(embed_dim, 3 * embed_dim, bias=True)
        self.proj = nn.Linear(embed_dim, embed_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, embed = x.shape
        qkv = self.qkv(x).view(batch, length, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # each (B, H, L, D)
        if self.fused_attn and self.record is None:
            z = F.scaled_dot_product_attention(q, k, v)
        else:
            # The fused kernel never materialises the weights; recording needs them spelled out.
            weights = ((q * self.scale) @ k.transpose(-2, -1)).softmax(dim=-1)  # over keys
            if self.record is not None:
                self.record.append(weights.detach())
            z = weights @ v
        return self.proj(z.transpose(1, 2).reshape(batch, length, embed))


REFERENCE_ATTENTIONS: dict[str, type[nn.Module]] = {
    "dlstudio": DLStudioAttention,
    "einsum": EinsumAttention,
}
"""The attentions of the reference layout; ``mha`` brings the standard layout with it."""


ATTENTION_LAYERS = (DLStudioAttention, EinsumAttention, MultiHeadAttention)


@contextlib.contextmanager
def record_attention(model: nn.Module) -> Iterator[list[list[torch.Tensor]]]:
    """Record every attention layer's weights while the block runs, in block order.

    Yields one list per layer; each forward pass appends that layer's (B, H, query, key)
    weights to it, detached. Nothing is installed outside the block, so training never pays.
    """
    layers = [module for module in model.modules() if isinstance(module, ATTENTION_LAYERS)]
    records: list[list[torch.Tensor]] = [[] for _ in layers]
    for layer, record in zip(layers, records):
        layer.record = record
    try:
        yield records
    finally:
        for layer in layers:
            layer.record = None
