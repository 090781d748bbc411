"""Training clips: random fixed-length clips from a set of video files.

A clip source yields uint8 clips (t h w c) drawn with a caller-given numpy Generator, so a trainer
that seeds the generator by step resumes on exactly the batches it would have seen.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np


class ClipSource(Protocol):
    """Training or evaluation clips of `frames` frames at `size`: `sample(rng)` -> uint8 (t h w c),
    drawn only from `rng`, so a trainer that seeds it by step resumes on the same batches."""

    frames: int
    size: int

    def sample(self, rng: np.random.Generator) -> np.ndarray: ...


VIDEO_SUFFIXES = (".mp4", ".webm", ".mov", ".mkv", ".avi", ".gif")


def video_paths(source: str | Path) -> list[Path]:
    """Videos named by `source`: a folder (searched recursively) or a text manifest of paths
    (one a line, relative to the manifest; blank lines and `#` comments skipped).

    Raises:
        FileNotFoundError: `source` or a listed file does not exist.
        ValueError: no video found.
    """
    source = Path(source)
    if source.is_dir():
        paths = sorted(p for p in source.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES)
    elif source.is_file():
        try:
            lines = [line.strip() for line in source.read_text(encoding="utf-8").splitlines()]
        except UnicodeDecodeError as err:
            raise ValueError(f"manifest {str(source)!r} is not a text file of paths (byte {err.start} is not "
                             "UTF-8; give a folder of videos, or a text file listing them)") from None
        paths = [source.parent / line for line in lines if line and not line.startswith("#")]
        missing = [p for p in paths if not p.is_file()]
        if missing:
            what = "a folder, not a file" if missing[0].is_dir() else "missing file"
            raise FileNotFoundError(f"manifest {str(source)!r} lists {what} {str(missing[0])!r}")
    else:
        broken = " (a broken symbolic link)" if source.is_symlink() else ""
        raise FileNotFoundError(f"video source {str(source)!r} is neither a folder nor a manifest file{broken}")
    if not paths:
        raise ValueError(f"no videos ({', '.join(VIDEO_SUFFIXES)}) found in {str(source)!r}")
    return paths


class FileClips:
    """Random clips from video files, resized and center-cropped to `size`. Files shorter than
    `frames` are skipped; if none is long enough, the first `sample` call says so.

    Every file's header is read and its first frame decoded when the source opens, so a file that
    is not a video, or whose frames are missing, fails then; one cut short later in its frames
    fails when a clip is drawn from there.

    Raises:
        FileNotFoundError, ValueError: as `video_paths`.
        arvid.data.video.VideoReadError: a file that cannot be read as a video (names it).
    """

    def __init__(self, source: str | Path, *, frames: int, size: int) -> None:
        from arvid.data.video import probe_video, read_video

        self.frames, self.size = frames, size
        self.paths = video_paths(source)
        self.lengths = [probe_video(p).frames for p in self.paths]
        for path in self.paths:
            read_video(path, max_frames=1)

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """-> uint8 (frames, size, size, 3)."""
        from arvid.data.video import read_video

        usable = [i for i, n in enumerate(self.lengths) if n >= self.frames]
        if not usable:
            raise ValueError(f"no video in the source has {self.frames} frames (longest: {max(self.lengths)})")
        index = usable[int(rng.integers(len(usable)))]
        start = int(rng.integers(self.lengths[index] - self.frames + 1))
        clip = read_video(self.paths[index], size=self.size, start_frame=start, max_frames=self.frames)
        if len(clip) < self.frames:  # frame counts from container headers can be estimates
            clip = read_video(self.paths[index], size=self.size, max_frames=self.frames)
        if len(clip) < self.frames:
            raise ValueError(f"{str(self.paths[index])!r} yields {len(clip)} frames, fewer than {self.frames}")
        return clip
