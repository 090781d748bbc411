"""Static, preallocated key/value cache of one attention layer (gpt-fast style).

Slot `i` holds the token at position `i`; keys are stored already rotated by their position.

Einops legend: b batch, g key/value heads, m cache slots, n new tokens, d head dim.
"""

from __future__ import annotations

from dataclasses import dataclass

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
        """Store keys and values (b g n d) of the tokens at `positions` (n), in the cache's dtype (under
        autocast they come in the autocast dtype; the cache keeps the one `setup_cache` gave it)."""
        self.keys[:, :, positions] = keys.to(self.keys.dtype)
        self.values[:, :, positions] = values.to(self.values.dtype)


@dataclass(frozen=True, eq=False)  # compared by identity: `==` would compare the tensors
class CacheState:
    """What a `Transformer`'s decode steps read besides their input: every layer's cache, the rotary
    tables `setup_cache` made and how far the prefilled prefix is longer than the config's. Taken
    (`Transformer.cache_state`) by each of several users of one model, such as two streams, and put
    back (`Transformer.restore_cache`) before each uses the model again: the caches are held, not
    copied, so taking one costs nothing."""

    caches: tuple[KVCache, ...]
    rope: tuple[Tensor, Tensor]
    prefix_extra: int
