"""Pure-PyTorch attention: the CPU path of `arvid.kernels` and the reference for every Triton kernel.

Einops legend: b batch, h query heads, g key/value heads (h is a multiple of g), n queries,
m keys, d head dim. Keys and values are shared by groups of `h / g` consecutive query heads
(the grouping of `transformers`' Llama).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from arvid.kernels.mask import MaskSpec, allowed


class AttentionOutput(NamedTuple):
    """`out` (b h n d) in the input dtype; `lse` (b h n) float32 log-sum-exp of each query's scaled scores."""

    out: Tensor
    lse: Tensor


def check_shapes(q: Tensor, k: Tensor, v: Tensor) -> None:
    """Raise `ValueError` unless q (b h n d), k and v (b g m d) agree, on one device, and h is a multiple of g."""
    if q.ndim != 4 or k.ndim != 4 or v.ndim != 4:
        raise ValueError(f"expected 4-D q, k, v (b, heads, seq, head_dim), got {tuple(q.shape)}, "
                         f"{tuple(k.shape)}, {tuple(v.shape)}")
    if k.shape != v.shape or q.shape[0] != k.shape[0] or q.shape[3] != k.shape[3]:
        raise ValueError(f"q {tuple(q.shape)}, k {tuple(k.shape)} and v {tuple(v.shape)} disagree on "
                         "batch, head dim or key length")
    if k.device != q.device or v.device != q.device:
        raise ValueError(f"q, k and v are on {q.device}, {k.device} and {v.device}: expected one device")
    if k.shape[1] == 0:
        raise ValueError(f"k {tuple(k.shape)} has no key/value heads")
    if q.shape[1] % k.shape[1]:
        raise ValueError(f"{q.shape[1]} query heads are not a multiple of {k.shape[1]} key/value heads")


def check_key_lengths(key_lengths: Tensor, batch: int) -> None:
    """Raise `ValueError` unless `key_lengths` is an integer tensor of shape (batch,)."""
    if (not isinstance(key_lengths, Tensor) or key_lengths.is_floating_point() or key_lengths.dtype == torch.bool
            or key_lengths.shape != (batch,)):
        described = f"{key_lengths.dtype} {tuple(key_lengths.shape)}" if isinstance(key_lengths, Tensor) else \
            type(key_lengths).__name__
        raise ValueError(f"expected key_lengths as an integer tensor of shape ({batch},), got {described}")


def check_query_count(queries: int, keys: int) -> None:
    """Raise `ValueError` when the queries cannot be the last ones of the keys (more queries than keys)."""
    if queries > keys:
        raise ValueError(f"more queries ({queries}) than keys ({keys}): the queries are the last of the key positions")


def query_positions(key_lengths: Tensor, queries: int) -> Tensor:
    """Positions (b n) of `queries` new tokens that are the last ones of caches holding `key_lengths` (b) keys."""
    return key_lengths[:, None] - queries + torch.arange(queries, device=key_lengths.device)


def reference_attention(q: Tensor, k: Tensor, v: Tensor, spec: MaskSpec, *, q_positions: Tensor | None = None,
                        key_lengths: Tensor | None = None) -> AttentionOutput:
    """Softmax attention computed explicitly, in the inputs' dtype (use float64 for a reference).

    Args:
        q: (b h n d). k, v: (b g m d).
        spec: the mask rule.
        q_positions: (b n) absolute positions of the queries; default: the last n of the m keys.
        key_lengths: (b) number of valid keys per sequence; keys at positions >= length are ignored
            (a length past m reads all m, as the Triton kernels do). Default: all m.
    Returns:
        `AttentionOutput`; a query that sees no key gets zeros and lse = -inf.
    """
    check_shapes(q, k, v)
    batch, heads, queries, head_dim = q.shape
    groups = heads // k.shape[1]
    keys = k.shape[2]
    key_lengths = torch.full((batch,), keys, device=q.device) if key_lengths is None else key_lengths.clamp_max(keys)
    if q_positions is None:
        check_query_count(queries, keys)
        q_positions = query_positions(key_lengths, queries)
    key_positions = torch.arange(keys, device=q.device)
    visible = torch.stack([allowed(q_positions[row], key_positions, spec) for row in range(batch)])
    visible &= key_positions[None, None, :] < key_lengths[:, None, None]  # (b n m)
    k = k.repeat_interleave(groups, dim=1)
    v = v.repeat_interleave(groups, dim=1)
    scores = torch.einsum("bhnd,bhmd->bhnm", q, k) * head_dim**-0.5
    scores = scores.masked_fill(~visible[:, None], float("-inf"))
    lse = torch.logsumexp(scores.float(), dim=-1)
    weights = torch.softmax(scores, dim=-1).nan_to_num(0.0)  # rows with no visible key: zeros
    return AttentionOutput(torch.einsum("bhnm,bhmd->bhnd", weights, v), lse)


