"""Cached decode attention in Triton: flash-decoding. The cache is split along its length; one
program per (sequence, key/value head, split, block of at most `MAX_BLOCK_R` (query head, new token)
rows) attends the newest tokens of that group's query heads to its slice of keys, and a second
kernel merges the splits by their log-sum-exp.

Einops legend: b batch, h query heads, g key/value heads, n new tokens per sequence (few),
m cache slots, s splits, d head dim. Sequence row r holds `key_lengths[r]` valid slots; its n new
tokens are the last n of them (already written to the cache).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from arvid.kernels.mask import MaskSpec
from arvid.kernels.prefill import NO_WINDOW, attend_block, check_supported, interpreted
from arvid.kernels.reference import AttentionOutput, check_key_lengths


@triton.jit
def _split_kernel(Q, K, V, Lengths, PartOut, PartLse,
                  stride_qb, stride_qh, stride_qn, stride_kb, stride_kg, stride_km, stride_vb, stride_vg, stride_vm,
                  kv_heads, group_size, queries, split_len, splits, slots, scale_log2, prefix_len, sink, window,
                  HEAD_DIM: tl.constexpr, BLOCK_R: tl.constexpr, BLOCK_N: tl.constexpr, FP32_DOT: tl.constexpr):
    batch_group = tl.program_id(0).to(tl.int64)  # int64: offsets stay exact past 2^31 elements
    split = tl.program_id(1)
    row_block = tl.program_id(2)
    batch = batch_group // kv_heads
    kv_head = batch_group % kv_heads
    # Clamped here rather than checked on the host, which would synchronise every decode step.
    length = tl.minimum(tl.load(Lengths + batch), slots)

    # Rows are (query head of the group, new token) pairs, so K and V are read once per group (once per
    # block of BLOCK_R rows when a group's rows outnumber it).
    rows = row_block * BLOCK_R + tl.arange(0, BLOCK_R)
    head = kv_head * group_size + rows // queries
    token = rows % queries
    valid_row = rows < group_size * queries
    dims = tl.arange(0, HEAD_DIM)
    q = tl.load(Q + batch * stride_qb + head[:, None] * stride_qh + token[:, None] * stride_qn + dims[None, :],
                mask=valid_row[:, None], other=0.0)
    q_positions = length - queries + token

    row_max = tl.full([BLOCK_R], float("-inf"), tl.float32)
    row_sum = tl.zeros([BLOCK_R], tl.float32)
    acc = tl.zeros([BLOCK_R, HEAD_DIM], tl.float32)
    K += batch * stride_kb + kv_head * stride_kg
    V += batch * stride_vb + kv_head * stride_vg
    lo = split * split_len
    hi = tl.minimum(lo + split_len, length)
    for key_start in range(lo, hi, BLOCK_N):
        # Keys at or past `hi` (this split's end, or the valid length) are masked like a tail.
        row_max, row_sum, acc = attend_block(q, K, V, key_start, q_positions, row_max, row_sum, acc, stride_km,
                                             stride_vm, hi, scale_log2, prefix_len, sink, window,
                                             HEAD_DIM, BLOCK_N, FP32_DOT)

    seen = row_sum > 0
    safe_sum = tl.where(seen, row_sum, 1.0)
    # Partial results, laid out (b, h, n, s, d) and (b, h, n, s); base-2 lse, -inf for an empty split.
    part = ((batch * kv_heads * group_size + head) * queries + token) * splits + split
    tl.store(PartOut + part[:, None] * HEAD_DIM + dims[None, :], acc / safe_sum[:, None], mask=valid_row[:, None])
    tl.store(PartLse + part, tl.where(seen, row_max + tl.log2(safe_sum), float("-inf")), mask=valid_row)


@triton.jit
def _merge_kernel(PartOut, PartLse, Out, Lse, splits, HEAD_DIM: tl.constexpr, BLOCK_S: tl.constexpr):
    row = tl.program_id(0)  # one (batch, head, token)
    split_ids = tl.arange(0, BLOCK_S)
    dims = tl.arange(0, HEAD_DIM)
    lse = tl.load(PartLse + row * splits + split_ids, mask=split_ids < splits, other=float("-inf"))
    top = tl.max(lse, 0)
    shift = tl.where(top == float("-inf"), 0.0, top)
    weights = tl.exp2(lse - shift)
    total = tl.sum(weights, 0)
    parts = tl.load(PartOut + (row * splits + split_ids)[:, None] * HEAD_DIM + dims[None, :],
                    mask=(split_ids < splits)[:, None], other=0.0)
    out = tl.sum(parts * weights[:, None], 0) / tl.where(total > 0, total, 1.0)
    tl.store(Out + row * HEAD_DIM + dims, out.to(Out.dtype.element_ty))
    tl.store(Lse + row, tl.where(total > 0, (shift + tl.log2(total)) * 0.6931471805599453, float("-inf")))


# The most (query head, new token) rows one program holds: its accumulator is BLOCK_R x HEAD_DIM
# float32, and a group's rows past this go to further programs (`_row_blocks`).
MAX_BLOCK_R = 64

_GPU_CONFIGS = [triton.Config({"BLOCK_N": n}, num_warps=w, num_stages=s)
                for n, w, s in ((64, 4, 2), (64, 4, 3), (128, 4, 2), (128, 8, 2), (32, 2, 3))]
_split_tuned = triton.autotune(configs=_GPU_CONFIGS, key=["split_len", "group_size", "queries", "HEAD_DIM"])(_split_kernel)


def _split_len(max_keys: int, programs: int) -> int:
    """Keys per split: enough splits to give every GPU core work, never fewer than 64 keys each, and
    at most 128 splits (the merge kernel holds all of a row's splits in registers)."""
    if interpreted():
        return 32
    target_programs = 2 * torch.cuda.get_device_properties(torch.cuda.current_device()).multi_processor_count
    splits = max(1, min(triton.cdiv(max_keys, 64), triton.cdiv(target_programs, programs)))
    splits = min(splits, 128)
    return triton.next_power_of_2(triton.cdiv(max_keys, splits))


def _row_blocks(rows: int) -> tuple[int, int]:
    """(rows a program holds, programs a group's `rows` need): a power of two from 16 (the smallest
    `tl.dot` tile) to `MAX_BLOCK_R`, so that many heads per group or many new tokens (a Jacobi pass)
    split into several programs instead of one whose accumulator outgrows a GPU core's registers."""
    block = min(max(16, triton.next_power_of_2(rows)), MAX_BLOCK_R)
    return block, triton.cdiv(rows, block)


def decode_attention_triton(q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor, key_lengths: torch.Tensor,
                            spec: MaskSpec) -> AttentionOutput:
    """Attention of the newest n tokens q (b h n d) over caches (b g m d) with `key_lengths` (b) valid slots.

    Returns:
        `AttentionOutput(out (b h n d) in q's dtype, lse (b h n) float32)`.
    Raises:
        ValueError: an unsupported head dim, dtype or device, or key_lengths not an integer tensor (b,).
    Lengths above m are read as m.
    """
    check_supported(q, k_cache, v_cache)
    batch, heads, queries, head_dim = q.shape
    kv_heads = k_cache.shape[1]
    check_key_lengths(key_lengths, batch)
    q, k_cache, v_cache = (t if t.stride(-1) == 1 else t.contiguous() for t in (q, k_cache, v_cache))
    # contiguous: the kernel reads row i's length at Lengths + i (a strided or expanded int32 tensor
    # comes back from `.to` as it is).
    lengths = key_lengths.to(device=q.device, dtype=torch.int32).contiguous()
    group = heads // kv_heads
    if q.device.type == "cuda":
        with torch.cuda.device(q.device):  # Triton launches on (and _split_len asks) the current device
            return _launch(q, k_cache, v_cache, lengths, spec, group)
    return _launch(q, k_cache, v_cache, lengths, spec, group)


def _launch(q, k_cache, v_cache, lengths, spec: MaskSpec, group: int) -> AttentionOutput:
    batch, heads, queries, head_dim = q.shape
    kv_heads, slots = k_cache.shape[1], k_cache.shape[2]
    split_len = _split_len(slots, batch * kv_heads)
    splits = triton.cdiv(slots, split_len)
    part_out = torch.empty((batch, heads, queries, splits, head_dim), device=q.device, dtype=torch.float32)
    part_lse = torch.empty((batch, heads, queries, splits), device=q.device, dtype=torch.float32)
    block_r, row_blocks = _row_blocks(group * queries)
    args = (q, k_cache, v_cache, lengths, part_out, part_lse,
            q.stride(0), q.stride(1), q.stride(2), k_cache.stride(0), k_cache.stride(1), k_cache.stride(2),
            v_cache.stride(0), v_cache.stride(1), v_cache.stride(2),
            kv_heads, group, queries, split_len, splits, slots, head_dim**-0.5 / 0.6931471805599453, spec.prefix_len,
            spec.sink, spec.window if spec.window is not None else NO_WINDOW)
    fp32 = q.dtype == torch.float32
    if interpreted():
        _split_kernel[(batch * kv_heads, splits, row_blocks)](*args, HEAD_DIM=head_dim, BLOCK_R=block_r, BLOCK_N=16,
                                                              FP32_DOT=fp32, num_warps=1)
    else:
        _split_tuned[(batch * kv_heads, splits, row_blocks)](*args, HEAD_DIM=head_dim, BLOCK_R=block_r, FP32_DOT=fp32)
    out = torch.empty(q.shape, device=q.device, dtype=q.dtype)  # contiguous: the merge writes rows in order
    lse = torch.empty((batch, heads, queries), device=q.device, dtype=torch.float32)
    _merge_kernel[(batch * heads * queries,)](part_out, part_lse, out, lse, splits, HEAD_DIM=head_dim,
                                              BLOCK_S=max(2, triton.next_power_of_2(splits)))
    return AttentionOutput(out, lse)
