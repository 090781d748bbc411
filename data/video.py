"""Reading video files into arvid, through PyAV (writing them: `arvid.data.video_writer`).

Layout at this edge: frames are `uint8` numpy arrays `(t, h, w, c)` with `c = 3` (RGB).

Reading decodes the first video stream of anything FFmpeg opens (mp4, webm, mov, gif, ...).
A still image that FFmpeg opens as a one-frame video stream (png, jpeg) is read as a
one-frame video, matching the tokenizer, where images are one-frame videos. Frames are read
upright: a display rotation in the file (a phone's portrait video is stored landscape) is applied,
as players apply it; a non-square sample aspect ratio is not (the stored pixels are kept).
Every problem with the file itself raises `VideoReadError`; bad arguments raise `ValueError`.
"""

import dataclasses
import math
import operator
import os
import warnings
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

# swscale widens its filter when it shrinks, so BICUBIC is antialiased on downscales
# (a 1-pixel checkerboard shrunk 4x comes out flat grey).
_RESIZE_INTERPOLATION = "BICUBIC"


class VideoReadError(ValueError):
    """A file could not be read as a video; the message names the file and the problem."""


@dataclasses.dataclass(frozen=True)
class VideoInfo:
    """What the container says about its first video stream (`probe_video`); the size as shown
    (upright) or as stored.

    `frames` is the stored frame count or, when the container has none, `duration_s * fps`
    rounded; 0 when neither is stored (a still image, a raw elementary stream).
    """

    frames: int
    fps: float
    height: int
    width: int
    duration_s: float
    codec: str


def _open_for_reading(path: Path) -> av.container.InputContainer:
    if not path.exists():
        if path.is_symlink():
            raise VideoReadError(f"{path}: broken symbolic link (to {os.readlink(path)})")
        raise VideoReadError(f"{path}: no such file")
    if path.is_dir():
        raise VideoReadError(f"{path}: is a directory, not a video file")
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as err:
        raise VideoReadError(f"{path}: not a video file FFmpeg can open ({err.strerror})") from err
    if not container.streams.video:
        kinds = sorted({stream.type for stream in container.streams}) or ["none"]
        container.close()
        raise VideoReadError(f"{path}: has no video stream (streams: {', '.join(kinds)})")
    if container.format.name == "gif" and not _ends_with(path, b"\x3b"):
        # FFmpeg decodes a GIF cut short to fewer frames without a word; a whole GIF ends in its trailer byte.
        container.close()
        raise VideoReadError(f"{path}: truncated GIF (no trailer byte at the end)")
    return container


def _ends_with(path: Path, suffix: bytes) -> bool:
    with open(path, "rb") as file:
        file.seek(0, os.SEEK_END)
        if file.tell() < len(suffix):
            return False
        file.seek(-len(suffix), os.SEEK_END)
        return file.read() == suffix


def _stream_rate(stream: av.video.stream.VideoStream) -> Fraction | None:
    # guessed_rate is FFmpeg's own choice between the nominal and the average rate;
    # for gif (delays in centiseconds) it gives 8 where the average rate gives 25/3.
    return stream.guessed_rate or stream.average_rate or None


def probe_video(path: str | os.PathLike, *, shown_size: bool = True) -> VideoInfo:
    """Read the header of the first video stream of `path`, and its first frame for the size as
    shown (a quarter turn of a display rotation or of a photograph's EXIF orientation swaps height
    and width, as `read_video` does); `shown_size=False` decodes nothing and gives the size as stored
    (for the rate or the frame count alone: a 720p frame costs tens of milliseconds). A file
    truncated after its first frame may probe fine and still fail in `read_video`.

    Raises:
        VideoReadError: the file is missing, a directory, not a video, or has no video stream.
    """
    path = Path(path)
    with _open_for_reading(path) as container:
        stream = container.streams.video[0]
        rate = _stream_rate(stream)
        if stream.duration is not None:
            duration_s = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration_s = container.duration / av.time_base
        else:
            duration_s = 0.0
        frames = stream.frames or round(duration_s * float(rate or 0))
        height, width = (_first_frame_size(container, stream, _exif_orientation(path, container)) if shown_size
                         else (stream.height, stream.width))
        return VideoInfo(
            frames=frames,
            fps=float(rate or 0),
            height=height,
            width=width,
            duration_s=duration_s,
            codec=stream.codec_context.name,
        )