def sdpa_attention(q: Tensor, k: Tensor, v: Tensor, spec: MaskSpec, *, q_positions: Tensor | None = None,
                   key_lengths: Tensor | None = None) -> Tensor:
    """The runtime CPU path (and the training path): `scaled_dot_product_attention` with the
    explicit boolean mask of `spec`. Same arguments as `reference_attention`; returns `out` (b h n d)."""
    check_shapes(q, k, v)
    batch, heads, queries, _ = q.shape
    keys = k.shape[2]
    key_positions = torch.arange(keys, device=q.device)
    if q_positions is None:
        check_query_count(queries, keys)
    if q_positions is None and key_lengths is None:
        # One mask for the whole batch: the common training and prefill case.
        mask = allowed(key_positions[keys - queries:], key_positions, spec)
    else:
        key_lengths = torch.full((batch,), keys, device=q.device) if key_lengths is None else key_lengths.clamp_max(keys)
        if q_positions is None:
            q_positions = query_positions(key_lengths, queries)
        mask = torch.stack([allowed(q_positions[row], key_positions, spec) for row in range(batch)])
        mask = (mask & (key_positions[None, None, :] < key_lengths[:, None, None]))[:, None]
    return masked_sdpa(q, k, v, mask)


def masked_sdpa(q: Tensor, k: Tensor, v: Tensor, mask: Tensor) -> Tensor:
    """`scaled_dot_product_attention` of q (b h n d) over k, v (b g m d), h a multiple of g, under a
    boolean `mask` broadcastable to (b h n m) -> (b h n d).

    On CUDA, for several queries, the keys and values are repeated to h heads first: with `enable_gqa`
    and a mask, CUDA's fused kernels decline and the math kernel runs, which keeps b x h x n x m float32
    scores (for the `base` preset's training batch of 8, about 22 GB over its 24 layers). One query's
    scores are small, and repeating a whole KV cache each decode step would cost more."""
    groups = q.shape[1] // k.shape[1]
    if groups > 1 and q.device.type == "cuda" and q.shape[2] > 1:
        k, v = k.repeat_interleave(groups, dim=1), v.repeat_interleave(groups, dim=1)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=k.shape[1] != q.shape[1])


def single_query_attention(q: Tensor, k_cache: Tensor, v_cache: Tensor, key_lengths: Tensor) -> Tensor:
    """Cached decode of one new token per sequence off the Triton path (CPU, or a forced reference):
    the query sees the first `key_lengths[row]` cache slots (its own included), which is every mask
    rule's answer when no window is set.

    Under `torch.compile`, written as broadcast products and sums rather than
    `scaled_dot_product_attention`: they fuse into two C++ loops with no library call, which for the
    small heads of a decode step costs less than the call itself. Eager calls read only the slots
    some row uses, through `scaled_dot_product_attention` (the broadcast products would read and
    multiply every slot of the cache on their own, a fifth of an eager first window's time:
    docs/results/streaming_and_speed.md).

    Args:
        q: (b h 1 d). k_cache, v_cache: (b g m d) with h a multiple of g.
        key_lengths: (b) valid cache length per sequence (past m: all m slots).
    Returns:
        (b h 1 d) in q's dtype.
    """
    check_shapes(q, k_cache, v_cache)
    batch, heads, queries, head_dim = q.shape
    if queries != 1:
        raise ValueError(f"single_query_attention takes one query per sequence, got {queries}")
    groups = k_cache.shape[1]
    if not torch.compiler.is_compiling():
        used = min(int(key_lengths.max()), k_cache.shape[2])  # lengths past the cache read all of it
        valid = torch.arange(used, device=q.device) < key_lengths[:, None, None, None]  # (b 1 1 m)
        return masked_sdpa(q, k_cache[:, :, :used], v_cache[:, :, :used], valid)
    # Scores and weights in float32 (a no-op for float32 caches) as the eager and Triton paths keep
    # them. The softmax's division comes after the weighted sum, as in the Triton kernels: one
    # division per output value instead of one per (slot, output value) in the fused loop (a tenth of
    # the tiny preset's compiled step, docs/results/streaming_and_speed.md). A row that sees no slot
    # gets zeros, as the other paths give, not the NaN of a softmax over no key.
    grouped = q.view(batch, groups, heads // groups, 1, head_dim).float()  # query heads sharing a key/value head
    scores = (grouped * k_cache[:, :, None].float()).sum(-1) * head_dim**-0.5  # (b g r m)
    valid = torch.arange(k_cache.shape[2], device=q.device) < key_lengths[:, None, None, None]
    scores = scores.masked_fill(~valid, float("-inf"))
    peak = scores.amax(-1, keepdim=True).clamp_min(torch.finfo(torch.float32).min)  # finite with no slot seen
    weights = torch.exp(scores - peak)  # unnormalised; 0 at unseen slots
    total = weights.sum(-1, keepdim=True).clamp_min(torch.finfo(torch.float32).tiny)  # >= 1 where a slot is seen
    out = (weights[..., None] * v_cache[:, :, None].float()).sum(-2) / total  # (b g r d)
    return out.reshape(batch, heads, 1, head_dim).to(q.dtype)
