"""Frame sizes a tokenizer encodes at: a fixed `(height, width)`, or the video's own size.

A size is written `N` (N x N), `HxW`, or `native`: the video's own frames, center-cropped down to a
multiple of the tokenizer's spatial factor and never scaled. A fixed size is reached as
`arvid.data.video.read_video` does it: scale to cover, keeping the aspect ratio, then center-crop.
The encoder and decoder are convolutional, so any sides that are multiples of the spatial factor
work; the codes then have a latent grid of `(height / factor, width / factor)`.
"""

from __future__ import annotations

import os
from typing import Literal

import numpy as np

from arvid.data.video import read_video

NATIVE = "native"
FrameSize = tuple[int, int] | Literal["native"]


def parse_frame_size(text: str) -> FrameSize:
    """`"64"` -> (64, 64), `"48x80"` -> (48, 80) (height x width), `"native"` -> "native".

    Raises:
        ValueError: anything else, or a side that is not a positive integer.
    """
    cleaned = text.strip().lower()
    if cleaned == NATIVE:
        return NATIVE
    sides = cleaned.split("x")
    if len(sides) not in (1, 2) or not all(side.isdigit() and int(side) > 0 for side in sides):
        raise ValueError(f"expected N, HxW (positive integers) or native, got {text!r}")
    height, width = int(sides[0]), int(sides[-1])
    return height, width


def size_name(size: FrameSize) -> str:
    """The name a size is printed and stored under: "64x64" (height x width) or "native"."""
    return size if size == NATIVE else f"{size[0]}x{size[1]}"


def check_frame_size(size: FrameSize, spatial_factor: int) -> None:
    """Raise unless a tokenizer of this spatial factor takes frames of `size` ("native" always fits:
    it is cropped to a multiple when read).

    Raises:
        ValueError: a side is not a positive multiple of `spatial_factor`; the message names sizes that work.
    """
    if size == NATIVE:
        return
    height, width = size
    if height % spatial_factor or width % spatial_factor or min(height, width) < spatial_factor:
        examples = ", ".join(str(spatial_factor * k) for k in (1, 2, 8))
        raise ValueError(f"{size_name(size)} does not fit this tokenizer: both sides must be multiples of its spatial "
                         f"factor {spatial_factor} ({examples}, ...; HxW for two sides), or native")


def read_frames(path: str | os.PathLike, size: FrameSize, *, spatial_factor: int, max_frames: int | None = None,
                fps: float | None = None) -> np.ndarray:
    """Read a video file at `size` for a tokenizer of this spatial factor -> uint8 frames (t h w c).

    Raises:
        ValueError: `size` does not fit (see `check_frame_size`).
        arvid.data.video.VideoReadError: the file cannot be read, or (native) its frames are
            smaller than `spatial_factor`.
    """
    check_frame_size(size, spatial_factor)
    if size == NATIVE:
        return read_video(path, max_frames=max_frames, fps=fps, crop_to_multiple=spatial_factor)
    return read_video(path, size=size, max_frames=max_frames, fps=fps)
