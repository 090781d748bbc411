"""Whole videos decoded once and kept in memory, for training sources that draw many clips from the
same few files: `read_video` decodes every file from its first frame, about 60-250 ms a clip on
this project's CPU, against a few milliseconds to cut a clip out of memory
(`python benchmarks/clip_decoding.py`).
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

import numpy as np

DEFAULT_CACHE_MB = 1024


def working_size(height: int, width: int, short_side: int) -> tuple[int, int]:
    """The (height, width) of a `height` x `width` frame scaled so its short side is `short_side`,
    aspect kept (rounded; never below `short_side`): the size a training source decodes a file at."""
    scale = short_side / min(height, width)
    return max(short_side, round(height * scale)), max(short_side, round(width * scale))


class DecodedVideos:
    """Videos decoded at one rate and size, kept up to `limit_mb` megabytes in this process; the least
    recently used goes first when a new one needs the room.

    `window` returns exactly what `read_video(path, fps=, size=, start_frame=, max_frames=)` returns,
    whether the file is kept or not: a file is decoded whole and kept when its length (`frames`, at
    `fps`) says it fits in `limit_mb`, else only the window is decoded, and that choice depends on the
    file alone. So what a source draws never depends on what this process decoded before, and data
    loader workers, each with its own memory, draw the same clips as the training process.
    A copy sent to another process (pickled) starts empty.
    """

    def __init__(self, limit_mb: float = DEFAULT_CACHE_MB) -> None:
        if not limit_mb >= 0:
            raise ValueError(f"cache size must be >= 0 megabytes, got {limit_mb!r}")
        self.limit_bytes = int(limit_mb * 2**20)
        self._videos: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self._bytes = 0

    def fits(self, frames: int, size: tuple[int, int]) -> bool:
        """Whether a video of `frames` frames of `size` (height, width) is kept whole."""
        return 0 < frames * size[0] * size[1] * 3 <= self.limit_bytes

    def put(self, path: str | os.PathLike, *, fps: float | None, size: tuple[int, int], video: np.ndarray) -> None:
        """Keep `video`, the whole of `path` decoded at `fps` and `size` (uint8 t h w c), if it fits."""
        if not self.fits(len(video), size):
            return
        key = (str(Path(path)), fps, size)
        if key in self._videos:
            self._bytes -= self._videos.pop(key).nbytes
        while self._videos and self._bytes + video.nbytes > self.limit_bytes:
            self._bytes -= self._videos.popitem(last=False)[1].nbytes
        self._videos[key] = video
        self._bytes += video.nbytes

    def window(self, path: str | os.PathLike, *, fps: float | None, size: tuple[int, int], start: int, count: int,
               frames: int) -> np.ndarray:
        """Frames [start, start + count) of `path` at `fps` (None: its own rate) and `size` ->
        uint8 (<= count, h, w, 3), fewer where the file ends first. `frames` is the file's length at
        `fps` (an estimate will do; 0 when unknown: the window alone is decoded). The array may be a
        view of what is kept: do not write to it.

        Raises:
            arvid.data.video.VideoReadError: as `read_video` (for a file kept whole, anywhere in it).
        """
        from arvid.data.video import read_video

        key = (str(Path(path)), fps, size)
        video = self._videos.get(key)
        if video is None:
            if not self.fits(frames, size):
                return read_video(path, fps=fps, size=size, start_frame=start, max_frames=count)
            video = read_video(path, fps=fps, size=size)
            self.put(path, fps=fps, size=size, video=video)
        else:
            self._videos.move_to_end(key)
        return video[start : start + count]

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_videos": OrderedDict(), "_bytes": 0}
