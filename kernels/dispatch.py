"""Choosing the attention path at call time.

Today every call runs the PyTorch path (`sdpa_attention`); the Triton kernels plug in here for
CUDA tensors. `ARVID_ATTENTION=reference` forces the PyTorch path, `ARVID_ATTENTION=triton` the
Triton one. The variable is read on every call, never at import.
"""

from __future__ import annotations

import os

from torch import Tensor

from arvid.kernels.mask import MaskSpec
from arvid.kernels.reference import sdpa_attention

BACKENDS = ("auto", "reference", "triton")


def requested_backend() -> str:
    """The value of `ARVID_ATTENTION` ("auto" when unset). Raises `ValueError` on an unknown one."""
    name = os.environ.get("ARVID_ATTENTION", "auto").strip().lower() or "auto"
    if name not in BACKENDS:
        raise ValueError(f"ARVID_ATTENTION={name!r}: expected one of {', '.join(BACKENDS)}")
    return name


def attention(q: Tensor, k: Tensor, v: Tensor, spec: MaskSpec) -> Tensor:
    """Attention of n queries over the same n keys (prefill and training).

    Args:
        q: (b h n d); k, v: (b g n d) with h a multiple of g.
        spec: the mask (causal, bidirectional prefix, sink + window).
    Returns:
        (b h n d) in q's dtype.
    """
    requested_backend()
    return sdpa_attention(q, k, v, spec)


def decode_attention(q: Tensor, k_cache: Tensor, v_cache: Tensor, key_lengths: Tensor, spec: MaskSpec) -> Tensor:
    """Attention of the newest tokens over a KV cache.

    Args:
        q: (b h n d), the last n tokens of each sequence (already written to the cache).
        k_cache, v_cache: (b g m d); only the first `key_lengths[row]` slots of each row are read.
        key_lengths: (b) int, valid cache length per sequence (the new tokens included).
        spec: the mask, in cache positions.
    Returns:
        (b h n d) in q's dtype.
    """
    requested_backend()
    return sdpa_attention(q, k_cache, v_cache, spec, key_lengths=key_lengths)
