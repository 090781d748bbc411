"""The tokenizer with every causal conv as `conv3d` against as shipped (one float32 video's convs on the CPU as
one 2D convolution per time tap, `arvid.tokenizer.layers.CausalConv3d`), in one run.

    python benchmarks/conv_paths.py [--tokenizer natural] [--threads 2] [--sizes 64 128] [--batches 1 2 4]
    python benchmarks/conv_paths.py --streaming [--tokenizer shapes] [--threads 1] [--bf16]

Each case encodes and decodes the same random 17-frame clip(s), both ways taken in turn (order
alternating), 7 rounds, the first 2 untimed; prints median encode and decode ms and the speed-up of
the shipped path. `--streaming` instead times the streaming decoder (one video, 64x64, a latent
frame a push, 11 pushes a round; `--bf16`: under bfloat16 autocast, as `stream(bf16_decoder=True)`).
A benchmark, not a test (tests/test_tokenizer.py checks both paths give the same numbers).
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
    parser.add_argument("--streaming", action="store_true", help="time the streaming decoder instead")
    parser.add_argument("--bf16", action="store_true", help="with --streaming: under bfloat16 autocast")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = VideoTokenizer.from_pretrained(args.tokenizer).eval()
    paths = {"conv3d": conv3d_always, "shipped": SHIPPED}
    if args.streaming:
        streaming(model, paths, bf16=args.bf16)
        return
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


def streaming(model: VideoTokenizer, paths: dict, *, bf16: bool) -> None:
    """Median ms a latent frame of the streaming decoder, one 64x64 video, for each of `paths`."""
    codes = model.encode(torch.rand(1, 3, 41, 64, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1)
    times: dict[str, list[float]] = {name: [] for name in paths}
    try:
        with torch.no_grad():
            for round_ in range(6):
                for name in list(paths)[:: 1 if round_ % 2 == 0 else -1]:
                    CausalConv3d._convolve = paths[name]
                    decoder = model.streaming_decoder(bf16=bf16)
                    start = time.perf_counter()
                    for index in range(codes.shape[1]):
                        decoder.push(codes[:, index:index + 1])
                    if round_ >= 1:
                        times[name].append(1e3 * (time.perf_counter() - start) / codes.shape[1])
    finally:
        CausalConv3d._convolve = SHIPPED
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"streaming decoder{' (bf16 autocast)' if bf16 else ''}, ms a latent frame: conv3d {medians['conv3d']:.1f}, "
          f"shipped {medians['shipped']:.1f}; shipped {medians['conv3d'] / medians['shipped']:.2f}x")


if __name__ == "__main__":
    main()
