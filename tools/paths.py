"""Checks on output paths, made before any work starts."""

from __future__ import annotations

import os
from pathlib import Path

from arvid.data.video import WRITE_FORMATS
from arvid.tools.errors import UsageError


def check_writable(path: str | Path, *, suffixes: tuple[str, ...] | None = None) -> Path:
    """`path` as a Path if a file can be created there (and it ends in one of `suffixes`).

    Raises:
        UsageError: wrong extension, missing folder, no permission, or a folder in the way.
    """
    path = Path(path)
    if suffixes is not None and path.suffix.lower() not in suffixes:
        raise UsageError(f"output {str(path)!r} must end in one of {', '.join(suffixes)}")
    folder = path.parent
    if not folder.is_dir():
        raise UsageError(f"cannot write {str(path)!r}: folder {str(folder)!r} does not exist")
    if path.is_dir():
        raise UsageError(f"cannot write {str(path)!r}: it is a folder")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UsageError(f"cannot write {str(path)!r}: permission denied")
    return path


def check_video_output(path: str | Path) -> Path:
    """`check_writable` for a video file (.mp4 or .gif)."""
    return check_writable(path, suffixes=tuple(WRITE_FORMATS))