def _first_frame_size(container: av.container.InputContainer, stream: av.video.stream.VideoStream,
                      exif: int | None) -> tuple[int, int]:
    """`(height, width)` of the stream's first frame as shown (`_shown_size`); the header's size when
    that frame does not decode (a file cut short is `read_video`'s to report)."""
    try:
        frame = next(container.decode(stream), None)
    except av.error.FFmpegError:
        frame = None
    return (stream.height, stream.width) if frame is None else _shown_size(frame, exif)


def count_frames(path: str | os.PathLike) -> int:
    """Decode every frame of the first video stream of `path`, keeping none: -> how many there
    are. What a command runs over its input videos before any work, so that a file that is corrupt
    or cut short half-way fails then, not after the work on the files before it.

    Raises:
        VideoReadError: as `read_video`: missing, not a video, corrupt, truncated, or no frames.
    """
    path = Path(path)
    decoded = 0
    with _open_for_reading(path) as container:
        try:
            for _ in container.decode(container.streams.video[0]):
                decoded += 1
        except av.error.FFmpegError as err:
            raise VideoReadError(
                f"{path}: corrupt or truncated video, decoding failed after {decoded} frames ({err.strerror})"
            ) from err
    if decoded == 0:
        raise VideoReadError(f"{path}: the video stream has no frames")
    return decoded


def _is_whole_number(value: object) -> bool:
    """An int, numpy's and torch's integers included (what `operator.index` takes), and not a bool."""
    if isinstance(value, bool):
        return False
    try:
        operator.index(value)
    except TypeError:
        return False
    return True


