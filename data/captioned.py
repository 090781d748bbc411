"""Captioned video sources for building LM datasets: a JSON-lines manifest.

Each source yields `(frames, record)`: uint8 frames (t h w c) and a `VideoRecord` with the captions.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from arvid.data.shards import VideoRecord


def read_manifest(path: str | Path) -> list[tuple[Path, str]]:
    """(video path, caption) pairs of a manifest: one JSON object a line with "path" (relative to the
    manifest) and "caption".

    Raises:
        FileNotFoundError: the manifest or a listed video is missing.
        ValueError: a line that is not such an object (names the line).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"manifest {str(path)!r} does not exist")
    entries = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            video, caption = path.parent / entry["path"], str(entry["caption"])
        except (json.JSONDecodeError, KeyError, TypeError):
            raise ValueError(f"{path}:{number}: expected {{\"path\": ..., \"caption\": ...}}, got {line[:80]!r}") from None
        if not video.is_file():
            raise FileNotFoundError(f"{path}:{number}: video {str(video)!r} does not exist")
        entries.append((video, caption))
    if not entries:
        raise ValueError(f"manifest {str(path)!r} lists no videos")
    return entries


def manifest_videos(path: str | Path, *, frames: int, size: int) -> Iterator[tuple[np.ndarray, VideoRecord]]:
    """The first `frames` frames of each manifest video, resized and centre-cropped to `size`.

    Raises:
        ValueError: a video shorter than `frames` (names it).
    """
    from arvid.data.video import read_video

    for video, caption in read_manifest(path):
        clip = read_video(video, size=size, max_frames=frames)
        if len(clip) < frames:
            raise ValueError(f"{str(video)!r} has {len(clip)} frames; the dataset needs {frames}")
        yield clip, VideoRecord((caption,))
