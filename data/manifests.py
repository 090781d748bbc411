"""The JSON-lines manifests of real footage and photographs that `scripts/fetch_real_data.py` writes,
and the reader every JSON-lines manifest of arvid shares (the captioned videos of
`arvid.data.captioned` too).

A manifest holds one JSON object a line; `path` is relative to the manifest's folder.

    videos: {"path", "start", "end", "width", "height", "fps"?, ...}: frames [start, end) of one shot of a file
    images: {"path", "width", "height", ...}: one photograph
"""

from __future__ import annotations

import codecs
import dataclasses
import hashlib
import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar


@dataclass(frozen=True, kw_only=True)
class Shot:
    """Frames [start, end) of the video at `path`, one shot (no hard cut inside); `height` and
    `width` are the file's frame size. `fps` is the rate the frames are counted at (None: the
    file's own, not known), `file_frames` the file's length at that rate (0: not known)."""

    path: Path
    start: int
    end: int
    height: int
    width: int
    fps: float | None = None
    file_frames: int = 0


@dataclass(frozen=True, kw_only=True)
class Photo:
    """One still image at `path`, `height` x `width` pixels."""

    path: Path
    height: int
    width: int


T = TypeVar("T")
# How many of a manifest's bad lines one error quotes (the rest are counted).
SHOWN_PROBLEMS = 3


def read_jsonl(manifest: str | Path, required: Sequence[str], *, missing_hint: str = "",
               convert: Callable[[dict, str], T] | None = None) -> list[tuple[int, T]]:
    """The records of a JSON-lines manifest -> [(line number, record)], each record the line's
    object with its `path` made absolute (relative paths are relative to the manifest's folder), or
    what `convert(record, "MANIFEST:LINE")` makes of it (a ValueError from it is the line's problem).
    Blank lines and a UTF-8 byte-order mark are skipped; messages name a line as "MANIFEST:LINE" (and
    end a missing key's with `missing_hint`).

    Every line is read before anything is raised, and one error names each line that cannot be used
    (the first `SHOWN_PROBLEMS`, and how many more), so that a long manifest is mended in one pass.

    Raises:
        FileNotFoundError: the manifest is missing or a folder; or the lines that cannot be used all
            list a missing file (or folder).
        ValueError: lines that are not UTF-8 text, not a JSON object with `path` and the `required`
            keys, or refused by `convert` (and any missing files beside them); or no record at all.
    """
    manifest = Path(manifest)
    if not manifest.is_file():
        what = ("is a broken symbolic link" if manifest.is_symlink() and not manifest.exists()
                else "is a folder, not a file" if manifest.is_dir() else "does not exist")
        raise FileNotFoundError(f"manifest {str(manifest)!r} {what}")
    records, problems = [], []
    lines = manifest.read_bytes().removeprefix(codecs.BOM_UTF8).splitlines()
    for number, raw in enumerate(lines, start=1):
        where = f"{manifest}:{number}"
        try:
            record = _manifest_record(raw, where, manifest.parent, ("path", *required), missing_hint)
            if record is not None:
                records.append((number, record if convert is None else convert(record, where)))
        except (ValueError, FileNotFoundError) as err:
            problems.append(err)
    if problems:
        raise _line_problems(problems, len(records) + len(problems))
    if not records:
        raise ValueError(f"manifest {str(manifest)!r} lists nothing")
    return records


