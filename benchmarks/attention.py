"""GPU benchmark of arvid's Triton attention against PyTorch's `scaled_dot_product_attention`
(its default choice, and its FlashAttention and cuDNN backends forced) and `flash_attn` when
installed, on the same inputs in the same run.

    python benchmarks/attention.py [--dtype bf16] [--quick] [--json out.json]
    python benchmarks/attention.py --head-dims 64,128 --lengths 1024,2048,4096,8192 --decode 1x32768,8x8192

Prefill: causal attention over `--tokens` tokens per call (batch = tokens / length) at each head
dim and context length, in TFLOP/s: 4 * b * h * n^2 * d / 2 floating-point operations (the causal
mask halves them), and the largest difference from SDPA's output. Decode: one new token per
sequence over a KV cache of the given length, in GB/s of K and V read (2 * b * g * n * d * bytes),
and as a share of the GPU's datasheet bandwidth when its name is known (`device_info.py`). Each
path is timed with `triton.testing.do_bench` (median), the paths taking turns for `--rounds`
rounds, and the median of the rounds is reported.

Needs a CUDA GPU. `--device cpu` under TRITON_INTERPRET=1 runs the same code on tiny shapes
(fp32 or fp16: the interpreter mishandles bf16), timing with the wall clock: a check that the script
works (`benchmarks/gpu_check.py --cpu-dry-run`), not a measurement. Prints a table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from device_info import device_name, peak_bandwidth_gbs, write_json  # benchmarks/device_info.py, beside this script

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
PREFILL_PEERS = ("sdpa", "sdpa-flash", "sdpa-cudnn", "flash-attn")
DECODE_PEERS = ("sdpa", "flash-attn")


def int_list(text: str) -> list[int]:
    return [int(item) for item in text.split(",") if item]


def decode_shapes(text: str) -> list[tuple[int, int]]:
    """"1x32768,8x8192" -> [(1, 32768), (8, 8192)]: (batch, cache length) pairs."""
    shapes = []
    for item in text.split(","):
        batch, _, length = item.partition("x")
        shapes.append((int(batch), int(length)))
    return shapes


def make_timer(device: str) -> Callable[[Callable[[], object]], float]:
    """Milliseconds per call of a function: `do_bench`'s median on CUDA, on the CPU the median of
    three wall-clock calls after one warm-up."""
    if device == "cuda":
        import triton.testing

        return lambda function: triton.testing.do_bench(function, return_mode="median")

    def wall(function) -> float:
        function()
        times = []
        for _ in range(3):
            start = time.perf_counter()
            function()
            times.append(time.perf_counter() - start)
        return 1000 * statistics.median(times)

    return wall


def interleaved(functions: dict[str, Callable[[], object] | None], bench, rounds: int) -> dict[str, float | None]:
    """Median milliseconds of each function, timed in turns (order reversed every round) so that a
    clock or temperature change falls on all alike. A function that raises (a backend that does not
    take these inputs) or is None gets None."""
    times: dict[str, list[float]] = {name: [] for name in functions}
    failed = {name for name, function in functions.items() if function is None}
    for round_index in range(rounds):
        names = list(functions) if round_index % 2 == 0 else list(functions)[::-1]
        for name in names:
            if name in failed:
                continue
            try:
                times[name].append(bench(functions[name]))
            except Exception as err:  # noqa: BLE001 - a peer that cannot run these inputs is reported, not fatal
                print(f"  {name}: {type(err).__name__}: {str(err).splitlines()[0][:160] if str(err) else ''}",
                      file=sys.stderr)
                failed.add(name)
    return {name: (statistics.median(values) if values and name not in failed else None)
            for name, values in times.items()}


def sdpa_with(backend_name: str | None, q, k, v, **kwargs):
    """A call of SDPA, with one backend forced (`sdpa_kernel`) when `backend_name` is given."""
    if backend_name is None:
        return lambda: F.scaled_dot_product_attention(q, k, v, **kwargs)
    from torch.nn.attention import SDPBackend, sdpa_kernel

    backend = getattr(SDPBackend, backend_name, None)
    if backend is None:
        return None

    def call():
        with sdpa_kernel(backend):
            return F.scaled_dot_product_attention(q, k, v, **kwargs)

    return call


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                        help="cuda (default); cpu only under TRITON_INTERPRET=1, to check the script")
    parser.add_argument("--dtype", choices=DTYPES, default="bf16")
    parser.add_argument("--quick", action="store_true", help="a smaller grid")
    parser.add_argument("--head-dims", type=int_list, default=[64, 128], help="prefill head dims (default 64,128)")
    parser.add_argument("--heads", type=int, default=16, help="prefill query heads (default 16)")
    parser.add_argument("--lengths", type=int_list, help="prefill context lengths (default 1024,...,16384)")
    parser.add_argument("--tokens", type=int, default=16384, help="prefill tokens per call: batch = tokens / length")
    parser.add_argument("--decode", type=decode_shapes, dest="decode_shapes",
                        help="decode (batch)x(cache length) pairs (default: 1 and 8 x 1024,...,32768)")
    parser.add_argument("--decode-heads", type=int, default=16)
    parser.add_argument("--kv-heads", type=int, default=8)
    parser.add_argument("--decode-head-dim", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per shape (default 3)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("bench_attention needs a CUDA GPU; none is visible (the kernels' CPU correctness tests run "
              "under TRITON_INTERPRET=1 in tests/test_kernels.py)")
        return 1
    if args.device == "cpu" and os.environ.get("TRITON_INTERPRET") != "1":
        print("--device cpu runs the Triton kernels under the interpreter: set TRITON_INTERPRET=1")
        return 1
    if args.device == "cpu" and args.dtype == "bf16":
        print("Triton's interpreter mishandles bf16: use --dtype fp32 or fp16 on the CPU")
        return 1
    from arvid.kernels import CAUSAL, MaskSpec
    from arvid.kernels.decode import decode_attention_triton
    from arvid.kernels.prefill import prefill_attention

    try:
        from flash_attn import flash_attn_func, flash_attn_with_kvcache
    except Exception:  # noqa: BLE001 - not installed, or built for another torch or CUDA: left out either way
        flash_attn_func = flash_attn_with_kvcache = None
    dtype, device = DTYPES[args.dtype], args.device
    if dtype == torch.float32 or device != "cuda":
        flash_attn_func = flash_attn_with_kvcache = None  # flash-attn takes fp16 and bf16 on CUDA only
    bench = make_timer(device)
    name = device_name(device)
    peak = peak_bandwidth_gbs(name) if device == "cuda" else None
    versions = {"torch": torch.__version__, "triton": _version("triton"), "flash_attn": _version("flash_attn")}
    print(f"{name} | {args.dtype} | torch {versions['torch']} | triton {versions['triton']} | "
          f"flash-attn {versions['flash_attn'] or 'not installed'} | "
          f"peak bandwidth {f'{peak:.0f} GB/s' if peak else 'unknown'}")
    results = {"device": name, "dtype": args.dtype, "versions": versions, "peak_bandwidth_gbs": peak,
               "prefill": [], "decode": []}

    print("\nprefill, causal (TFLOP/s); diff: max |arvid - sdpa|")
    print(f"{'b':>3} {'h':>3} {'d':>4} {'n':>6} {'arvid':>8} " + " ".join(f"{p:>10}" for p in PREFILL_PEERS)
          + f" {'diff':>8}")
    lengths = args.lengths or ((1024, 4096) if args.quick else (1024, 2048, 4096, 8192, 16384))
    for head_dim in args.head_dims:
        for length in lengths:
            batch = max(1, args.tokens // length)
            generator = torch.Generator(device=device).manual_seed(length + head_dim)
            q, k, v = (torch.randn(batch, args.heads, length, head_dim, device=device, dtype=dtype, generator=generator)
                       for _ in range(3))
            flops = 4 * batch * args.heads * length * length * head_dim / 2
            functions = {"arvid": lambda: prefill_attention(q, k, v, CAUSAL),  # noqa: B023
                         "sdpa": sdpa_with(None, q, k, v, is_causal=True),
                         "sdpa-flash": sdpa_with("FLASH_ATTENTION", q, k, v, is_causal=True) if device == "cuda" else None,
                         "sdpa-cudnn": sdpa_with("CUDNN_ATTENTION", q, k, v, is_causal=True) if device == "cuda" else None,
                         "flash-attn": None}
            if flash_attn_func is not None:
                qt, kt, vt = (t.transpose(1, 2).contiguous() for t in (q, k, v))
                functions["flash-attn"] = lambda: flash_attn_func(qt, kt, vt, causal=True)  # noqa: B023
            try:  # also the first call, which compiles and autotunes the kernel outside the timing
                diff = (prefill_attention(q, k, v, CAUSAL).out.float()
                        - F.scaled_dot_product_attention(q, k, v, is_causal=True).float()).abs().max().item()
                error = None
            except Exception as err:  # noqa: BLE001 - a kernel that does not compile here: reported, peers still timed
                diff, error = None, f"{type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}"
                functions["arvid"] = None
                print(f"  arvid: {error}", file=sys.stderr)
            timings = interleaved(functions, bench, args.rounds)
            tflops = {path: (flops / (ms * 1e-3) / 1e12 if ms else None) for path, ms in timings.items()}
            results["prefill"].append({"batch": batch, "heads": args.heads, "head_dim": head_dim, "length": length,
                                       "ms": timings, "tflops": tflops, "max_abs_diff": diff, "error": error})
            cells = " ".join(_cell(tflops[path], 10, ".1f") for path in PREFILL_PEERS)
            print(f"{batch:>3} {args.heads:>3} {head_dim:>4} {length:>6} {_cell(tflops['arvid'], 8, '.1f')} {cells} "
                  f"{_cell(diff, 8, '.1e')}", flush=True)

    print("\ndecode, one token over the cache (GB/s of K and V read"
          + (f"; % of {peak:.0f} GB/s" if peak else "; peak bandwidth unknown") + ")")
    print(f"{'b':>3} {'h':>3} {'g':>3} {'d':>4} {'n':>6} {'arvid':>8} {'%peak':>6} "
          + " ".join(f"{p:>10}" for p in DECODE_PEERS))
    shapes = args.decode_shapes or [(batch, length) for batch in (1, 8) for length in
                                     ((2048, 8192) if args.quick else (1024, 2048, 4096, 8192, 16384, 32768))]
    heads, kv_heads, head_dim = args.decode_heads, args.kv_heads, args.decode_head_dim
    for batch, length in shapes:
        generator = torch.Generator(device=device).manual_seed(length + batch)
        q = torch.randn(batch, heads, 1, head_dim, device=device, dtype=dtype, generator=generator)
        k, v = (torch.randn(batch, kv_heads, length, head_dim, device=device, dtype=dtype, generator=generator)
                for _ in range(2))
        lengths_t = torch.full((batch,), length, device=device, dtype=torch.int32)
        bytes_read = 2 * batch * kv_heads * length * head_dim * k.element_size()
        functions = {"arvid": lambda: decode_attention_triton(q, k, v, lengths_t, MaskSpec()),  # noqa: B023
                     "sdpa": sdpa_with(None, q, k, v, enable_gqa=kv_heads != heads), "flash-attn": None}
        if flash_attn_with_kvcache is not None:
            qt, kt, vt = (t.transpose(1, 2).contiguous() for t in (q, k, v))
            functions["flash-attn"] = lambda: flash_attn_with_kvcache(qt, kt, vt)  # noqa: B023
        timings = interleaved(functions, bench, args.rounds)
        gbs = {path: (bytes_read / (ms * 1e-3) / 1e9 if ms else None) for path, ms in timings.items()}
        share = gbs["arvid"] / peak if peak and gbs["arvid"] else None
        results["decode"].append({"batch": batch, "heads": heads, "kv_heads": kv_heads, "head_dim": head_dim,
                                  "cache": length, "bytes": bytes_read, "ms": timings, "gbs": gbs,
                                  "fraction_of_peak": share})
        cells = " ".join(_cell(gbs[path], 10, ".0f") for path in DECODE_PEERS)
        print(f"{batch:>3} {heads:>3} {kv_heads:>3} {head_dim:>4} {length:>6} {_cell(gbs['arvid'], 8, '.0f')} "
              f"{_cell(100 * share if share else None, 6, '.0f')} {cells}", flush=True)
    write_json(args.json, results)
    return 0


def _cell(value: float | None, width: int, spec: str) -> str:
    return f"{value:{width}{spec}}" if value is not None else f"{'-':>{width}}"


def _version(module: str) -> str | None:
    try:
        return __import__(module).__version__
    except Exception:  # noqa: BLE001 - as for flash_attn above
        return None


if __name__ == "__main__":
    sys.exit(main())
