"""Prefill attention in Triton: a FlashAttention-2-style forward (tiled over queries and keys, online
softmax in float32, one pass) with arvid's masks and grouped-query attention.

Einops legend: b batch, h query heads, g key/value heads, n queries, m keys, d head dim.
Queries are the last n of the m key positions (n = m for a plain prefill).
"""

from __future__ import annotations

import os

import torch
import triton
import triton.language as tl

from arvid.kernels.mask import MaskSpec
from arvid.kernels.reference import AttentionOutput, check_query_count, check_shapes

HEAD_DIMS = (32, 64, 128)
DTYPES = (torch.float16, torch.bfloat16, torch.float32)
NO_WINDOW = 2**30
# The kernel works in base 2 (exp2 is the fast path): scores are scaled by 1 / ln(2).
LN2 = 0.6931471805599453


@triton.jit
def attend_block(q, K, V, key_start, q_positions, row_max, row_sum, acc, stride_km, stride_vm, keys, scale_log2,
                 prefix_len, sink, window, HEAD_DIM: tl.constexpr, BLOCK_N: tl.constexpr, FP32_DOT: tl.constexpr):
    """One key block of the online softmax: returns the updated (row_max, row_sum, acc) in base 2.
    `K` and `V` point at this (batch, kv head); `q_positions` (BLOCK_M) are the queries' positions."""
    cols = key_start + tl.arange(0, BLOCK_N)
    dims = tl.arange(0, HEAD_DIM)
    k = tl.load(K + cols[:, None] * stride_km + dims[None, :], mask=cols[:, None] < keys, other=0.0)
    v = tl.load(V + cols[:, None] * stride_vm + dims[None, :], mask=cols[:, None] < keys, other=0.0)
    if FP32_DOT:
        scores = tl.dot(q, tl.trans(k), input_precision="ieee")
    else:
        scores = tl.dot(q, tl.trans(k))
    i = q_positions[:, None]
    j = cols[None, :]
    visible = ((j <= i) | (j < prefix_len)) & ((j < sink) | (i - j < window)) & (j < keys)
    scores = tl.where(visible, scores * scale_log2, float("-inf"))
    new_max = tl.maximum(row_max, tl.max(scores, 1))
    # A row that has seen no key yet keeps a -inf max: shift by 0 there to avoid inf - inf.
    shift = tl.where(new_max == float("-inf"), 0.0, new_max)
    p = tl.exp2(scores - shift[:, None])
    correction = tl.exp2(row_max - shift)
    row_sum = row_sum * correction + tl.sum(p, 1)
    if FP32_DOT:
        acc = acc * correction[:, None] + tl.dot(p, v, input_precision="ieee")
    else:
        acc = acc * correction[:, None] + tl.dot(p.to(v.dtype), v)
    return new_max, row_sum, acc


