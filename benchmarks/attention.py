"""GPU benchmark of arvid's Triton attention against PyTorch's `scaled_dot_product_attention`
(and `flash_attn` when installed), on the same inputs in the same run.

    python benchmarks/attention.py [--dtype bf16] [--quick]

Prefill: causal attention over a grid of batch, heads, head dim and context length, in TFLOP/s
(4 * b * h * n^2 * d / 2 floating-point operations for a causal mask). Decode: one new token per
sequence over a KV cache of the given length, in GB/s of K and V read (2 * b * g * n * d * bytes).
Times are medians from `triton.testing.do_bench`. Needs a CUDA GPU; prints a table.
"""

from __future__ import annotations

import argparse
import sys

import torch
import torch.nn.functional as F

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dtype", choices=DTYPES, default="bf16")
    parser.add_argument("--quick", action="store_true", help="a smaller grid")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("bench_attention needs a CUDA GPU; none is visible (the kernels' CPU correctness tests run "
              "under TRITON_INTERPRET=1 in tests/test_kernels.py)")
        return 1
    import triton.testing

    from arvid.kernels import CAUSAL, MaskSpec
    from arvid.kernels.decode import decode_attention_triton
    from arvid.kernels.prefill import prefill_attention

    try:
        from flash_attn import flash_attn_func, flash_attn_with_kvcache
    except ImportError:
        flash_attn_func = flash_attn_with_kvcache = None
    dtype, device = DTYPES[args.dtype], "cuda"
    if dtype == torch.float32:
        flash_attn_func = flash_attn_with_kvcache = None  # flash-attn takes fp16 and bf16 only

    def bench(function) -> float:
        return triton.testing.do_bench(function, return_mode="median")

    print(f"{torch.cuda.get_device_name()} | {args.dtype} | flash-attn {'yes' if flash_attn_func else 'not installed'}")

    print("\nprefill, causal (TFLOP/s)")
    print(f"{'b':>3} {'h':>3} {'d':>4} {'n':>6} {'arvid':>8} {'sdpa':>8} {'flash':>8}")
    lengths = (1024, 4096) if args.quick else (1024, 2048, 4096, 8192, 16384)
    for head_dim in (64, 128):
        heads = 2048 // head_dim
        for length in lengths:
            batch = max(1, 16384 // length)
            q, k, v = (torch.randn(batch, heads, length, head_dim, device=device, dtype=dtype) for _ in range(3))
            flops = 4 * batch * heads * length * length * head_dim / 2
            timings = {"arvid": bench(lambda: prefill_attention(q, k, v, CAUSAL)),  # noqa: B023
                       "sdpa": bench(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True))}  # noqa: B023,E501
            if flash_attn_func is not None:
                qt, kt, vt = (t.transpose(1, 2).contiguous() for t in (q, k, v))
                timings["flash"] = bench(lambda: flash_attn_func(qt, kt, vt, causal=True))  # noqa: B023
            cells = [f"{flops / (timings[name] * 1e-3) / 1e12:8.1f}" if name in timings else f"{'-':>8}"
                     for name in ("arvid", "sdpa", "flash")]
            print(f"{batch:>3} {heads:>3} {head_dim:>4} {length:>6} {' '.join(cells)}")

    print("\ndecode, one token over the cache (GB/s of K and V)")
    print(f"{'b':>3} {'h':>3} {'g':>3} {'d':>4} {'n':>6} {'arvid':>8} {'sdpa':>8} {'flash':>8}")
    cache_lengths = (2048, 8192) if args.quick else (1024, 2048, 4096, 8192, 16384, 32768)
    for batch in (1, 8):
        for length in cache_lengths:
            heads, kv_heads, head_dim = 16, 8, 128
            q = torch.randn(batch, heads, 1, head_dim, device=device, dtype=dtype)
            k, v = (torch.randn(batch, kv_heads, length, head_dim, device=device, dtype=dtype) for _ in range(2))
            lengths_t = torch.full((batch,), length, device=device, dtype=torch.int32)
            bytes_read = 2 * batch * kv_heads * length * head_dim * k.element_size()
            timings = {
                "arvid": bench(lambda: decode_attention_triton(q, k, v, lengths_t, MaskSpec())),  # noqa: B023
                "sdpa": bench(lambda: F.scaled_dot_product_attention(q, k, v, enable_gqa=True)),  # noqa: B023
            }
            if flash_attn_with_kvcache is not None:
                qt, kt, vt = (t.transpose(1, 2).contiguous() for t in (q, k, v))
                timings["flash"] = bench(lambda: flash_attn_with_kvcache(qt, kt, vt))  # noqa: B023
            cells = [f"{bytes_read / (timings[name] * 1e-3) / 1e9:8.0f}" if name in timings else f"{'-':>8}"
                     for name in ("arvid", "sdpa", "flash")]
            print(f"{batch:>3} {heads:>3} {kv_heads:>3} {head_dim:>4} {length:>6} {' '.join(cells)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
