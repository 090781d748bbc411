"""Training clips from your own videos and images, any size and frame rate: a folder (searched
recursively) or a text manifest of files (`arvid.data.clips.media_paths`).

    FileClips("my_videos/", frames=17, size=64, fps=8)   # clips within shots, and photographs under a moving camera

Every file is read once when the source opens: a video decoded at the training rate, frame by frame
(held whole only where the clip cache keeps it), and split into shots at its hard cuts
(`arvid.data.cuts`), an image loaded. A file that cannot be read is
skipped with one warning line, and the source's summary line counts them; a source where no file
can be read is an error. Clips are then drawn as from the prepared manifests
(`arvid.data.real_clips.ShotClips`, `PhotoClips`).
"""

from __future__ import annotations

import numbers
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from arvid.data.clips import ClipSource, ReadingStopped, is_image, leave_stopping_to_the_main_process, media_paths
from arvid.data.cuts import CutFinder
from arvid.data.decoded import DecodedVideos, working_size
from arvid.data.manifests import Photo, Shot
from arvid.data.real_clips import DEFAULT_ZOOM, MixedClips, PhotoClips, ShotClips, decode_short_side
from arvid.data.scan_index import Scanned, file_stamp, known_scans, save_scans


# Seconds between the lines that say how far the first reading of a source's files has got.
SCAN_PROGRESS_EVERY_S = 10.0


def warn_on_stderr(line: str) -> None:
    """Where `FileClips` says what it skipped and found, by default: one line on stderr."""
    print(line, file=sys.stderr, flush=True)


def scan_file(path: Path, *, fps: float | None, short_side: int, cache: DecodedVideos | None = None) -> Scanned:
    """Read `path` once: an image (by suffix) is loaded; a video is decoded frame by frame at `fps`
    (None: its own rate) with its short side `short_side`, kept whole in `cache` when it fits (else
    no frame is held), and cut into shots at its hard cuts. Never raises for a file that cannot be
    read: that is `Scanned.problem`. The result carries the file's stamp as it was before reading
    (`arvid.data.scan_index.file_stamp`)."""
    from arvid.data.video import VideoReadError, iter_video, probe_video

    stamp = file_stamp(path, fps, short_side)  # before reading: a file changed meanwhile is read again next time
    if is_image(path):
        try:
            with Image.open(path) as image:
                image.load()  # decodes it all: a truncated file fails here, not in training
                width, height = ImageOps.exif_transpose(image).size  # upright, as `load_rgb` gives it
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:  # PIL's ways to refuse a file
            return Scanned(path, problem=f"{path}: not an image PIL can read ({err})")
        return Scanned(path, photo=Photo(path=path, height=height, width=width), stamp=stamp)
    # Frame by frame: an hour of video is gigabytes decoded, and only what `cache` keeps is held.
    cuts, kept, count, keeping = CutFinder(), [], 0, cache is not None
    try:
        info = probe_video(path)
        size = working_size(info.height, info.width, short_side)
        for frame in iter_video(path, fps=fps, size=size):
            cuts.add(frame)
            count += 1
            keeping = keeping and cache.fits(count, size)
            if keeping:
                kept.append(frame)
            elif kept:
                kept = []  # past the cache's size: it will not be kept whole
    except VideoReadError as err:
        return Scanned(path, problem=str(err))
    if keeping:
        cache.put(path, fps=fps, size=size, video=np.stack(kept))
    bounds = [0, *cuts.cuts(), count]
    return Scanned(path, shots=tuple(Shot(path=path, start=start, end=end, height=info.height, width=info.width,
                                          fps=fps, file_frames=count) for start, end in zip(bounds, bounds[1:])),
                   stamp=stamp)


