"""The tokenizer with every causal conv as `conv3d` against as shipped (a single video's convs as one
2D convolution per time tap, `arvid.tokenizer.layers.CausalConv3d`), in one run.

    python benchmarks/conv_paths.py [--tokenizer natural] [--threads 2] [--sizes 64 128] [--batches 1 2 4]

Each case encodes and decodes the same random 17-frame clip(s), both ways taken in turn (order
alternating), 7 rounds, the first 2 untimed; prints median encode and decode ms and the speed-up of
the shipped path. A benchmark, not a test (tests/test_tokenizer.py checks both paths give the same numbers).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from arvid.tokenizer import VideoTokenizer
from arvid.tokenizer.layers import CausalConv3d

SHIPPED = CausalConv3d._convolve


def conv3d_always(self: CausalConv3d, padded: torch.Tensor, outputs: int) -> torch.Tensor:
    """`CausalConv3d._convolve` with `conv3d` at every batch size."""
    return self.conv(padded)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokenizer", default="natural", help="a tokenizer name or folder (default natural)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = VideoTokenizer.from_pretrained(args.tokenizer).eval()
    paths = {"conv3d": conv3d_always, "shipped": SHIPPED}
    print(f"{args.tokenizer}, {args.threads} thread(s); median encode / decode ms of 5 rounds")
    try:
        for size in args.sizes:
            for batch in args.batches:
                video = torch.rand(batch, 3, 17, size, size, generator=torch.Generator().manual_seed(0)) * 2 - 1
                times: dict[str, list[tuple[float, float]]] = {name: [] for name in paths}
                with torch.no_grad():
                    for round_ in range(7):
                        for name in list(paths)[:: 1 if round_ % 2 == 0 else -1]:
                            CausalConv3d._convolve = paths[name]
                            start = time.perf_counter()
                            codes = model.encode(video)
                            middle = time.perf_counter()
                            model.decode(codes)
                            if round_ >= 2:
                                times[name].append((middle - start, time.perf_counter() - middle))
                medians = {name: [1e3 * statistics.median(t[i] for t in values) for i in (0, 1)]
                           for name, values in times.items()}
                speedup = sum(medians["conv3d"]) / sum(medians["shipped"])
                print(f"{size}x{size} batch {batch}: conv3d {medians['conv3d'][0]:.1f} / {medians['conv3d'][1]:.1f}, "
                      f"shipped {medians['shipped'][0]:.1f} / {medians['shipped'][1]:.1f}; shipped {speedup:.2f}x",
                      flush=True)
    finally:
        CausalConv3d._convolve = SHIPPED


if __name__ == "__main__":
    main()
