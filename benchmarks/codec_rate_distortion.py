"""Where standard codecs sit at the natural tokenizer's bit rate: PSNR against bits per second of
libx264 (preset veryslow, tuned for PSNR) and AV1 (SVT-AV1, preset 2) over a sweep of their quality
settings, on the same clips and frames `arvid eval-tokenizer` scores.

    python benchmarks/codec_rate_distortion.py CLIP [CLIP ...] [--size 64] [--frames 65] [--psnr 25]

For each clip and codec it prints the PSNR at the rate of a 64,000-code tokenizer's codes on the
clip (interpolated in log rate between the sweep's points), and the bits per second the codec needs
for `--psnr` dB, as a multiple of that rate. What it answers: whether a PSNR target at the codes'
rate is within what a codec reaches at all (docs/results/tokenizer.md has the figures).

The codes' rate is `log2(64,000)` bits per latent cell of a 4x8x8-downsampling tokenizer (`1 + (t - 1) / 4`
latent frames of `h/8 x w/8`) over the clip's seconds at its own frame rate, as `eval-tokenizer`
counts it. Frames are read as `eval-tokenizer` reads them (short side scaled to --size, centre crop,
the first --frames). Bits are the coded packets' (headers in-stream, no container; not x264's text SEI of its
own settings, as `eval-tokenizer` counts them). PSNR is over the
whole clip, on uint8 RGB (`arvid.metrics.psnr`).
"""

from __future__ import annotations

import argparse
import math

import av
import torch

from arvid.data.video import probe_video
from arvid.metrics import psnr
from arvid.tokenizer.baselines import CodedClip, codec_round_trip, h264_at_rate_factor
from arvid.tokenizer.compare import code_bits_per_second
from arvid.tokenizer.model import usable_frames
from arvid.tokenizer.sizes import read_frames

CODES = 64_000  # the natural tokenizer's FSQ levels 8,8,8,5,5,5
TEMPORAL, SPATIAL = 4, 8
X264_RATE_FACTORS = range(20, 52, 2)
AV1_RATE_FACTORS = range(24, 64, 3)  # SVT-AV1's CRF runs to 63


def av1_round_trip(frames: list[av.VideoFrame], fps: float, rate_factor: int) -> CodedClip:
    """SVT-AV1 (preset 2) at constant rate factor `rate_factor`, decoded with dav1d."""
    encoder = av.CodecContext.create("libsvtav1", "w")
    encoder.options = {"preset": "2", "crf": str(rate_factor), "svtav1-params": "log-level=0"}
    return codec_round_trip(encoder, "libdav1d", frames, fps=fps, rate_factor=rate_factor)


def interpolate(points: list[tuple[float, float]], *, at_bits: float | None = None,
                at_psnr: float | None = None) -> float:
    """PSNR at `at_bits`, or bits at `at_psnr`, on a curve of (bits per second, PSNR) points,
    linear in log bits; nan outside the curve."""
    points = sorted(points)
    for (bits0, psnr0), (bits1, psnr1) in zip(points, points[1:]):
        if at_bits is not None and bits0 <= at_bits <= bits1:
            share = (math.log(at_bits) - math.log(bits0)) / (math.log(bits1) - math.log(bits0))
            return psnr0 + share * (psnr1 - psnr0)
        if at_psnr is not None and psnr0 <= at_psnr <= psnr1 and psnr1 > psnr0:
            share = (at_psnr - psnr0) / (psnr1 - psnr0)
            return math.exp(math.log(bits0) + share * (math.log(bits1) - math.log(bits0)))
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clips", nargs="+")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--frames", type=int, default=65)
    parser.add_argument("--psnr", type=float, default=25.0, help="the PSNR whose rate is asked (dB)")
    args = parser.parse_args()
    print(f"| codec | clip | codes' rate (bits/s) | PSNR at that rate | bits/s for {args.psnr:g} dB | that / codes' rate |")
    print("|---|---|---:|---:|---:|---:|")
    for path in args.clips:
        fps = probe_video(path, shown_size=False).fps
        clip = read_frames(path, (args.size, args.size), spatial_factor=SPATIAL, max_frames=args.frames)
        clip = clip[: usable_frames(len(clip), TEMPORAL)]
        cells = ((len(clip) - 1) // TEMPORAL + 1) * (args.size // SPATIAL) ** 2
        codes_rate = code_bits_per_second(CODES, cells, len(clip), fps)
        yuv = [av.VideoFrame.from_ndarray(frame, format="rgb24").reformat(format="yuv420p") for frame in clip]
        target = torch.from_numpy(clip)
        curves = {"H.264 (x264 veryslow, tune=psnr)": [], "AV1 (SVT-AV1 preset 2)": []}
        for factor in X264_RATE_FACTORS:
            coded = h264_at_rate_factor(yuv, fps=fps, rate_factor=factor)
            curves["H.264 (x264 veryslow, tune=psnr)"].append(
                (coded.bits_per_second, psnr(torch.from_numpy(coded.frames), target).item()))
        for factor in AV1_RATE_FACTORS:
            coded = av1_round_trip(yuv, fps, factor)
            curves["AV1 (SVT-AV1 preset 2)"].append(
                (coded.bits_per_second, psnr(torch.from_numpy(coded.frames), target).item()))
        for codec, points in curves.items():
            needed = interpolate(points, at_psnr=args.psnr)
            lowest = min(points)
            if math.isnan(needed) and lowest[1] > args.psnr:  # the codec's coarsest setting is already above it
                needed_text = f"< {lowest[0]:,.0f} (its lowest rate reads {lowest[1]:.2f} dB)"
                share_text = f"< {lowest[0] / codes_rate:.2f}"
            else:
                needed_text, share_text = f"{needed:,.0f}", f"{needed / codes_rate:.2f}"
            print(f"| {codec} | {path.rsplit('/', 1)[-1]} | {codes_rate:,.0f} | "
                  f"{interpolate(points, at_bits=codes_rate):.2f} | {needed_text} | {share_text} |", flush=True)


if __name__ == "__main__":
    main()
