"""Still images at the I/O edge: frame strips for previews and PNG files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def evenly_spaced(frames: int, count: int) -> list[int]:
    """Indices of up to `count` of `frames` frames, evenly spaced, first and last included."""
    return sorted({round(i) for i in np.linspace(0, frames - 1, min(frames, count))})


def frame_strip(rows: list[np.ndarray], frame_indices: list[int] | None = None, gap: int = 2) -> np.ndarray:
    """Tile videos as rows of frames: each row a uint8 video (t h w c) -> one uint8 image (H W c).

    `frame_indices` picks the frames shown (default: up to 8 evenly spaced); a white gap of `gap`
    pixels separates tiles.
    """
    frames = rows[0].shape[0]
    if frame_indices is None:
        frame_indices = evenly_spaced(frames, 8)
    h, w, c = rows[0].shape[1:]
    image = np.full((len(rows) * (h + gap) - gap, len(frame_indices) * (w + gap) - gap, c), 255, np.uint8)
    for r, video in enumerate(rows):
        for col, index in enumerate(frame_indices):
            image[r * (h + gap): r * (h + gap) + h, col * (w + gap): col * (w + gap) + w] = video[index]
    return image


def save_png(path: str | Path, image: np.ndarray) -> None:
    """Write a uint8 image (H W 3) as PNG, creating the parent folder."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)