def scan_files(paths: Sequence[Path], *, fps: float | None, short_side: int, cache: DecodedVideos | None = None,
               workers: int = 0) -> Iterator[Scanned]:
    """`scan_file` of each of `paths`, in order, each as it is done: here (filling `cache`), or with
    `workers` > 0 in that many processes (the decoded frames stay there; `cache` is not filled). The
    same result either way.

    Raises:
        ReadingStopped: one of those processes was killed (the files not yet given are named).

    A stop (Ctrl-C, SIGTERM: the processes ignore them, `leave_stopping_to_the_main_process`) or an
    error here, or a caller that stops iterating, ends the processes at once, files half read included.
    """
    if workers > 0 and len(paths) > 1:
        pool = ProcessPoolExecutor(max_workers=min(workers, len(paths)), initializer=leave_stopping_to_the_main_process)
        done = 0
        try:
            for found in pool.map(partial(scan_file, fps=fps, short_side=short_side), paths):
                done += 1
                yield found
        except BrokenProcessPool:
            raise ReadingStopped(
                f"a process reading the files stopped without a word (killed: by the system when memory ran "
                f"out, or by a signal) while reading {paths[done]} or one of the {len(paths) - done - 1} after "
                f"it; fewer reading processes (train.num_workers) need less memory") from None
        finally:
            _end_at_once(pool)
        return
    for path in paths:
        yield scan_file(path, fps=fps, short_side=short_side, cache=cache)


def _end_at_once(pool: ProcessPoolExecutor) -> None:
    """Shut `pool` down without waiting for the files its processes are reading (a long video takes
    seconds to minutes): the files not started are dropped, the processes killed (SIGKILL: they
    ignore SIGTERM). Python 3.14 has `kill_workers` for this; before it, the pool's own table of
    processes is the only handle."""
    processes = list((getattr(pool, "_processes", None) or {}).values())  # shutdown forgets them
    manager = getattr(pool, "_executor_manager_thread", None)  # it joins the processes too
    kill = getattr(pool, "kill_workers", None)
    if kill is not None:
        kill()
    else:
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.kill()
    if manager is not None:  # a second joiner can read a reaped process as alive until the first is done
        manager.join(timeout=10)
    for process in processes:
        process.join()


def _warn_of_videos_past_the_cache(shots: Sequence[Shot], short_side: int, cache: DecodedVideos,
                                   log: Callable[[str], None]) -> None:
    """One line when videos that clips are drawn from do not fit `cache` decoded: each of their clips
    is then decoded from the file's start (`DecodedVideos.window`), seconds a clip for a long file."""
    sizes = {shot.path: (shot.file_frames, working_size(shot.height, shot.width, short_side)) for shot in shots}
    past = {path: frames * size[0] * size[1] * 3 / 2**20 for path, (frames, size) in sizes.items()
            if not cache.fits(frames, size)}
    if past and cache.limit_bytes > 0:  # a cache of 0 was asked for: no news
        largest = max(past, key=past.get)
        log(f"warning: {len(past)} of the videos are larger decoded than the cache of "
            f"{cache.limit_bytes / 2**20:g} MB (train.cache_mb; the largest, {largest}, {past[largest]:.0f} MB): "
            f"each of their clips is decoded from the file's start, which for a long file takes seconds")


