"""Static, preallocated key/value cache of one attention layer (gpt-fast style).

Slot `i` holds the token at position `i`; keys are stored already rotated by their position.

Einops legend: b batch, g key/value heads, m cache slots, n new tokens, d head dim.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class KVCache(nn.Module):
    """Keys and values (b g m d) of one layer; buffers, so `.to()` moves them with the model."""

    def __init__(self, *, batch: int, kv_heads: int, max_len: int, head_dim: int, dtype: torch.dtype,
                 device: torch.device | str | None = None) -> None:
        super().__init__()
        shape = (batch, kv_heads, max_len, head_dim)
        self.register_buffer("keys", torch.zeros(shape, dtype=dtype, device=device), persistent=False)
        self.register_buffer("values", torch.zeros(shape, dtype=dtype, device=device), persistent=False)

    @property
    def max_len(self) -> int:
        """Number of slots (the longest sequence the cache holds)."""
        return self.keys.shape[2]

    def write(self, positions: Tensor, keys: Tensor, values: Tensor) -> None:
        """Store keys and values (b g n d) of the tokens at `positions` (n)."""
        self.keys[:, :, positions] = keys
        self.values[:, :, positions] = values
