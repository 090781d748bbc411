"""Captioned video sources for building LM datasets: a JSON-lines manifest.

Each line is an object with "path" (relative to the manifest) and "caption", and optionally "start"
and "end": a shot's frames `[start, end)` of the file at its own rate (as `scripts/fetch_real_data.py`'s
manifests give them), so that a long video with cuts yields one training clip per shot. Each source
yields `(frames, record)`: uint8 frames (t h w c) read at the dataset's frame rate and a
`VideoRecord` with the caption.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import NamedTuple
from pathlib import Path

import numpy as np

from arvid.data.manifests import positive_int, range_at_rate, read_jsonl
from arvid.data.shards import VideoRecord


@dataclasses.dataclass(frozen=True)
class CaptionedVideo:
    """One manifest line: `video`, its `caption`, and the shot `[start, end)` in the file's own
    frames (None: from its first frame / to its last). `where` names the line ("MANIFEST:LINE")."""

    where: str
    video: Path
    caption: str
    start: int | None = None
    end: int | None = None


def read_manifest(path: str | Path) -> list[tuple[Path, str]]:
    """(video path, caption) pairs of a manifest (see the module's docstring).

    Raises:
        FileNotFoundError: the manifest is missing, or the lines that cannot be used all list a
            missing video (names each line).
        ValueError: lines that are not such an object or not UTF-8 text, or have a bad "start"/"end"
            (names each line, and any missing video beside them), or no line at all
            (`arvid.data.manifests.read_jsonl`).
    """
    return [(entry.video, entry.caption) for entry in captioned_videos(path)]


def captioned_videos(path: str | Path) -> list[CaptionedVideo]:
    """Every line of a manifest as a `CaptionedVideo`; raises as `read_manifest`, one error naming
    every line that cannot be used (`arvid.data.manifests.read_jsonl`)."""
    def entry(record: dict, where: str) -> CaptionedVideo:
        if not isinstance(record["caption"], str):
            raise ValueError(f"{where}: the caption must be a string, got {record['caption']!r}"[:200])
        start = positive_int(record, "start", where, minimum=0) if "start" in record else None
        end = positive_int(record, "end", where) if "end" in record else None
        if start is not None and end is not None and end <= start:
            raise ValueError(f"{where}: end ({end}) must be after start ({start})")
        return CaptionedVideo(where, record["path"], record["caption"], start, end)

    return [item for _, item in read_jsonl(path, ("caption",), convert=entry)]


def manifest_part(entries: list[CaptionedVideo], part: tuple[int, int] | None) -> list[CaptionedVideo]:
    """Part `part` = (i, n) of a manifest's entries: the i-th (1 to n) of n contiguous blocks of
    nearly equal size, so that n runs (one a GPU, or one after another) encode a dataset between
    them; None: every entry.

    Raises:
        ValueError: not 1 <= i <= n, or more parts than entries (a part would hold none).
    """
    if part is None:
        return entries
    index, parts = part
    if not 1 <= index <= parts:
        raise ValueError(f"part {index}/{parts}: expected I/N with 1 <= I <= N")
    if parts > len(entries):
        raise ValueError(f"{parts} parts of a manifest of {len(entries)} videos: a part would hold none")
    return entries[(index - 1) * len(entries) // parts:index * len(entries) // parts]


def _read_clip(entry: CaptionedVideo, *, frames: int, size: int, fps: float | None) -> np.ndarray:
    """The first `frames` frames of an entry's shot at `fps` (None: the file's own rate), resized
    and centre-cropped to `size`. A shot's range, in the file's own frames, becomes times and then
    frames at `fps`."""
    from arvid.data.video import probe_video, read_video

    start, end = entry.start or 0, entry.end
    info = probe_video(entry.video, shown_size=False) if start or (fps is not None and end is not None) else None
    if start and info.frames and start >= info.frames:  # said in the manifest's own units, the file's frames
        raise ValueError(f"{entry.where}: start {start} is past the end of {str(entry.video)!r} ({info.frames} frames)")
    if fps is not None and info is not None:
        own = info.fps
        if not own:
            raise ValueError(f"{entry.where}: {str(entry.video)!r} states no frame rate, so its start and end "
                             f"cannot be read at {fps:g} fps")
        start, end = range_at_rate(start, end, own, fps)
        if end is not None and end <= start:
            raise ValueError(f"{entry.where}: the shot [{entry.start}, {entry.end}) holds no frame at {fps:g} fps")
    return read_video(entry.video, size=size, fps=fps, start_frame=start, end_frame=end, max_frames=frames)


class ManifestCheck(NamedTuple):
    """What reading every clip of a captioned manifest found (`check_manifest_videos`)."""

    cuts: list[tuple[str, int]]  # (line, frame of the clip) of the first hard cut inside each clip
    longer: list[str]  # the lines whose video or shot holds more frames than the clip takes


def check_manifest_videos(path: str | Path, *, frames: int, size: int, fps: float | None = None,
                          progress: Callable[[int, int], None] | None = None,
                          part: tuple[int, int] | None = None) -> ManifestCheck:
    """Read every manifest video's clip (its first `frames` frames at `fps`), keeping none, so that a
    video that cannot be read (or is too short) fails before any work rather than after the videos
    before it; every line is read, and the error names each line that cannot be used (a long
    manifest is fixed in one pass). Returns the hard cuts inside the clips (`arvid.data.cuts.hard_cuts`:
    a clip spanning two shots teaches an LM to cut) and the lines whose video holds more than
    `frames` frames (the clip takes the first ones). `progress(done, total)` is called after each
    video: this pass decodes every clip once more than encoding does. `part`: only that part's videos
    (`manifest_part`).

    Raises:
        FileNotFoundError, ValueError: as `read_manifest`; a bad `part`; videos that cannot be read
            or are shorter than `frames` (one line naming each manifest line and its video, the
            first few in full).
    """
    from arvid.data.clips import is_image
    from arvid.data.cuts import hard_cuts

    entries, cuts, longer, problems = manifest_part(captioned_videos(path), part), [], [], []
    for done, entry in enumerate(entries, start=1):
        try:
            clip = _read_clip(entry, frames=frames + 1, size=size, fps=fps)  # one more: is there more?
        except ValueError as err:  # VideoReadError is a ValueError; it names the video
            problems.append(str(err) if str(err).startswith(entry.where) else f"{entry.where}: {err}")
            clip = None
        if clip is not None and len(clip) < frames:
            shot = "" if entry.start is None and entry.end is None else " in its shot"
            what = ("is a still image (1 frame)" if is_image(entry.video) else
                    f"has {len(clip)} frames{shot}{'' if fps is None else f' at {fps:g} fps'}")
            problems.append(f"{entry.where}: {str(entry.video)!r} {what}; the dataset needs {frames}")
        elif clip is not None:
            longer += [entry.where] if len(clip) > frames else []
            cuts += [(entry.where, cut) for cut in hard_cuts(clip[:frames])[:1]]
        if progress is not None and not problems:  # after a problem, the error line says the rest
            progress(done, len(entries))
    if problems:
        shown = "; ".join(problems[:3])
        more = f" (and {len(problems) - 3} more lines)" if len(problems) > 3 else ""
        raise ValueError(shown + more if len(problems) == 1 else
                         f"{len(problems)} of {len(entries)} videos cannot be used: {shown}{more}")
    return ManifestCheck(cuts, longer)


def manifest_rates(path: str | Path) -> set[float]:
    """The frame rates a manifest's videos state (each file once; 0.0 for a file that states none).

    Raises:
        FileNotFoundError, ValueError: as `read_manifest`; a video that cannot be probed.
    """
    from arvid.data.video import probe_video

    videos = dict.fromkeys(entry.video for entry in captioned_videos(path))
    return {round(probe_video(video, shown_size=False).fps, 3) for video in videos}


def manifest_videos(path: str | Path, *, frames: int, size: int, fps: float | None = None,
                    part: tuple[int, int] | None = None) -> Iterator[tuple[np.ndarray, VideoRecord]]:
    """The first `frames` frames of each manifest video's shot at `fps` (None: each file's own
    rate), resized and centre-cropped to `size` -> (frames (t h w c) uint8, record); `part`: only
    that part's videos (`manifest_part`).

    Raises:
        ValueError: a video shorter than `frames` (names it); a bad `part`.
    """
    for entry in manifest_part(captioned_videos(path), part):
        clip = _read_clip(entry, frames=frames, size=size, fps=fps)
        if len(clip) < frames:
            raise ValueError(f"{str(entry.video)!r} has {len(clip)} frames; the dataset needs {frames}")
        yield clip, VideoRecord((entry.caption,), source={"path": str(entry.video.absolute()), "start": entry.start,
                                                          "end": entry.end})
