"""What reading a source's files found, and a JSON file that keeps it between runs, so that a
resumed training run does not decode every unchanged video again to find its shots.

    found = known_scans("run/files.json", paths, fps=8, short_side=96)   # {path: Scanned} still valid
    save_scans("run/files.json", scanned)                                # each under its file_stamp

An entry is valid while its file keeps its size and modification time and the reading its rate
and size (`fps`, `short_side`); files that could not be read are not kept (they are tried again).
A missing, unreadable or foreign index file is no error: everything is read again.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from arvid.data.manifests import Photo, Shot

# Of the file's layout and of what its entries mean: raise it when shots would be found otherwise
# (`arvid.data.cuts` changed), and every file is read again. 2: sizes are as shown, upright (a
# video's display rotation, a photograph's EXIF orientation), since 2026-12-07. 3: grey footage cut
# by brightness, files joined end to end read whole at a rate (2026-12-07, later).
VERSION = 3


@dataclass(frozen=True)
class Scanned:
    """What reading one file found: a video's shots (in frames at the training rate), an image, or
    why it could not be read (`problem`, naming the file)."""

    path: Path
    shots: tuple[Shot, ...] = ()
    photo: Photo | None = None
    problem: str | None = None
    stamp: dict | None = None  # `file_stamp` taken before the file was read (None: not kept)


def file_stamp(path: Path, fps: float | None, short_side: int) -> dict | None:
    """What must not have changed for an entry to hold: the file's size and time, the reading's
    settings (None for a file that cannot be looked at)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return {"bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns, "fps": fps, "short_side": short_side}


def known_scans(index: str | Path, paths: Sequence[Path], *, fps: float | None, short_side: int) -> dict[Path, Scanned]:
    """The entries of `index` for `paths` that still hold (see the module docstring) -> {path: Scanned}."""
    try:
        data = json.loads(Path(index).read_text(encoding="utf-8"))
        files = data["files"] if data.get("version") == VERSION else {}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):  # missing, unreadable or foreign: read again
        return {}
    found = {}
    for path in paths:
        entry = files.get(str(path)) if isinstance(files, dict) else None
        stamp = file_stamp(path, fps, short_side)
        try:
            if not isinstance(entry, dict) or stamp is None or entry.get("stamp") != stamp:
                continue
            if entry.get("photo") is not None:
                height, width = entry["photo"]
                found[path] = Scanned(path, photo=Photo(path=path, height=int(height), width=int(width)), stamp=stamp)
            else:
                found[path] = Scanned(path, shots=tuple(
                    Shot(path=path, start=int(start), end=int(end), height=int(height), width=int(width), fps=fps,
                         file_frames=int(file_frames)) for start, end, height, width, file_frames in entry["shots"]),
                    stamp=stamp)
        except (ValueError, TypeError, KeyError):  # a damaged entry: read again
            continue
    return found


def save_scans(index: str | Path, scanned: Sequence[Scanned]) -> None:
    """Write what `scanned` found (the readable files, under the stamps taken before each was read)
    to `index`, replacing it whole (a temporary file renamed over it: a stop midway leaves the old
    one or the new one)."""
    files = {}
    for found in scanned:
        if found.problem is not None or found.stamp is None:
            continue
        entry: dict = {"stamp": found.stamp}
        if found.photo is not None:
            entry["photo"] = [found.photo.height, found.photo.width]
        else:
            entry["shots"] = [[s.start, s.end, s.height, s.width, s.file_frames] for s in found.shots]
        files[str(found.path)] = entry
    index = Path(index)
    index.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=index.parent, prefix=index.name, suffix=".partial", delete=False,
                                     encoding="utf-8") as staging:
        try:
            staging.write(json.dumps({"version": VERSION, "files": files}) + "\n")
        except BaseException:  # Ctrl-C mid-write (saves come with each progress line now): no leftover
            staging.close()
            os.unlink(staging.name)
            raise
    try:
        os.replace(staging.name, index)
    except BaseException:
        Path(staging.name).unlink(missing_ok=True)
        raise
