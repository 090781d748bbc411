"""Encoding captioned videos into token shards with a trained tokenizer (`arvid tokenize-dataset`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from arvid.configs import to_dict
from arvid.data.shards import VideoRecord, write_shards
from arvid.training.precision import check_precision, mixed_precision
from arvid.tokenizer.model import VideoTokenizer, frames_to_video


def encode_videos(tokenizer: VideoTokenizer, videos: Iterable[tuple[np.ndarray, VideoRecord]], *,
                  batch_size: int = 8, precision: str = "fp32") -> Iterator[tuple[np.ndarray, VideoRecord]]:
    """(frames (t h w c) uint8, record) -> (codes (t' h' w') uint16, record), encoding `batch_size` at a time.

    `precision` is the trainers' (`arvid.training.precision.PRECISIONS`): "auto" encodes under bf16
    autocast on CUDA and on CPUs with native bf16, which on this project's CPU takes about half the
    time and gives about 98% of codes as in float32 (a code near a quantization boundary may round
    the other way)."""
    device = next(tokenizer.parameters()).device
    autocast = mixed_precision(device, precision)
    videos = iter(videos)
    while batch := list(islice(videos, batch_size)):
        clips = torch.cat([frames_to_video(frames) for frames, _ in batch]).to(device)
        with autocast:
            codes = tokenizer.encode(clips)
        codes = codes.cpu().numpy().astype(np.uint16)
        yield from zip(codes, (record for _, record in batch))


def tokenize_dataset(tokenizer: VideoTokenizer, videos: Iterable[tuple[np.ndarray, VideoRecord]], out: str | Path, *,
                     count: int, frames: int, ends: bool, batch_size: int = 8, precision: str = "fp32",
                     fps: float | None = None, tokenizer_name: str | None = None) -> Path:
    """Encode `count` videos of `frames` frames each into a shard folder at `out` (see `arvid.data.shards`).

    `precision`: see `encode_videos`; `fps` (the rate the videos were read at) and `tokenizer_name` (how
    to load `tokenizer` again: a shipped name or a folder; default: `tokenizer.source`, where
    `from_pretrained` loaded it) are recorded in the shards' meta.json, as is the tokenizer's
    `codes_fingerprint`. An LM trained on the shards keeps them (`arvid generate` writes at `fps`).

    Raises:
        ValueError: `precision` is not one of `arvid.training.precision.PRECISIONS`, or `frames` is not a
            length the tokenizer accepts (1 + 4k by default).
    """
    check_precision(precision)  # here, before any work: encode_videos is lazy
    size = tokenizer.config.image_size
    grid = tokenizer.latent_shape(frames, size, size)
    encoded = encode_videos(tokenizer, videos, batch_size=batch_size, precision=precision)
    progress = tqdm(encoded, total=count, desc="tokenize", unit="video", dynamic_ncols=True)
    return write_shards(out, progress, count=count, grid=grid, codebook_size=tokenizer.codebook_size,
                        tokenizer_config=to_dict(tokenizer.config), ends=ends, fps=fps,
                        tokenizer_name=tokenizer_name or tokenizer.source, tokenizer_codes=tokenizer.codes_fingerprint())
