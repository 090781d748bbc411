"""Checks on output paths, made before any work starts."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable
from itertools import count
from pathlib import Path
from typing import BinaryIO

from arvid.data.video_writer import WRITE_FORMATS
from arvid.tools.errors import UsageError


def check_writable(path: str | Path, *, suffixes: tuple[str, ...] | None = None) -> Path:
    """`path` as a Path if a file can be created there (and it ends in one of `suffixes`).

    An existing file is opened for appending, which leaves it as it is. For a new one a nameless
    temporary file is made in its folder instead (a name too long fails the stat before): permissions alone
    do not tell (root may "write" in /proc, where no file can be made), and a file made and removed
    under the output's own name is seen by whoever waits for it, `arvid decode` following a token
    stream for one, which would then read a file that vanishes.

    Raises:
        UsageError: wrong extension, missing folder, a folder in the way, or the file cannot be
            created or opened for writing (the message names the path and the reason).
    """
    path = Path(path)
    if suffixes is not None and path.suffix.lower() not in suffixes:
        raise UsageError(f"output {str(path)!r} must end in one of {', '.join(suffixes)}")
    folder = path.parent
    if not folder.is_dir():
        raise UsageError(f"cannot write {str(path)!r}: folder {str(folder)!r} does not exist")
    try:
        existing = path.stat()
    except FileNotFoundError:
        existing = None
    except OSError as err:  # a name too long, for one
        raise UsageError(f"cannot write {str(path)!r}: {err.strerror}") from None
    if existing is not None and stat.S_ISDIR(existing.st_mode):
        raise UsageError(f"cannot write {str(path)!r}: it is a folder")
    if existing is not None and not stat.S_ISREG(existing.st_mode):
        # A pipe or a device (/dev/stdout): opening one may block or have effects; permissions must do.
        if not os.access(path, os.W_OK):
            raise UsageError(f"cannot write {str(path)!r}: permission denied")
        return path
    try:
        if existing is not None:
            with open(path, "ab"):
                pass
        else:
            with tempfile.TemporaryFile(dir=folder):  # Linux: O_TMPFILE, a file without a name
                pass
    except OSError as err:
        raise UsageError(f"cannot write {str(path)!r}: {err.strerror}") from None
    return path


def check_video_output(path: str | Path) -> Path:
    """`check_writable` for a video file (.mp4 or .gif)."""
    return check_writable(path, suffixes=tuple(WRITE_FORMATS))


def claim_new_folder(base: str) -> str:
    """The first of `base`, `base`-2, `base`-3, ... that did not exist, made now (so that another
    run started at the same moment takes the next).

    Raises:
        UsageError: the folder cannot be made.
    """
    for number in count(1):
        folder = base + (f"-{number}" if number > 1 else "")
        try:
            Path(folder).mkdir(parents=True, exist_ok=False)
            return folder
        except FileExistsError:
            continue
        except OSError as err:
            raise UsageError(f"cannot create output folder {folder!r}: {err.strerror}") from err
    raise AssertionError("unreachable")


def evaluation_folder(out: str | None, default: str, *, overwrite: bool, record: str, flag: str) -> tuple[Path, bool]:
    """The folder an evaluation writes into -> (it, whether this call made it): `out`, or without it
    a new one (`claim_new_folder(default)`; with `overwrite`, `default` itself). A folder that holds
    `record` (an evaluation's result file, kept even by a run stopped early) is refused without
    `overwrite`; `flag` names the option in that message.

    Raises:
        UsageError: such a folder without `overwrite`, or one that cannot be made.
    """
    if out is None and not overwrite:  # a folder of its own, claimed by making it: runs side by side never share one
        return Path(claim_new_folder(default)), True
    folder = Path(out or default)
    if (folder / record).exists() and not overwrite:
        raise UsageError(f"{flag} {str(folder)!r} holds an evaluation already ({record}): give --overwrite to "
                         "replace it, or another folder")
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError(f"cannot create output folder {str(folder)!r}: {err.strerror}") from err
    return folder, created


def remove_unused_folder(folder: Path | None) -> None:
    """Remove the output folder a run made (`evaluation_folder`'s; None: none) when it stopped before
    writing anything in it (an empty `videos/` aside): a failed run leaves no empty folder."""
    if folder is None or not folder.is_dir():
        return
    videos = folder / "videos"
    if videos.is_dir() and not any(videos.iterdir()):
        videos.rmdir()
    if not any(folder.iterdir()):
        folder.rmdir()


def replace_file(path: str | Path, write: Callable[[BinaryIO], None]) -> None:
    """Write a file at exactly `path` (a link: the file it names) through `write(file)`: into a hidden
    file beside it, which then takes its place, so an earlier file of that name stays whole until the
    new one is (a full disk, a stop midway) and a reader never sees half of one.

    Raises:
        OSError: the folder cannot be written (the hidden file is removed).
    """
    path = Path(path).resolve() if Path(path).is_symlink() else Path(path)  # a link: the file it names
    staging = path.with_name(f".{path.name}.partial")
    try:
        with open(staging, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())  # on disk before it takes the old file's place
        os.replace(staging, path)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise


def check_not_the_input(output: Path | None, read: str | Path | None, output_flag: str, read_name: str) -> None:
    """Raise `UsageError` when `output` (written) is the file `read` (read first): writing would
    destroy it. `output_flag` and `read_name` name them in the message ("-o", "the --continue file")."""
    if output is not None and read is not None and output.resolve() == Path(read).resolve():
        raise UsageError(f"{output_flag} {str(output)!r} is {read_name}, which writing would replace: write to another file")
