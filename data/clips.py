"""What every training clip source is (`ClipSource`), and the files a folder or a text manifest of
videos and images names (`media_paths`). The sources: `arvid.data.folder_clips` (your own files),
`arvid.data.real_clips` (prepared manifests of shots and photographs).

A clip source yields uint8 clips (t h w c) drawn with a caller-given numpy Generator, so a trainer
that seeds the generator by step resumes on exactly the batches it would have seen.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Protocol

import numpy as np


class ClipSource(Protocol):
    """Training or evaluation clips of `frames` frames at `size`: `sample(rng)` -> uint8 (t h w c),
    drawn only from `rng`, so a trainer that seeds it by step resumes on the same batches."""

    frames: int
    size: int

    def sample(self, rng: np.random.Generator) -> np.ndarray: ...


class ReadingStopped(RuntimeError):
    """A process reading training data ended without a word: killed, most often for memory (the
    out-of-memory killer), while decoding a file. Raised by the reading that waited on it."""


def leave_stopping_to_the_main_process(*_worker: int) -> None:
    """Run first in a process that reads training data (a scan pool's or a DataLoader's worker; the
    latter passes its number): it ignores Ctrl-C and SIGTERM, which a terminal or a scheduler sends to
    every process of the run. The main process decides what a stop means (between training steps,
    `arvid.training.stopping`; while files are scanned, at once) and ends the workers; a worker's own
    KeyboardInterrupt would print its traceback, or break the pool into a `ReadingStopped`. A program
    of your own that reads with workers and may get SIGTERM should turn it into an exception (as the
    commands do, `arvid.tools.interrupts.sigterm_raises`), so that its cleanup ends them."""
    import signal

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)


# By suffix, case aside: what cameras, phones, players and FFmpeg write (MPEG transport streams from
# camcorders, MPEG-1/2 program streams, 3GPP, Flash, Windows Media, raw Y4M).
VIDEO_SUFFIXES = (".mp4", ".webm", ".mov", ".mkv", ".avi", ".gif", ".ogv", ".m4v", ".ts", ".mts", ".m2ts", ".mpg",
                  ".mpeg", ".3gp", ".flv", ".wmv", ".y4m")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


def is_image(path: Path) -> bool:
    """Whether `path` names a still image (by its suffix): read with PIL, not as a video."""
    return path.suffix.lower() in IMAGE_SUFFIXES


def _listed_path(line: str, manifest: Path, number: int) -> str:
    """The path a manifest line names: a JSON object's "path", else the line itself (a file named
    "{draft}.mp4" too)."""
    try:
        record = json.loads(line) if line.startswith("{") else None
    except ValueError:
        record = None
    if not isinstance(record, dict):
        return line
    path = record.get("path")
    if not isinstance(path, str) or not path:
        raise ValueError(f"{manifest}:{number}: expected a path, or a JSON object with a \"path\" string, got "
                         f"{line[:80]!r}")
    return path


def _broken_json(line: str) -> bool:
    """Whether a manifest line looks like a JSON object and does not parse (cut short, a quote missing)."""
    if not line.startswith("{"):
        return False
    try:
        json.loads(line)
    except ValueError:
        return True
    return False


def media_paths(source: str | Path) -> list[Path]:
    """Videos and images named by `source`: a folder (searched recursively, by suffix:
    `VIDEO_SUFFIXES`, `IMAGE_SUFFIXES`), one video or image file (by its suffix), or a text
    manifest of paths (one a line, relative to the manifest; blank lines and `#` comments skipped).
    A manifest line may also be a JSON object with a "path" (the captioned manifests of
    `arvid tokenize-dataset`): its other fields (caption, start, end) are not read here.

    Raises:
        FileNotFoundError: `source` or a listed file does not exist.
        ValueError: no video or image found, or a JSON line without a "path" string.
    """
    source = Path(source)
    if source.is_dir():
        suffixes = VIDEO_SUFFIXES + IMAGE_SUFFIXES
        paths = sorted(p for p in source.rglob("*") if p.suffix.lower() in suffixes and not p.is_dir())
    elif source.is_file() and source.suffix.lower() in VIDEO_SUFFIXES + IMAGE_SUFFIXES:
        paths = [source]
    elif source.is_file():
        try:
            lines = [line.strip() for line in source.read_text(encoding="utf-8").splitlines()]
        except UnicodeDecodeError as err:
            raise ValueError(f"manifest {str(source)!r} is not a text file of paths (byte {err.start} is not "
                             f"UTF-8; give a folder of videos, or a text file listing them; a video's suffix is one "
                             f"of {', '.join(VIDEO_SUFFIXES)})") from None
        # Lexically normalized ("lists/../clips/a.mp4" is "clips/a.mp4"): one file, one name, in the
        # records a run keeps (`files_train.json`, a shard's `videos.jsonl`) whichever manifest named it.
        listed = {number: Path(os.path.normpath(source.parent / _listed_path(line, source, number)))
                  for number, line in enumerate(lines, start=1) if line and not line.startswith("#")}
        for number, path in listed.items():
            if not path.is_file() and _broken_json(lines[number - 1]):
                raise ValueError(f"{source}:{number}: neither a JSON object with a \"path\" (it does not parse) nor "
                                 f"a file: {lines[number - 1][:80]!r}")
        paths = list(dict.fromkeys(listed.values()))  # once each: a captioned manifest names a file once a shot
        missing = [p for p in paths if not p.is_file()]
        if missing:
            what = "a folder, not a file" if missing[0].is_dir() else "missing file"
            raise FileNotFoundError(f"manifest {str(source)!r} lists {what} {str(missing[0])!r}")
    else:
        what = ("is a broken symbolic link" if source.is_symlink() else "does not exist" if not source.exists()
                else "is neither a folder nor a manifest file")
        raise FileNotFoundError(f"video source {str(source)!r} {what}")
    if not paths:
        raise ValueError(f"no videos ({', '.join(VIDEO_SUFFIXES)}) or images ({', '.join(IMAGE_SUFFIXES)}) "
                         f"found in {str(source)!r}")
    return paths
