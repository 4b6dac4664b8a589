"""Three multi-head self-attention implementations over (B, L, E) token sequences.

- ``DLStudioAttention`` reproduces the course reference on purpose, quirks included: each
  head owns three Linear layers over its whole flattened (L, E/H) slice, the softmax runs
  across *queries* (dim 1 of the (B, L, L) scores), and the 1/sqrt(E/H) scale is applied
  after the product with V. The per-head Linears are stored stacked so that all heads and
  all of Q, K, V run as one batched matrix product; the arithmetic is the reference's.
- ``EinsumAttention`` is textbook attention: one (H, E/H, 3E/H) parameter without bias,
  einsum projections, scale on the logits, softmax over keys.
- ``SdpaAttention`` has the same parameter as ``EinsumAttention`` and computes the same
  function with ``torch.nn.functional.scaled_dot_product_attention`` (fused kernels).
"""

from __future__ import annotations

import math

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
        z = (weights @ v) * (1.0 / math.sqrt(dim))  # scale after the product, as the reference
        return z.permute(1, 2, 0, 3).reshape(batch, length, embed)  # heads concatenated


class EinsumAttention(nn.Module):
    """Textbook attention with one (H, E/H, 3E/H) projection parameter and no bias."""

    def __init__(self, seq_len: int, embed_dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.head_dim = embed_dim // heads
        self.qkv = nn.Parameter(torch.empty(heads, self.head_dim, 3 * self.head_dim))
        nn.init.kaiming_uniform_(self.qkv, a=math.sqrt(5))

    def project(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Q, K, V, each (B, H, L, D)."""
        batch, length, _ = x.shape
        heads = x.view(batch, length, self.heads, self.head_dim).transpose(1, 2)  # (B, H, L, D)
        qkv = torch.einsum("bhld,hdk->bhlk", heads, self.qkv)  # (B, H, L, 3D)
        return qkv.split(self.head_dim, dim=-1)

    def merge(self, z: torch.Tensor) -> torch.Tensor:
        """(B, H, L, D) -> (B, L, E)."""
        batch, _, length, _ = z.shape
        return z.transpose(1, 2).reshape(batch, length, self.heads * self.head_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.project(x)
        scores = torch.einsum("bhld,bhmd->bhlm", q, k) * (1.0 / math.sqrt(self.head_dim))  # (B, H, L, L)
        weights = scores.softmax(dim=-1)  # over keys
        return self.merge(torch.einsum("bhlm,bhmd->bhld", weights, v))


class SdpaAttention(EinsumAttention):
    """``EinsumAttention``'s function through the fused scaled-dot-product kernel."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.project(x)
        return self.merge(F.scaled_dot_product_attention(q, k, v))


ATTENTION_CLASSES: dict[str, type[nn.Module]] = {
    "dlstudio": DLStudioAttention,
    "einsum": EinsumAttention,
    "sdpa": SdpaAttention,
}
