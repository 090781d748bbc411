"""Arrays of video frames at the I/O edge: `uint8` RGB, a video `(t, h, w, 3)`, a frame `(h, w, 3)`."""

from __future__ import annotations

import numpy as np


def check_frames(frames: np.ndarray, expected_ndim: int = 4, name: str = "video") -> np.ndarray:
    """`frames` as an array if it is uint8 RGB: a video (t h w 3) for `expected_ndim` 4, a frame
    (h w 3) for 3, with no empty axis; else a ValueError naming `name` and the layout expected."""
    frames = np.asarray(frames)
    layout = "(t, h, w, 3)" if expected_ndim == 4 else "(h, w, 3)"
    if frames.dtype != np.uint8:
        raise ValueError(f"{name} must be uint8 {layout}, got dtype {frames.dtype}")
    if frames.ndim != expected_ndim or frames.shape[-1] != 3 or 0 in frames.shape:
        raise ValueError(
            f"{name} must be uint8 {layout} with no empty axis, got shape {frames.shape}"
        )
    return frames
