"""Two baselines a tokenizer's reconstructions are measured against, on uint8 clips (t h w c):

- `bicubic_round_trip`: each frame shrunk to the tokenizer's latent grid and enlarged again, both
  bicubic. What a grid of that size carries in plain pixels (3 bytes per cell and frame, uncoded).
- `h264_round_trip`: libx264 (yuv420p, preset veryslow, tuned for PSNR) at the best quality that fits in a given
  bits per second, decoded again. What a standard codec does with the bits the tokenizer's codes take.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from fractions import Fraction
from typing import NamedTuple

import av
import numpy as np
from PIL import Image


class CodedClip(NamedTuple):
    """A clip through a codec: `frames` uint8 (t h w c), the bits per second its stream took (the
    coded packets, no container), the rate factor it was coded at (None: not coded at one), and the
    seconds spent encoding and decoding."""

    frames: np.ndarray
    bits_per_second: float
    rate_factor: float | None
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


def h264_round_trip(clip: np.ndarray, *, fps: float, bits_per_second: float, preset: str = "veryslow",
                    tune: str | None = "psnr") -> CodedClip:
    """Encode a uint8 clip (t h w c) with libx264 in yuv420p at the best quality whose stream fits in
    `bits_per_second`, and decode it again.

    The rate is met by a search over x264's constant rate factor (CRF, which x264 takes fractional:
    `RATE_FACTOR_STEPS` halvings of 0 to 51, each one encode), not by x264's average-bitrate mode: a
    one-pass average bitrate spends a short clip's bits badly and misses its target either way (on
    the natural tokenizer's held-out clips at 64x64 it read 2.3 dB below the CRF search at the
    same rate: docs/results/tokenizer.md). `preset` "veryslow" is x264's slowest preset but
    "placebo".

    `tune` "psnr" (default) turns off x264's tuning for the eye (psychovisual rate-distortion and
    adaptive quantisation), which spends bits where they raise PSNR least: the baseline is scored by
    PSNR and SSIM beside the tokenizer (None for x264's default).

    A small clip cannot go below some rate (every frame costs headers, and the rate factor stops at
    51): then the result is the stream at 51, over the target. `bits_per_second` of the result is what
    the stream took (SPS/PPS headers included; not x264's SEI of its own settings, `h264_coded_bytes`),
    `rate_factor` the CRF it was coded at, and `encode_s`
    the time of that one encode (the search's other encodes not counted).

    Raises:
        ValueError: an odd height or width (yuv420p halves both for chroma), `fps` or
            `bits_per_second` not > 0.
    """
    height, width = clip.shape[1:3]
    if height % 2 or width % 2:
        raise ValueError(f"H.264 in yuv420p needs an even height and width, got {height}x{width} (h x w)")
    if not fps > 0 or not bits_per_second > 0:
        raise ValueError(f"fps and bits_per_second must be > 0, got {fps} and {bits_per_second}")
    yuv = [av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24").reformat(format="yuv420p")
           for rgb in clip]
    best = h264_at_rate_factor(yuv, fps=fps, rate_factor=MAX_RATE_FACTOR, preset=preset, tune=tune)
    if best.bits_per_second > bits_per_second:
        return best  # the floor: no rate factor fits
    fits, over = MAX_RATE_FACTOR, 0.0  # the lowest rate factor known to fit; the highest known not to
    for _ in range(RATE_FACTOR_STEPS):
        middle = (fits + over) / 2
        coded = h264_at_rate_factor(yuv, fps=fps, rate_factor=middle, preset=preset, tune=tune)
        if coded.bits_per_second <= bits_per_second:
            fits, best = middle, coded
        else:
            over = middle
    return best


# x264's rate factors run from 0 (lossless) to 51; 8 halvings find the one that fits to 0.2 (about 2% of rate:
# the rate about halves every 6).
MAX_RATE_FACTOR = 51.0
RATE_FACTOR_STEPS = 8


def h264_at_rate_factor(frames: list[av.VideoFrame], *, fps: float, rate_factor: float, preset: str = "veryslow",
                        tune: str | None = "psnr") -> CodedClip:
    """Encode yuv420p frames (PyAV's, one per video frame) with libx264 at constant rate factor
    `rate_factor` (0 to 51, fractional allowed; lower is better quality) and decode them again."""
    encoder = av.CodecContext.create("libx264", "w")
    encoder.options = {"preset": preset, "crf": f"{rate_factor:.3f}", **({"tune": tune} if tune else {})}
    return codec_round_trip(encoder, "h264", frames, fps=fps, rate_factor=rate_factor, coded_bytes=h264_coded_bytes)


def h264_coded_bytes(packet: bytes) -> int:
    """The bytes of an H.264 packet (Annex B: NAL units after 00 00 01 start codes) a decoder needs:
    all but its SEI units (type 6). x264 writes its version and every setting as text in an SEI of
    about 635 bytes, which on a small clip was up to a third of the rate the tokenizer's codes take."""
    total, start = len(packet), packet.find(b"\x00\x00\x01")
    while start >= 0 and start + 3 < len(packet):
        end = packet.find(b"\x00\x00\x01", start + 3)
        if packet[start + 3] & 0x1F == 6:
            total -= (len(packet) if end < 0 else end) - start
        start = end
    return total


def codec_round_trip(encoder: av.CodecContext, decoder_name: str, frames: list[av.VideoFrame], *, fps: float,
                     rate_factor: float | None = None, coded_bytes: Callable[[bytes], int] = len) -> CodedClip:
    """Encode yuv420p frames at `fps` with `encoder` (a PyAV encoder with its options set; its size,
    pixel format and time base are set here) and decode the packets with the decoder named
    `decoder_name` -> a CodedClip (uint8 t h w c frames; bits per second of the packets, each counted
    as `coded_bytes` of its bytes; `rate_factor` recorded as given)."""
    rate = Fraction(fps).limit_denominator(1001)
    encoder.width, encoder.height, encoder.pix_fmt = frames[0].width, frames[0].height, "yuv420p"
    encoder.time_base, encoder.framerate = 1 / rate, rate
    start = time.perf_counter()
    packets = []
    for index, frame in enumerate(frames):
        frame.pts = index
        packets += encoder.encode(frame)
    packets += encoder.encode(None)
    encoded = time.perf_counter()
    decoder = av.CodecContext.create(decoder_name, "r")
    decoded = [frame.to_ndarray(format="rgb24") for packet in [*packets, None] for frame in decoder.decode(packet)]
    finished = time.perf_counter()
    if len(decoded) != len(frames):
        raise RuntimeError(f"{encoder.name} round trip gave {len(decoded)} frames for {len(frames)}")
    bits = 8 * sum(coded_bytes(bytes(packet)) for packet in packets)
    return CodedClip(np.stack(decoded), bits * float(rate) / len(frames), rate_factor, encoded - start,
                     finished - encoded)