def _check_size(size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    if size is None:
        return None
    if _is_whole_number(size):
        size = (size, size)
    if (
        not isinstance(size, (tuple, list))
        or len(size) != 2
        or not all(_is_whole_number(side) and side > 0 for side in size)
    ):
        raise ValueError(f"size must be a positive int or a (height, width) pair of them, got {size!r}")
    return (operator.index(size[0]), operator.index(size[1]))


def _crop_to_multiple(rgb: np.ndarray, multiple: int, path: Path) -> np.ndarray:
    """`rgb` (h, w, 3) center-cropped down to the nearest multiple of `multiple` in each side."""
    height, width = rgb.shape[:2]
    target_h, target_w = height // multiple * multiple, width // multiple * multiple
    if target_h == 0 or target_w == 0:
        raise VideoReadError(
            f"{path}: frames of {height}x{width} (h x w) are smaller than {multiple}, the multiple to crop them to"
        )
    top, left = (height - target_h) // 2, (width - target_w) // 2
    return rgb[top : top + target_h, left : left + target_w]


# How a stored frame is shown, as an EXIF orientation (1-8; 1: as stored): a photograph's own tag,
# or a video's display rotation, which maps onto 1, 8, 3 and 6 (quarter turns counterclockwise).
_EXIF_OF_TURNS = (1, 8, 3, 6)
_EXIF_ORIENTATION_TAG = 0x0112


def _exif_orientation(path: Path, container: av.container.InputContainer) -> int | None:
    """A still image's EXIF orientation (1-8, 1 without a tag), read by PIL: FFmpeg turns the tag into
    a display matrix whose rotation it reports but whose mirroring (2, 4, 5, 7) it drops. None for a
    video, or an image PIL cannot open (its display rotation is then used)."""
    if container.format.name != "image2" and not container.format.name.endswith("_pipe"):
        return None
    try:
        with warnings.catch_warnings():  # PIL's warning of a very large picture, which FFmpeg decodes anyway
            warnings.simplefilter("ignore")
            with Image.open(path) as image:
                tag = image.getexif().get(_EXIF_ORIENTATION_TAG, 1)
    except Exception:  # noqa: BLE001 - a look-up with a fallback: PIL refuses huge pictures, odd EXIF blocks
        return None
    return tag if tag in range(1, 9) else 1


def _orientation(frame: av.VideoFrame, exif: int | None) -> int:
    """The EXIF orientation that shows `frame` upright: `exif` (`_exif_orientation`) where known, else
    the frame's display rotation (a phone's portrait video is stored landscape with -90 there)
    rounded to a quarter turn. A matrix that is no rotation (FFmpeg then reports a value outside
    [-180, 180], as for the misplaced matrix of streaming mp4s arvid wrote before 2026-12-07) counts
    as none."""
    if exif is not None:
        return exif
    degrees = getattr(frame, "rotation", 0) or 0
    return _EXIF_OF_TURNS[round(degrees / 90) % 4] if -180 <= degrees <= 180 else 1


def _upright(rgb: np.ndarray, orientation: int) -> np.ndarray:
    """A stored frame `(h, w, c)` as shown under an EXIF `orientation` (PIL's `exif_transpose`):
    `(w, h, c)` for 5-8, which turn it a quarter."""
    shown = {1: rgb, 2: rgb[:, ::-1], 3: rgb[::-1, ::-1], 4: rgb[::-1], 5: rgb.transpose(1, 0, 2),
             6: np.rot90(rgb, -1), 7: rgb[::-1, ::-1].transpose(1, 0, 2), 8: np.rot90(rgb, 1)}[orientation]
    return shown if orientation == 1 else np.ascontiguousarray(shown)


def _shown_size(frame: av.VideoFrame, exif: int | None) -> tuple[int, int]:
    """`(height, width)` of `frame` as shown (`_orientation`)."""
    return (frame.width, frame.height) if _orientation(frame, exif) >= 5 else (frame.height, frame.width)


def _to_rgb(frame: av.VideoFrame, size: tuple[int, int] | None, exif: int | None = None) -> np.ndarray:
    """One decoded frame as `(h, w, 3)` uint8, upright (`_orientation`, as players and OpenCV show
    it); with `size`, scaled to cover it, then center-cropped."""
    orientation = _orientation(frame, exif)
    if size is None:
        return _upright(frame.to_ndarray(format="rgb24"), orientation)
    target_h, target_w = size
    shown_h, shown_w = (frame.width, frame.height) if orientation >= 5 else (frame.height, frame.width)
    scale = max(target_h / shown_h, target_w / shown_w)
    # max() keeps rounding from leaving the scaled frame a pixel short of the crop.
    scaled_h = max(target_h, round(shown_h * scale))
    scaled_w = max(target_w, round(shown_w * scale))
    stored_h, stored_w = (scaled_w, scaled_h) if orientation >= 5 else (scaled_h, scaled_w)
    rgb = _upright(frame.reformat(width=stored_w, height=stored_h, format="rgb24",
                                  interpolation=_RESIZE_INTERPOLATION).to_ndarray(), orientation)
    top, left = (scaled_h - target_h) // 2, (scaled_w - target_w) // 2
    return rgb[top : top + target_h, left : left + target_w]


def _timed(
    frames: Iterator[av.VideoFrame], stream: av.video.stream.VideoStream, path: Path
) -> Iterator[tuple[av.VideoFrame, float]]:
    """Pairs each frame with its presentation time in seconds, counted from the first frame.

    Decoded frames come in presentation order, so a time that goes back by more than half a frame
    period is a discontinuity (files joined end to end, as camcorders' MPEG transport streams often are, each
    part's clock restarting): from there on the times are shifted to go on one period after the last
    (with a warning), rather than the later parts being resampled away. Less is a muxer's rounding,
    left as it is."""
    rate = _stream_rate(stream)
    origin = last = None
    for index, frame in enumerate(frames):
        if frame.pts is not None:
            absolute = frame.pts * (frame.time_base or stream.time_base)
        elif rate:
            absolute = index / rate
        else:
            raise VideoReadError(
                f"{path}: frames have no timestamps and the stream no frame rate; cannot resample"
            )
        origin = absolute if origin is None else origin
        period = 1 / rate if rate else (frame.duration or 1) * (frame.time_base or stream.time_base)
        if last is not None and absolute - origin < last - period / 2:
            warnings.warn(f"{path}: frame {index}'s time goes back {float(last - (absolute - origin)):.2f} s (parts "
                          f"joined end to end?): read on as if it followed the frame before", TimestampJumpWarning,
                          stacklevel=4)
            origin = absolute - last - period
        last = absolute - origin
        yield frame, float(last)


def _resampled(
    timed_frames: Iterator[tuple[av.VideoFrame, float]], fps: float, stream: av.video.stream.VideoStream
) -> Iterator[av.VideoFrame]:
    """The source frame shown at each output time `k / fps`, by the rule in `read_video`."""
    index = 0
    chosen = None  # the source frame nearest to `index / fps`, once the frames around it are seen
    previous, previous_time = None, 0.0
    for frame, time in timed_frames:
        while True:
            if chosen is None:
                target = index / fps
                if target > time:
                    break
                # Source times only grow, so the nearest frame is this one or the previous one.
                nearer_this = previous is None or time - target < target - previous_time
                chosen = frame if nearer_this else previous
            # Keep it once the source is known to last past its midpoint: the source lasts
            # past `time`, and a later midpoint waits for the next frame or the end.
            if (index + 0.5) / fps >= time:
                break
            yield chosen
            chosen, index = None, index + 1
        previous, previous_time = frame, time
    if previous is None:
        return
    rate = _stream_rate(stream)
    if previous.duration:
        period = float(previous.duration * (previous.time_base or stream.time_base))
    else:
        period = float(1 / rate) if rate else 0.0
    end = previous_time + period
    while index == 0 or (index + 0.5) / fps < end:
        yield chosen if chosen is not None else previous
        chosen, index = None, index + 1


def read_video(
    path: str | os.PathLike,
    *,
    fps: float | None = None,
    size: int | tuple[int, int] | None = None,
    start_frame: int = 0,
    end_frame: int | None = None,
    max_frames: int | None = None,
    crop_to_multiple: int = 1,
) -> np.ndarray:
    """Decode the first video stream of `path` into `(t, h, w, 3)` uint8 RGB frames.

    Args:
        fps: resample to this rate. Source times are `pts * time_base` counted from the first
            frame (`index / stream rate` for frames without a pts); the source lasts until
            `T`, the last frame's time plus its duration (or one period of the stream rate).
            Output frame `k`, at `k / fps`, shows the source frame nearest in time (the earlier
            on a tie) and exists while `(k + 1/2) / fps < T`: more than half of its display
            interval lies inside the source. That makes `round(T * fps)` frames (halves round
            down, at least one), robust to the centisecond or millisecond rounding of gif and
            Matroska timestamps.
        size: an int (square) or `(height, width)`: scale so the frame covers it, keeping the
            aspect ratio (antialiased), then center-crop.
        start_frame, end_frame: the range `[start_frame, end_frame)` of frames, counted after
            fps resampling. Decoding starts at the beginning (no seeking) and stops as soon as
            the range, or `max_frames`, is filled.
        max_frames: keep at most this many frames.
        crop_to_multiple: center-crop each frame (after any resize) down to the nearest multiple
            of this in height and width, without scaling: what a model whose input sides must be
            multiples of its downsampling factor takes at the video's own size.

    Returns:
        `(t, h, w, 3)` uint8, `(h, w) = size` when size is given.

    Raises:
        VideoReadError: the file is missing, a directory, not a video, corrupt or truncated,
            has no video stream, has no frames, has no frames in the requested range, has
            frames smaller than `crop_to_multiple`, or (without `size`) frames whose size changes.
        ValueError: `fps` not > 0 and finite, a malformed `size`, a frame number or count that is not
            an int (a float such as fps * seconds: round it), `start_frame < 0`,
            `end_frame <= start_frame`, `max_frames < 1`, or `crop_to_multiple` not an int >= 1.
    """
    return np.stack(list(iter_video(path, fps=fps, size=size, start_frame=start_frame, end_frame=end_frame,
                                    max_frames=max_frames, crop_to_multiple=crop_to_multiple)))


def iter_video(path: str | os.PathLike, *, fps: float | None = None, size: int | tuple[int, int] | None = None,
               start_frame: int = 0, end_frame: int | None = None, max_frames: int | None = None,
               crop_to_multiple: int = 1) -> Iterator[np.ndarray]:
    """`read_video`'s frames one at a time, uint8 `(h, w, 3)` each, so that a long video is never held
    whole: the same arguments, frames, warnings and errors (a bad argument raised by this call, the
    file's problems as the frames are drawn)."""
    if fps is not None and not 0 < fps < math.inf:
        raise ValueError(f"fps must be > 0 and finite, got {fps!r}")
    size = _check_size(size)
    # Whole numbers only: a count of frames such as fps * seconds, a float, never equals the frames
    # produced, so the whole file would be read.
    for name, value, optional in (("start_frame", start_frame, False), ("end_frame", end_frame, True),
                                  ("max_frames", max_frames, True), ("crop_to_multiple", crop_to_multiple, False)):
        if not (optional and value is None) and not _is_whole_number(value):
            raise ValueError(f"{name} must be an int, got {value!r}" +
                             (f" (round it: {name}=round({value!r}))" if isinstance(value, float) else ""))
    if start_frame < 0:
        raise ValueError(f"start_frame must be >= 0, got {start_frame}")
    if end_frame is not None and end_frame <= start_frame:
        raise ValueError(f"end_frame must be > start_frame ({start_frame}), got {end_frame}")
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be >= 1, got {max_frames}")
    if crop_to_multiple < 1:
        raise ValueError(f"crop_to_multiple must be an int >= 1, got {crop_to_multiple!r}")
    stop = end_frame  # output frames after which decoding can end
    if max_frames is not None:
        stop = start_frame + max_frames if stop is None else min(stop, start_frame + max_frames)
    return _decoded_frames(Path(path), fps, size, start_frame, end_frame, stop, crop_to_multiple)


def _decoded_frames(path: Path, fps: float | None, size: tuple[int, int] | None, start_frame: int,
                    end_frame: int | None, stop: int | None, crop_to_multiple: int) -> Iterator[np.ndarray]:
    """The generator behind `iter_video`, its arguments checked; `stop`: the output frame to end before."""
    decoded = produced = kept = 0
    with _open_for_reading(path) as container:
        # No frame threading: with it, a truncated mp4 decoded silently to fewer frames
        # (without, FFmpeg raises), and it was no faster on 720p H.264 with 2 cores.
        stream = container.streams.video[0]
        exif = _exif_orientation(path, container)

        first_pts = last_pts = None
        first_shape = None  # of the first frame kept: frames read at their own size must all share it

        def source_frames() -> Iterator[av.VideoFrame]:
            nonlocal decoded, first_pts, last_pts
            for frame in container.decode(stream):
                decoded += 1
                if frame.pts is not None:
                    first_pts = frame.pts if first_pts is None else first_pts
                    last_pts = frame.pts
                yield frame

        frames = source_frames()
        if fps is not None:
            frames = _resampled(_timed(frames, stream, path), fps, stream)
        try:
            for frame in frames:
                if produced >= start_frame:
                    rgb = _to_rgb(frame, size, exif)
                    if kept and size is None and rgb.shape[:2] != first_shape:
                        raise VideoReadError(
                            f"{path}: the frame size changes at frame {produced}, from {first_shape[0]}x{first_shape[1]} "
                            f"to {rgb.shape[0]}x{rgb.shape[1]} (h x w); read it at one size (a size argument, --size N)"
                        )
                    first_shape = rgb.shape[:2] if not kept else first_shape
                    kept += 1
                    yield rgb if crop_to_multiple == 1 else _crop_to_multiple(rgb, crop_to_multiple, path)
                produced += 1
                if produced == stop:
                    break
        except av.error.FFmpegError as err:
            raise VideoReadError(
                f"{path}: corrupt or truncated video, decoding failed after {decoded} frames "
                f"({err.strerror})"
            ) from err
        if produced != stop and first_pts is not None:  # read to the end: did the file have it all?
            _warn_if_cut_short(path, container, stream, last_pts - first_pts)
            if fps is None:  # the whole file: one message a file, which Python's warnings say once
                _warn_if_unevenly_timed(path, container, stream, decoded, last_pts - first_pts)

    if decoded == 0:
        raise VideoReadError(f"{path}: the video stream has no frames")
    if not kept:
        at_rate = f" at fps={fps}" if fps is not None else ""
        wanted = f"from frame {start_frame} on" if end_frame is None else f"in [{start_frame}, {end_frame})"
        raise VideoReadError(f"{path}: has {produced} frames{at_rate}, none {wanted}")


class TimestampJumpWarning(UserWarning):
    """A video's frame times go back mid-file (parts joined end to end): read on as if they continued."""


class TruncatedVideoWarning(UserWarning):
    """A video decoded without error ended well before the length its header states."""


def _warn_if_cut_short(path: Path, container: av.container.InputContainer, stream: av.video.stream.VideoStream,
                       last_frame_ticks: int) -> None:
    """Warn when the frames decoded span less than 90% of the length the file states
    (`_stated_seconds`): a file cut off in copying decodes without error to its first part (an AVI
    keeps its frame count in its header, a Matroska file its duration). Time, not frame counts,
    because a variable-rate file (opencv's tree.avi: 68 frames over 444 ticks) holds fewer frames
    than ticks."""
    rate, stated = stream.average_rate, _stated_seconds(container, stream)
    if stated is None or not rate or stream.time_base is None:
        return
    seen = last_frame_ticks * stream.time_base + 1 / rate
    if seen < 0.9 * stated:
        warnings.warn(f"{path}: decoded {float(seen):.1f} s of the {float(stated):.1f} s its header states; "
                      "the file looks cut short (truncated?)", TruncatedVideoWarning, stacklevel=3)


def _stated_seconds(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float | None:
    """The video stream's length as its header states it, in seconds: its frame count at its average
    rate (MP4, AVI), else the `DURATION` tag FFmpeg and mkvmerge give each Matroska / WebM track, else
    a Matroska file's own duration when the video is its only stream (another may be longer); None
    where nothing is stated before the frames (Ogg; a browser's WebM), or where FFmpeg estimates it
    from the frames present (MPEG-TS), which a cut file shortens alike."""
    if stream.frames and stream.average_rate:
        return float(stream.frames / stream.average_rate)
    if not container.format.name.startswith("matroska"):
        return None
    tag = (stream.metadata or {}).get("DURATION", "")
    try:
        hours, minutes, seconds = tag.split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except ValueError:
        pass
    if container.duration and len(container.streams) == 1:
        return container.duration / av.time_base
    return None


class VariableRateWarning(UserWarning):
    """A video read frame by frame (no `fps`) whose frames are not evenly timed at its stated rate."""


def _warn_if_unevenly_timed(path: Path, container: av.container.InputContainer, stream: av.video.stream.VideoStream,
                            frames: int, span_ticks: int) -> None:
    """Warn when a whole file's `frames` decoded frames span a time their stated rate would fill with
    more than a tenth (and 2) more or fewer frames: read one a frame, the clip's motion plays at
    another pace than it was filmed (opencv's tree.avi: 68 frames over 29.5 s, 15 fps stated).
    Reading at an `fps` resamples by time instead. Not for GIFs, whose rate FFmpeg guesses (100 fps
    for delays under 3 centiseconds)."""
    rate = _stream_rate(stream)
    if frames < 3 or not rate or stream.time_base is None or span_ticks <= 0 or container.format.name == "gif":
        return
    span = float(span_ticks * stream.time_base)
    expected = span * float(rate) + 1
    if abs(frames - expected) > max(2.0, 0.1 * expected):
        stated = round(float(rate), 3)
        warnings.warn(f"{path}: its frames are not evenly timed: {frames} frames over {span:.1f} s, where its "
                      f"{stated:g} fps would make {expected:.0f}; read frame by frame at {stated:g} fps it lasts "
                      f"{frames / stated:.1f} s; give a frame rate (fps, --fps, train.fps) to read it at even times",
                      VariableRateWarning, stacklevel=3)
