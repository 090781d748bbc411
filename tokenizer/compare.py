"""The tokenizer against two baselines on one clip: three rows, scored the same way.

- `arvid`: the tokenizer's round trip, at `log2(codebook size) x t' x h' x w'` bits for the clip.
- `bicubic`: each frame shrunk to the same latent grid and enlarged again (`baselines.bicubic_round_trip`).
- `h264`: libx264 tuned for PSNR at the best quality that fits in the tokenizer's bits per second
  (`baselines.h264_round_trip`), with the rate it took beside the target and the rate factor it was coded at.

Every row's PSNR, SSIM and detail ratio (sharpness) is `evaluate.score` of its uint8 frames against
the same clip (cut to its longest `1 + temporal_factor k` prefix, the frames the tokenizer takes). A
figure that does not apply to a method (or a flat clip's detail ratio) is None.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from arvid.tokenizer.baselines import bicubic_round_trip, h264_round_trip
from arvid.tokenizer.evaluate import reconstruct, score, summarize
from arvid.tokenizer.model import usable_frames
from arvid.tokenizer.model import VideoTokenizer

METHODS = ("arvid", "bicubic", "h264")
# The figures of a row, in the order they are stored and printed.
FIGURES = ("psnr", "ssim", "detail", "bits_per_second", "target_bits_per_second", "rate_factor",
           "codebook_usage", "codebook_perplexity", "encode_fps", "decode_fps")


class Comparison(NamedTuple):
    """One clip through the three methods: `rows` (method -> figure -> value or None), `frames`
    (method -> uint8 t h w c, plus "original": the clip as scored) and the clip's `latent_shape` (t', h', w')."""

    rows: dict[str, dict[str, float | None]]
    frames: dict[str, np.ndarray]
    latent_shape: tuple[int, int, int]


def code_bits_per_second(codebook_size: int, latent_cells: int, frames: int, fps: float) -> float:
    """Bits per second of a clip's codes: `log2(codebook_size)` bits per latent cell, over `frames / fps` seconds."""
    return math.log2(codebook_size) * latent_cells * fps / frames


def compare(model: VideoTokenizer, clip: np.ndarray, *, fps: float) -> Comparison:
    """Run a uint8 clip (t h w c) through the tokenizer, the bicubic thumbnail at its latent grid
    and H.264 at its bits per second; `fps` is the clip's frame rate (what turns bits into bits
    per second).

    Raises:
        ValueError: the clip's sides do not fit the tokenizer, or are odd (H.264 in yuv420p).
    """
    clip = clip[: usable_frames(len(clip), model.config.temporal_factor)]
    was_training = model.training
    model.eval()
    tokenized = reconstruct(model, clip)
    model.train(was_training)
    summary = summarize(model, [clip], [tokenized])
    bits_per_second = code_bits_per_second(model.codebook_size, tokenized.codes.numel(), len(clip), fps)
    thumbnail = bicubic_round_trip(clip, model.config.spatial_factor)
    h264 = h264_round_trip(clip, fps=fps, bits_per_second=bits_per_second)
    rows = {
        "arvid": {"psnr": tokenized.psnr, "ssim": tokenized.ssim, "detail": tokenized.detail,
                  "bits_per_second": bits_per_second,
                  **{key: summary[key] for key in ("codebook_usage", "codebook_perplexity", "encode_fps", "decode_fps")}},
        "bicubic": score(thumbnail, clip)._asdict(),
        "h264": {**score(h264.frames, clip)._asdict(), "bits_per_second": h264.bits_per_second,
                 "target_bits_per_second": bits_per_second,
                 "rate_factor": h264.rate_factor, "encode_fps": len(clip) / h264.encode_s,
                 "decode_fps": len(clip) / h264.decode_s},
    }
    rows = {method: {figure: row.get(figure) for figure in FIGURES} for method, row in rows.items()}
    frames = {"original": clip, "arvid": tokenized.frames, "bicubic": thumbnail, "h264": h264.frames}
    return Comparison(rows, frames, tuple(tokenized.codes.shape))


def mean_rows(comparisons: list[dict[str, dict[str, float | None]]]) -> dict[str, dict[str, float | None]]:
    """The mean over clips of each method's figures (None where a figure does not apply), from
    `Comparison.rows` of each clip. A mean of per-clip figures: codebook usage here is the mean of
    each clip's usage, not the usage over all clips' codes."""
    means = {}
    for method in METHODS:
        means[method] = {}
        for figure in FIGURES:
            values = [rows[method][figure] for rows in comparisons if rows[method][figure] is not None]
            means[method][figure] = float(np.mean(values)) if values else None
    return means
