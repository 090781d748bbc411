"""Captioned video sources for building LM datasets: a JSON-lines manifest.

Each source yields `(frames, record)`: uint8 frames (t h w c) and a `VideoRecord` with the captions.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from arvid.data.manifests import read_jsonl
from arvid.data.shards import VideoRecord


def read_manifest(path: str | Path) -> list[tuple[Path, str]]:
    """(video path, caption) pairs of a manifest: one JSON object a line with "path" (relative to the
    manifest) and "caption".

    Raises:
        FileNotFoundError: the manifest or a listed video is missing (names the line).
        ValueError: a line that is not such an object or not UTF-8 text, or no line at all (names the
            manifest and the line; `arvid.data.manifests.read_jsonl`).
    """
    return [(video, caption) for _, video, caption in _entries(Path(path))]


def _entries(path: Path) -> list[tuple[int, Path, str]]:
    """(line number, video path, caption) of each entry of a manifest; raises as `read_manifest`."""
    entries = []
    for number, record in read_jsonl(path, ("caption",)):
        if not isinstance(record["caption"], str):
            raise ValueError(f"{path}:{number}: the caption must be a string, got {record['caption']!r}"[:200])
        entries.append((number, record["path"], record["caption"]))
    return entries


def check_manifest_videos(path: str | Path, *, frames: int, size: int) -> None:
    """Read the first `frames` frames of every video of a manifest, keeping none, so that a video that
    cannot be read (or is too short) fails before any work rather than after the videos before it. It
    costs one more decode of those frames, small beside encoding them.

    Raises:
        FileNotFoundError, ValueError: as `read_manifest`; a video that cannot be read or is shorter
            than `frames` (names the manifest's line and the video).
    """
    from arvid.data.video import read_video

    for number, video, _ in _entries(Path(path)):
        try:
            clip = read_video(video, size=size, max_frames=frames)
        except ValueError as err:  # VideoReadError is a ValueError; it names the video
            raise ValueError(f"{path}:{number}: {err}") from None
        if len(clip) < frames:
            raise ValueError(f"{path}:{number}: {str(video)!r} has {len(clip)} frames; the dataset needs {frames}")


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