@triton.jit
def _prefill_kernel(Q, K, V, Out, Lse,
                    stride_qb, stride_qh, stride_qn, stride_kb, stride_kg, stride_km, stride_vb, stride_vg,
                    stride_vm, stride_ob, stride_oh, stride_on,
                    heads, queries, keys, group_size, scale_log2, prefix_len, sink, window, len_bucket,
                    HEAD_DIM: tl.constexpr, BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, FP32_DOT: tl.constexpr):
    # (batch, head) on grid axis 0, whose limit is 2^31 - 1 (axis 1 stops at 65535). int64, so
    # that offsets like batch * stride stay exact past 2^31 elements.
    batch_head = tl.program_id(0).to(tl.int64)
    block_m = tl.program_id(1)
    batch = batch_head // heads
    head = batch_head % heads
    K += batch * stride_kb + (head // group_size) * stride_kg
    V += batch * stride_vb + (head // group_size) * stride_vg

    rows = block_m * BLOCK_M + tl.arange(0, BLOCK_M)
    dims = tl.arange(0, HEAD_DIM)
    q_positions = rows + (keys - queries)
    q = tl.load(Q + batch * stride_qb + head * stride_qh + rows[:, None] * stride_qn + dims[None, :],
                mask=rows[:, None] < queries, other=0.0)
    row_max = tl.full([BLOCK_M], float("-inf"), tl.float32)
    row_sum = tl.zeros([BLOCK_M], tl.float32)
    acc = tl.zeros([BLOCK_M, HEAD_DIM], tl.float32)

    # Key blocks any query of this block may see: the sink blocks (with a window), then from the
    # window's start (0 without a window) to the last query or the end of the prefix.
    first_q = block_m * BLOCK_M + (keys - queries)
    last_q = tl.minimum(first_q + BLOCK_M - 1, keys - 1)
    end = tl.minimum(tl.maximum(last_q + 1, prefix_len), keys)
    # tl.where, not a bool cast: compiled Triton turns an argument equal to 1 into a constant, and
    # `window < NO_WINDOW` is then a plain Python bool.
    sink_end = tl.where(window < NO_WINDOW_CONST, tl.cdiv(tl.minimum(sink, end), BLOCK_N) * BLOCK_N, 0)
    start = tl.maximum(sink_end, (tl.maximum(first_q - window + 1, 0) // BLOCK_N) * BLOCK_N)
    for key_start in range(0, sink_end, BLOCK_N):
        row_max, row_sum, acc = attend_block(q, K, V, key_start, q_positions, row_max, row_sum, acc, stride_km,
                                             stride_vm, keys, scale_log2, prefix_len, sink, window,
                                             HEAD_DIM, BLOCK_N, FP32_DOT)
    for key_start in range(start, end, BLOCK_N):
        row_max, row_sum, acc = attend_block(q, K, V, key_start, q_positions, row_max, row_sum, acc, stride_km,
                                             stride_vm, keys, scale_log2, prefix_len, sink, window,
                                             HEAD_DIM, BLOCK_N, FP32_DOT)

    seen = row_sum > 0
    safe_sum = tl.where(seen, row_sum, 1.0)
    tl.store(Out + batch * stride_ob + head * stride_oh + rows[:, None] * stride_on + dims[None, :],
             (acc / safe_sum[:, None]).to(Out.dtype.element_ty), mask=rows[:, None] < queries)
    # Back from base 2 to the natural log-sum-exp of the scaled scores; -inf for a row with no key.
    lse = tl.where(seen, (row_max + tl.log2(safe_sum)) * 0.6931471805599453, float("-inf"))
    tl.store(Lse + batch_head * queries + rows, lse, mask=rows < queries)


NO_WINDOW_CONST = tl.constexpr(NO_WINDOW)


def interpreted() -> bool:
    """True when Triton runs kernels on the CPU (TRITON_INTERPRET=1)."""
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def check_supported(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
    """Raise `ValueError` naming the shape, dtype or device the Triton kernels do not handle."""
    check_shapes(q, k, v)
    if q.shape[-1] not in HEAD_DIMS:
        raise ValueError(f"Triton attention supports head dims {HEAD_DIMS}, got {q.shape[-1]} (shape {tuple(q.shape)})")
    if q.dtype not in DTYPES or k.dtype != q.dtype or v.dtype != q.dtype:
        raise ValueError(f"Triton attention supports {', '.join(map(str, DTYPES))} (all the same), got "
                         f"{q.dtype}, {k.dtype}, {v.dtype}")
    if q.device.type != "cuda" and not interpreted():
        raise ValueError(f"Triton attention needs CUDA tensors (or TRITON_INTERPRET=1), got {q.device}")
    if interpreted() and q.dtype == torch.bfloat16:
        raise ValueError("under TRITON_INTERPRET=1 the kernels take float32 or float16: Triton's interpreter "
                         "mishandles bfloat16 dot products")
    check_query_count(q.shape[2], k.shape[2])


# Autotuned on GPU over a short list; keyed by the sizes that change the best tiling.
_GPU_CONFIGS = [triton.Config({"BLOCK_M": m, "BLOCK_N": n}, num_warps=w, num_stages=s)
                for m, n, w, s in ((128, 64, 4, 3), (128, 64, 8, 3), (128, 128, 8, 2), (64, 64, 4, 3), (64, 32, 4, 4))]
# The key buckets the length (`len_bucket`, the next power of two of the keys), so that the
# streaming sampler's prefills of ever-new lengths do not each re-run the tuning.
_prefill_tuned = triton.autotune(configs=_GPU_CONFIGS, key=["len_bucket", "HEAD_DIM", "FP32_DOT"])(_prefill_kernel)


def prefill_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, spec: MaskSpec) -> AttentionOutput:
    """Attention of q (b h n d) over k, v (b g m d), queries being the last n of the m positions.

    Returns:
        `AttentionOutput(out (b h n d) in q's dtype, lse (b h n) float32)`.
    Raises:
        ValueError: an unsupported head dim, dtype or device (see `check_supported`).
    """
    check_supported(q, k, v)
    q, k, v = (t if t.stride(-1) == 1 else t.contiguous() for t in (q, k, v))
    batch, heads, queries, head_dim = q.shape
    kv_heads, keys = k.shape[1], k.shape[2]
    out = torch.empty_like(q)
    lse = torch.empty((batch, heads, queries), device=q.device, dtype=torch.float32)
    args = (q, k, v, out, lse,
            q.stride(0), q.stride(1), q.stride(2), k.stride(0), k.stride(1), k.stride(2), v.stride(0), v.stride(1),
            v.stride(2), out.stride(0), out.stride(1), out.stride(2),
            heads, queries, keys, heads // kv_heads, head_dim**-0.5 / LN2, spec.prefix_len, spec.sink,
            spec.window if spec.window is not None else NO_WINDOW, triton.next_power_of_2(keys))
    fp32 = q.dtype == torch.float32
    if interpreted():  # small fixed blocks: the interpreter's cost grows with the block area
        _prefill_kernel[(batch * heads, triton.cdiv(queries, 16))](*args, HEAD_DIM=head_dim, BLOCK_M=16, BLOCK_N=16,
                                                                   FP32_DOT=fp32, num_warps=1, num_stages=1)
    else:
        grid = lambda meta: (batch * heads, triton.cdiv(queries, meta["BLOCK_M"]))  # noqa: E731
        with torch.cuda.device(q.device):  # Triton launches on the current device
            _prefill_tuned[grid](*args, HEAD_DIM=head_dim, FP32_DOT=fp32)
    return AttentionOutput(out, lse)