class FileClips:
    """Random clips of `frames` frames at `size` from the videos and images `source` names (a folder
    or a text manifest, `media_paths`), videos read at `fps` (None: each file's own rate).

    Video clips lie inside one shot (`ShotClips`: every window equally likely, random square crops
    at zooms `zoom`); image clips are a photograph under a moving camera (`PhotoClips`). Videos and
    images are drawn in proportion to their numbers of files. Each file is read when the source
    opens (`scan_files`, in `workers` processes when > 0), with a line to `log` every
    `SCAN_PROGRESS_EVERY_S` seconds while it goes on; one that cannot be read is skipped with one
    line to `log`, and a last line to `log` sums up what was found and skipped. `index`, a JSON file
    (`arvid.data.scan_index`), keeps what was found (saved with each progress line too, so a stop
    midway keeps the files read): a file unchanged since is not read again.

    Raises:
        FileNotFoundError, ValueError: as `media_paths`.
        ValueError: no file can be read (names `source` and the first file's problem), or no video
            has a shot of `frames` frames and there is no image.
    """

    def __init__(self, source: str | Path, *, frames: int, size: int, fps: float | None = None,
                 zoom: tuple[float, float] = DEFAULT_ZOOM, cache: DecodedVideos | None = None, workers: int = 0,
                 log: Callable[[str], None] = warn_on_stderr, index: str | Path | None = None) -> None:
        if not all(isinstance(n, numbers.Integral) and not isinstance(n, bool) and n >= 1 for n in (frames, size)):
            raise ValueError(f"frames and size must be ints >= 1, got {frames!r} and {size!r}")
        self.frames, self.size, self.fps = frames, size, fps
        cache = DecodedVideos() if cache is None else cache
        paths, short_side = media_paths(source), decode_short_side(size, zoom)
        known = known_scans(index, paths, fps=fps, short_side=short_side) if index is not None else {}
        unread = [path for path in paths if path not in known]
        started = said = time.monotonic()
        for found in scan_files(unread, fps=fps, short_side=short_side, cache=cache, workers=workers):
            known[found.path] = found
            if time.monotonic() - said >= SCAN_PROGRESS_EVERY_S and len(known) < len(paths):
                said = time.monotonic()  # every file is decoded whole: a large folder takes minutes
                log(f"{source}: reading files, {len(known)} of {len(paths)} ({said - started:.0f} s)")
                if index is not None and any(scan.problem is None for scan in known.values()):
                    save_scans(index, list(known.values()))  # a stop before the end keeps what was read
        scanned = [known[path] for path in paths]
        unreadable = [found for found in scanned if found.problem is not None]
        if len(unreadable) == len(scanned):
            more = f" (and {len(unreadable) - 1} more unreadable files)" if len(unreadable) > 1 else ""
            raise ValueError(f"no readable video or image in {str(source)!r}: {unreadable[0].problem}{more}")
        for found in unreadable:
            log(f"warning: skipped {found.problem}")
        self.skipped = [found.path for found in unreadable]

        shots = [shot for found in scanned for shot in found.shots]
        photos = [found.photo for found in scanned if found.photo is not None]
        long_enough = [shot for shot in shots if shot.end - shot.start >= frames]
        rate = f" at {fps:g} fps" if fps is not None else ""
        sources: list[tuple[ClipSource, float]] = []
        if long_enough:
            sources.append((ShotClips(long_enough, frames=frames, size=size, fps=fps, zoom=zoom, cache=cache),
                            len({shot.path for shot in long_enough})))
        if photos:
            sources.append((PhotoClips(photos, frames=frames, size=size), len(photos)))
            if shots and not long_enough:
                log(f"warning: no video in {source} has a shot of {frames} frames{rate} (longest: "
                    f"{max(shot.end - shot.start for shot in shots)}): its clips come from the images alone")
        if not sources:
            longest = max((shot.end - shot.start for shot in shots), default=0)
            raise ValueError(f"no video in {str(source)!r} has a shot of {frames} frames{rate} (longest: {longest}), "
                             "and it holds no image")
        self.clips = sources[0][0] if len(sources) == 1 else MixedClips(sources)
        _warn_of_videos_past_the_cache(long_enough, short_side, cache, log)
        videos = len({shot.path for shot in shots})
        earlier = f", {len(paths) - len(unread)} of the files as read before ({index})" if len(unread) < len(paths) else ""
        log(f"{source}: videos: {videos} ({len(shots)} shots, {len(long_enough)} of {frames}+ frames{rate}), "
            f"images: {len(photos)}, unreadable files skipped: {len(unreadable)}{earlier}")
        if index is not None and unread:  # only for a source that opened: a failed start leaves no file
            save_scans(index, scanned)

    def sample(self, rng: np.random.Generator) -> np.ndarray:
        """-> uint8 (frames, size, size, 3), drawn only from `rng`.

        Raises:
            TypeError: `rng` is not a `numpy.random.Generator` (`np.random.default_rng(seed)` makes one).
            arvid.data.video.VideoReadError: a file that changed since the source opened.
        """
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"rng must be a numpy.random.Generator (np.random.default_rng(seed)), got {type(rng).__name__}")
        return self.clips.sample(rng)
