"""Two baselines a tokenizer's reconstructions are measured against, on uint8 clips (t h w c):

- `bicubic_round_trip`: each frame shrunk to the tokenizer's latent grid and enlarged again, both
  bicubic. What a grid of that size carries in plain pixels (3 bytes per cell and frame, uncoded).
- `h264_round_trip`: libx264 (yuv420p, average-bitrate rate control, tuned for PSNR) at a given bits per second,
  decoded again. What a standard codec does with the bits the tokenizer's codes take.
"""

from __future__ import annotations

import time
from fractions import Fraction
from typing import NamedTuple

import av
import numpy as np
from PIL import Image


class CodedClip(NamedTuple):
    """A clip through a codec: `frames` uint8 (t h w c), the bits per second its stream took (the
    coded packets, no container), the rate the encoder was asked for, and the seconds spent encoding
    and decoding."""

    frames: np.ndarray
    bits_per_second: float
    requested_bits_per_second: float
    encode_s: float
    decode_s: float


def bicubic_round_trip(clip: np.ndarray, factor: int) -> np.ndarray:
    """Shrink each frame of a uint8 clip (t h w c) by `factor` and enlarge it back, both bicubic
    -> uint8 (t h w c), the same shape. The thumbnail is rounded to uint8, as a stored one would be.

    Raises:
        ValueError: `factor` < 1, or a side that is not a multiple of it.
    """
    height, width = clip.shape[1:3]
    if factor < 1 or height % factor or width % factor:
        raise ValueError(f"expected sides that are multiples of {factor} (>= 1), got {height}x{width}")
    # PIL widens its bicubic filter by the scale when it shrinks (antialiased), as a thumbnail should be.
    small = (width // factor, height // factor)
    return np.stack([np.asarray(Image.fromarray(frame).resize(small, Image.Resampling.BICUBIC)
                                .resize((width, height), Image.Resampling.BICUBIC)) for frame in clip])


def h264_round_trip(clip: np.ndarray, *, fps: float, bits_per_second: float, preset: str = "medium",
                    tune: str | None = "psnr") -> CodedClip:
    """Encode a uint8 clip (t h w c) with libx264 in yuv420p at a target of `bits_per_second`
    (average-bitrate rate control, one pass) and decode it again.

    `tune` "psnr" (default) turns off x264's tuning for the eye (psychovisual rate-distortion and
    adaptive quantisation), which spends bits where they raise PSNR least: the baseline is scored by
    PSNR and SSIM beside the tokenizer (0.4 to 0.7 dB higher than x264's default on the held-out clips
    at 64x64: docs/results/tokenizer.md; None for that default).

    x264 takes its target in whole kbit/s (FFmpeg's libx264 wrapper divides by 1000), so the
    target is rounded to the nearest, at least 1 (`requested_bits_per_second`). It cannot go below
    some rate for a frame size (every frame costs headers, and the quantizer has a ceiling), and
    one-pass rate control misses on short clips either way: `bits_per_second` of the result is what
    the stream took, SPS/PPS headers included.

    Raises:
        ValueError: an odd height or width (yuv420p halves both for chroma), `fps` or
            `bits_per_second` not > 0.
    """
    frames, height, width = clip.shape[:3]
    if height % 2 or width % 2:
        raise ValueError(f"H.264 in yuv420p needs an even height and width, got {height}x{width} (h x w)")
    if not fps > 0 or not bits_per_second > 0:
        raise ValueError(f"fps and bits_per_second must be > 0, got {fps} and {bits_per_second}")
    rate = Fraction(fps).limit_denominator(1001)
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
    encoder.time_base, encoder.framerate = 1 / rate, rate
    requested = 1000 * max(1, round(bits_per_second / 1000))
    encoder.bit_rate = requested
    encoder.options = {"preset": preset, **({"tune": tune} if tune else {})}
    start = time.perf_counter()
    packets = []
    for index, rgb in enumerate(clip):
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24").reformat(format="yuv420p")
        frame.pts = index
        packets += encoder.encode(frame)
    packets += encoder.encode(None)
    encoded = time.perf_counter()
    decoder = av.CodecContext.create("h264", "r")
    decoded = [frame.to_ndarray(format="rgb24") for packet in [*packets, None] for frame in decoder.decode(packet)]
    finished = time.perf_counter()
    if len(decoded) != frames:
        raise RuntimeError(f"libx264 round trip gave {len(decoded)} frames for {frames}")
    bits = 8 * sum(packet.size for packet in packets)
    return CodedClip(np.stack(decoded), bits * float(rate) / frames, requested, encoded - start, finished - encoded)