def _manifest_record(raw: bytes, where: str, folder: Path, keys: Sequence[str], missing_hint: str) -> dict | None:
    """One manifest line as its object with an absolute `path` (None: a blank line); raises what is wrong with it."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(f"{where}: not UTF-8 text (byte {err.start} of the line)") from None
    if not line.strip():
        return None
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        array = " (a manifest is JSON lines: one object a line, not a JSON array)" if line.strip() in ("[", "]") or (
            line.lstrip().startswith("[") and line.rstrip().endswith("]")) else ""
        raise ValueError(f"{where}: not JSON ({err.msg}), expected an object with {', '.join(keys)}{array}") from None
    if not isinstance(record, dict):
        array = " (a manifest is JSON lines: one object a line, not a JSON array)" if isinstance(record, list) else ""
        raise ValueError(f"{where}: expected a JSON object with {', '.join(keys)}, got {line[:80]!r}{array}")
    missing = [key for key in keys if key not in record]
    if missing:
        raise ValueError(f"{where}: missing {', '.join(missing)}{missing_hint}")
    if not isinstance(record["path"], str):
        raise ValueError(f"{where}: path must be a string, got {record['path']!r}"[:200])
    record["path"] = Path(os.path.normpath(folder / record["path"]))  # one file, one name (`media_paths`)
    if not record["path"].is_file():
        what = "a folder, not a file" if record["path"].is_dir() else "missing file"
        raise FileNotFoundError(f"{where}: lists {what} {str(record['path'])!r}")
    return record


def _line_problems(problems: list[Exception], lines: int) -> Exception:
    """One error for a manifest's bad lines: the only one as it is, or "N of M lines cannot be used: ..."
    quoting the first `SHOWN_PROBLEMS` (a FileNotFoundError where every one is a missing file)."""
    if len(problems) == 1:
        return problems[0]
    shown = "; ".join(str(problem) for problem in problems[:SHOWN_PROBLEMS])
    more = f" (and {len(problems) - SHOWN_PROBLEMS} more)" if len(problems) > SHOWN_PROBLEMS else ""
    kind = FileNotFoundError if all(isinstance(problem, FileNotFoundError) for problem in problems) else ValueError
    return kind(f"{len(problems)} of {lines} lines cannot be used: {shown}{more}")  # blank lines not counted


def positive_int(record: dict, key: str, where: str, minimum: int = 1) -> int:
    """`record[key]` checked to be an int >= `minimum` (not a bool); a ValueError names `where` and the key."""
    value = record[key]
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{where}: {key} must be an int >= {minimum}, got {value!r}")
    return value


# Why a list of your own files can be read as a prepared manifest: its name.
PREPARED_HINT = (" (a file named ..._videos.jsonl or ..._images.jsonl is read as a prepared manifest of shots or "
                 "photographs, as scripts/fetch_real_data.py writes; a list of your own files is a folder or a "
                 "manifest named otherwise)")


def read_shots(manifest: str | Path) -> list[Shot]:
    """The shots a video manifest lists, in the frames of each file's own rate. Raises as
    `read_jsonl` (a bad range is a line's problem)."""
    return [shot for _, shot in read_jsonl(manifest, ("start", "end", "width", "height"), missing_hint=PREPARED_HINT,
                                           convert=_shot)]


def _shot(record: dict, where: str) -> Shot:
    start = positive_int(record, "start", where, minimum=0)
    end = positive_int(record, "end", where)
    if end <= start:
        raise ValueError(f"{where}: end ({end}) must be > start ({start})")
    rate = frame_rate_or_none(record.get("fps"))  # optional: the file's own rate
    return Shot(path=record["path"], start=start, end=end, fps=rate,
                height=positive_int(record, "height", where), width=positive_int(record, "width", where))


def frame_rate_or_none(value) -> float | None:
    """A recorded frame rate (a JSON value) as a float: a number > 0 and finite, else None."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < math.inf:
        return float(value)
    return None


def range_at_rate(start: int, end: int | None, rate: float, fps: float) -> tuple[int, int | None]:
    """Frames `[start, end)` of a file at its own `rate` as frames at `fps` (`end` None: to the
    file's end). Frame k at `fps` shows the source frame nearest to time k / fps
    (`arvid.data.video.read_video`), so the frames k with start <= k * rate / fps <= end - 1 all
    show frames of the range; the result may be empty (end <= start)."""
    factor = fps / rate
    return math.ceil(start * factor), None if end is None else math.floor((end - 1) * factor) + 1


def shots_at_rate(shots: Sequence[Shot], fps: float) -> list[Shot]:
    """`shots`, their frames counted at their files' own rates, as frames at `fps`. Frame k at `fps`
    shows the source frame nearest to time k / fps (`arvid.data.video.read_video`), so the frames
    k with start <= k * rate / fps <= end - 1 all show frames of the shot. A shot's rate is its
    `fps`, or its file's header's where it has none; shots left with no frame are dropped.

    Raises:
        arvid.data.video.VideoReadError: a shot without `fps` whose file's header gives no rate.
    """
    from arvid.data.video import VideoReadError, probe_video

    header_rates: dict[Path, float] = {}
    mapped = []
    for shot in shots:
        rate = shot.fps
        if rate is None:
            if shot.path not in header_rates:
                header_rates[shot.path] = probe_video(shot.path, shown_size=False).fps
            rate = header_rates[shot.path]
            if not rate > 0:
                raise VideoReadError(f"{shot.path}: the header gives no frame rate, so its shots cannot be resampled")
        start, end = range_at_rate(shot.start, shot.end, rate, fps)
        if end > start:
            mapped.append(dataclasses.replace(shot, start=start, end=end, fps=fps))
    return mapped


def read_photos(manifest: str | Path) -> list[Photo]:
    """The photographs an image manifest lists. Raises as `read_jsonl`."""
    def photo(record: dict, where: str) -> Photo:
        return Photo(path=record["path"], height=positive_int(record, "height", where),
                     width=positive_int(record, "width", where))

    return [item for _, item in read_jsonl(manifest, ("width", "height"), missing_hint=PREPARED_HINT, convert=photo)]


def name_hash(name: str, *, seed: int = 0) -> int:
    """A seeded 64-bit hash of `name`, the same on every machine and Python run."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{name}".encode()).digest()[:8], "big")


def split_by_name(records: Sequence[dict], *, fraction: float, seed: int = 0, key: str = "name",
                  stratum: str | None = None) -> tuple[list[dict], list[dict]]:
    """-> (train, heldout), order kept: within each stratum (the records with one `record[stratum]`;
    all records when None), the `round(fraction * names)` distinct names with the smallest
    `name_hash` are held out, so every stratum gives its share. Records that share a name
    (variants of one picture) land on the same side.

    Raises:
        ValueError: `fraction` outside [0, 1].
    """
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction must be in [0, 1], got {fraction!r}")
    strata: dict[object, set[str]] = {}
    for record in records:
        strata.setdefault(record[stratum] if stratum else None, set()).add(record[key])
    heldout_names = set()
    for names in strata.values():
        ranked = sorted(names, key=lambda name: (name_hash(name, seed=seed), name))
        heldout_names.update(ranked[: round(fraction * len(ranked))])
    train = [record for record in records if record[key] not in heldout_names]
    heldout = [record for record in records if record[key] in heldout_names]
    return train, heldout


