"""Choosing the attention path at call time.

CUDA tensors go to the Triton kernels, CPU tensors to the PyTorch reference (SDPA with an explicit
mask). `ARVID_ATTENTION=reference` or `=triton` forces a path; the variable is read on every
call, never at import. Triton modules are imported only when the Triton path runs, so that
`TRITON_INTERPRET=1` set before the first Triton call is honoured.

- Calls that need gradients always take the reference: the Triton kernels have no backward
  (training uses `scaled_dot_product_attention`).
- Shapes or dtypes the kernels do not handle fall back to the reference with a one-time warning,
  or raise the kernels' `ValueError` when Triton was forced.
- Code being compiled (`torch.compile`: the compiled decode step, `--fused` runs) takes the reference
  and inductor writes its kernels: under `fullgraph` every line of a hand-written launch (autotuning,
  device queries, the module import) would have to trace, and one that does not is a hard error.
"""

from __future__ import annotations

import os
import warnings

import torch
from torch import Tensor

from arvid.kernels.mask import MaskSpec
from arvid.kernels.reference import check_key_lengths, check_query_count, check_shapes, sdpa_attention, single_query_attention

BACKENDS = ("auto", "reference", "triton")
_warned: set[str] = set()


class AttentionFallbackWarning(UserWarning):
    """A call that wanted the Triton kernels runs the PyTorch reference (said once per reason).
    arvid's own category, so the commands print it as one `warning: ...` line."""


def requested_backend() -> str:
    """The value of `ARVID_ATTENTION` ("auto" when unset). Raises `ValueError` on an unknown one."""
    name = os.environ.get("ARVID_ATTENTION", "auto").strip().lower() or "auto"
    if name not in BACKENDS:
        raise ValueError(f"ARVID_ATTENTION={name!r}: expected one of {', '.join(BACKENDS)}")
    return name


def _warn_once(message: str, reason: str | None = None) -> None:
    """Warn `message` the first time its `reason` (default: the message itself) comes up."""
    reason = message if reason is None else reason
    if reason not in _warned:
        _warned.add(reason)
        warnings.warn(message, AttentionFallbackWarning, stacklevel=3)


def use_triton(*tensors: Tensor) -> bool:
    """Whether this call runs the Triton kernels (see the module docstring for the rules)."""
    if torch.compiler.is_compiling():
        return False  # a compiled graph gets inductor's own kernels: see the module docstring
    backend = requested_backend()
    if backend == "reference" or (backend == "auto" and tensors[0].device.type != "cuda"):
        return False
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        if backend == "triton":
            _warn_once("ARVID_ATTENTION=triton: calls that need gradients use the PyTorch reference "
                       "(the Triton kernels have no backward)")
        return False
    try:
        # Imported here: triton itself may be missing or broken (a CUDA machine without it).
        from arvid.kernels.prefill import check_supported

        check_supported(*tensors[:3])
    except (ImportError, ValueError) as err:
        if backend == "triton":
            raise
        # Once a reason, not once a shape: the message's figures after "got" change with every length.
        _warn_once(f"Triton attention unavailable, using the PyTorch reference: {err}", str(err).split(", got")[0])
        return False
    return True


def attention(q: Tensor, k: Tensor, v: Tensor, spec: MaskSpec) -> Tensor:
    """Attention of n queries over m >= n keys, the queries being the last n key positions (prefill
    and training: n == m).

    Args:
        q: (b h n d); k, v: (b g m d) with h a multiple of g.
        spec: the mask (causal, bidirectional prefix, sink + window).
    Returns:
        (b h n d) in q's dtype.
    """
    check_shapes(q, k, v)  # bad input is the caller's error on either path, not a reason to fall back
    check_query_count(q.shape[2], k.shape[2])
    if use_triton(q, k, v):
        from arvid.kernels.prefill import prefill_attention

        return prefill_attention(q, k, v, spec).out
    return sdpa_attention(q, k, v, spec)


def decode_attention(q: Tensor, k_cache: Tensor, v_cache: Tensor, key_lengths: Tensor, spec: MaskSpec) -> Tensor:
    """Attention of the newest tokens over a KV cache.

    Args:
        q: (b h n d), the last n tokens of each sequence (already written to the cache).
        k_cache, v_cache: (b g m d); only the first `key_lengths[row]` slots of each row are read.
        key_lengths: (b) int, valid cache length per sequence (the new tokens included); a length
            past m reads all m slots.
        spec: the mask, in cache positions.
    Returns:
        (b h n d) in q's dtype.
    Raises:
        ValueError: key_lengths that are not an integer tensor of shape (b,), or shapes that disagree.
    """
    check_shapes(q, k_cache, v_cache)
    check_key_lengths(key_lengths, q.shape[0])
    if use_triton(q, k_cache, v_cache):
        from arvid.kernels.decode import decode_attention_triton

        return decode_attention_triton(q, k_cache, v_cache, key_lengths, spec).out
    if q.shape[2] == 1 and spec.window is None:
        return single_query_attention(q, k_cache, v_cache, key_lengths)
    return sdpa_attention(q, k_cache, v_cache, spec, key_lengths=key_lengths)  # a length past m reads all m
