"""Rotary position embedding in `transformers`' Llama convention (rotate the two halves of each head).

Einops legend: b batch, h heads, n positions, d head dim.
"""

from __future__ import annotations

import torch
from torch import Tensor


def rope_tables(positions: Tensor, head_dim: int, theta: float) -> tuple[Tensor, Tensor]:
    """cos and sin tables (n d), float32, for integer `positions` (n); as `LlamaRotaryEmbedding` computes them."""
    inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32, device=positions.device) / head_dim)
    angles = positions.float()[:, None] * inv_freq[None, :]
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos(), angles.sin()


def rotate_half(x: Tensor) -> Tensor:
    """(..., d) -> (..., d): the halves (a, b) become (-b, a), a 90-degree turn of each rotary pair."""
    first, second = x.chunk(2, dim=-1)
    return torch.cat([-second, first], dim=-1)


def apply_rope(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate x (b h n d) by the tables (n d); the result has x's dtype."""
    return (x.float() * cos + rotate_half(x.float()) * sin).to(x.dtype)
