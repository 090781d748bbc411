"""arvid.kernels: attention for the LM behind one entry point.

`attention(q, k, v, spec)` (prefill / training) and `decode_attention(q, k_cache, v_cache,
key_lengths, spec)` (new tokens over a KV cache) are what `arvid.lm` calls. The path is chosen at
call time by `arvid.kernels.dispatch`; the PyTorch reference is in `reference.py`.
"""

from arvid.kernels.dispatch import attention, decode_attention
from arvid.kernels.mask import CAUSAL, MaskSpec, allowed
from arvid.kernels.reference import AttentionOutput, reference_attention, sdpa_attention

__all__ = ["AttentionOutput", "CAUSAL", "MaskSpec", "allowed", "attention", "decode_attention",
           "reference_attention", "sdpa_attention"]
