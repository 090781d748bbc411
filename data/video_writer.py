"""Writing video files from arvid, through PyAV (reading them: `arvid.data.video`).

Layout at this edge: frames are `uint8` numpy arrays `(t, h, w, 3)` (RGB).

Writing makes `.mp4` (H.264, yuv420p) or `.gif` (an adaptive 256-colour palette per frame).
H.264 in yuv420p needs an even width and height; odd sizes are rejected rather than padded,
so a write-read round trip always returns the shape that was written.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

from arvid.data.frames import check_frames
from arvid.data.live_muxers import FragmentedMp4Muxer, GifMuxer

# Frame rates the writer takes: a GIF's frame delay is at most 655.35 s (16 bits of centiseconds)
# and PyAV's integer time bases overflow far above 1000; no video wants either end.
MIN_FPS, MAX_FPS = 0.01, 1000.0
WRITE_FORMATS = (".mp4", ".gif")
_GLOBAL_HEADER = int(av.codec.context.Flags.global_header)


def _gif_frame(rgb: np.ndarray) -> av.VideoFrame:
    # A palette fitted to each frame: the fixed 3-3-2 `rgb8` palette gave a mean absolute
    # error of 16.7 on a 48x64 colour gradient, this one 3.5.
    quantized = Image.fromarray(rgb).quantize(
        256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
    )
    colors = np.asarray(quantized.getpalette(), dtype=np.uint8).reshape(-1, 3)
    palette = np.zeros((256, 4), dtype=np.uint8)  # ARGB, as PyAV's pal8 expects
    palette[:, 0] = 255
    palette[: len(colors), 1:] = colors
    return av.VideoFrame.from_ndarray((np.asarray(quantized), palette), format="pal8")


# Signals that stop a run cleanly (Ctrl-C, `kill`): held while a frame is inside the encoder.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def stop_signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block ends; one that arrives meanwhile is delivered then.
    Blocks nest (an inner one hands a held signal to the outer one's handler), so a caller can make
    several writes one step that an interruption does not split (`arvid generate`: a latent frame's
    video frames and its token line).

    A KeyboardInterrupt raised inside PyAV's encode call can leave libx264 holding its buffered
    frames without ever handing them out: the flush at close then writes an mp4 with a video
    stream and no frames (1 in 40 interrupted writes in a stress run here). Inside the block a
    handler only notes the signal; after it, the previous handlers are back and the signal is
    raised again, where the writer's state is whole. A handler, not a signal mask: the kernel
    may hand a process-wide signal to any thread (torch's workers too), and Python runs the
    handler in the main thread whichever took it. Handlers can only be set from the main thread,
    so elsewhere the block runs as is (Python does not raise on signals outside the main thread).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    arrived: list[int] = []
    # A handler set outside Python (getsignal None) could not be put back: such a signal is left alone.
    held = [sig for sig in STOP_SIGNALS if signal.getsignal(sig) is not None]
    previous = {sig: signal.signal(sig, lambda number, _frame: arrived.append(number)) for sig in held}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for number in dict.fromkeys(arrived):  # each signal once, in the order it came
            signal.raise_signal(number)


class VideoWriter:
    """Streams `(h, w, 3)` uint8 RGB frames into an `.mp4` (H.264, yuv420p) or `.gif` file.

    The frame size is fixed by the first frame. Use it as a context manager: leaving the
    `with` block, by an exception or a KeyboardInterrupt too, flushes the encoder and closes
    the file, so it is a playable video holding every frame written so far. (A process killed
    outright, e.g. by SIGKILL, leaves an mp4 without its index; only `close()` writes it,
    unless `streaming`.)

    With `streaming`, each frame is in the file as soon as `write` returns, so that a process
    killed outright leaves a playable file holding every frame written: an mp4 is then fragmented
    (an index-free header, then one fragment per frame) and encoded without frame delay (x264's
    zerolatency tune: no B-frames, no lookahead); arvid's own muxers write each frame at once
    (`arvid.data.live_muxers`: FFmpeg's hold the last frame until the next comes). A closed
    streaming file reads, probes and seeks as usual; a killed GIF lacks only its trailer byte.

    Args:
        path: the output file; its extension (`.mp4` or `.gif`) picks the format.
        fps: frames per second, > 0.
        crf: H.264 constant rate factor, 0 (lossless) to 51; lower is better. Ignored for gif.
        streaming: write for readers of an unfinished file and for survival of a SIGKILL (above).

    Raises:
        ValueError: an unsupported extension, `fps <= 0` or `crf` outside [0, 51].
        OSError: the file cannot be created (a missing directory, no permission); it names the path.
    """

    def __init__(self, path: str | os.PathLike, *, fps: float, crf: int = 18, streaming: bool = False):
        self.path = Path(path)
        self._suffix = self.path.suffix.lower()
        if self._suffix not in WRITE_FORMATS:
            raise ValueError(
                f"{self.path}: cannot write {self._suffix or 'no extension'!r}, "
                f"supported: {', '.join(WRITE_FORMATS)}"
            )
        if not MIN_FPS <= fps <= MAX_FPS:
            raise ValueError(f"fps must be in [{MIN_FPS:g}, {MAX_FPS:g}], got {fps!r}")
        if not 0 <= crf <= 51:
            raise ValueError(f"crf must be in [0, 51], got {crf}")
        self.fps = Fraction(fps).limit_denominator(1001)  # 29.97 -> 2997/100, 30000/1001 kept
        self.crf = crf
        self.streaming = streaming
        self.frames_written = 0
        self._stream = None  # FFmpeg's stream (whole-file writes) or a bare encoder (streaming)
        self._closed = False
        if streaming:
            # Written by arvid's muxers from Python, under stop_signals_held, so a KeyboardInterrupt
            # cannot land inside a write.
            self._file = open(self.path, "wb")
            self._muxer = None
            return
        # FFmpeg creates the file only when the first frame is muxed; creating it now makes a
        # missing directory or a permission problem fail here. Handing FFmpeg the path rather
        # than this Python file keeps its writes in C, where a KeyboardInterrupt cannot land
        # in the middle of one.
        open(self.path, "wb").close()
        self._container = av.open(str(self.path), "w")

    def write(self, frame: np.ndarray) -> None:
        """Append one `(h, w, 3)` uint8 frame.

        Raises:
            ValueError: wrong dtype or shape, a size other than the first frame's, odd height
                or width for mp4, or the writer is closed.
        """
        frame = check_frames(frame, 3, "frame")
        if self._closed:
            raise ValueError(f"{self.path}: writer is closed")
        if self._stream is None:
            self._start(frame.shape[0], frame.shape[1])
        elif frame.shape[:2] != (self._stream.height, self._stream.width):
            raise ValueError(
                f"{self.path}: frame is {frame.shape[0]}x{frame.shape[1]} (h x w), earlier frames "
                f"are {self._stream.height}x{self._stream.width}"
            )
        if self._suffix == ".gif":
            video_frame = _gif_frame(frame)
        else:
            video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
        video_frame.pts = self.frames_written
        video_frame.time_base = 1 / self.fps
        with stop_signals_held():
            self._mux(self._stream.encode(video_frame))
            self.frames_written += 1

    def _mux(self, packets: list[av.Packet]) -> None:
        if not self.streaming:
            self._container.mux(packets)
        elif self._suffix == ".gif":
            for packet in packets:
                self._muxer.write(bytes(packet))
        else:
            for packet in packets:
                self._muxer.write(bytes(packet), packet.is_keyframe)

    def write_many(self, frames: np.ndarray) -> None:
        """Append `(t, h, w, 3)` uint8 frames. Raises as `write`."""
        for frame in check_frames(frames, 4, "frames"):
            self.write(frame)

    def _start(self, height: int, width: int) -> None:
        if self._suffix == ".mp4" and (height % 2 or width % 2):
            raise ValueError(
                f"{self.path}: H.264 in yuv420p needs an even height and width, "
                f"got {height}x{width} (h x w); crop or pad the frames first"
            )
        codec, pix_fmt = ("libx264", "yuv420p") if self._suffix == ".mp4" else ("gif", "pal8")
        if self.streaming:
            stream = av.CodecContext.create(codec, "w")
            stream.time_base = 1 / self.fps
            stream.framerate = self.fps
        else:
            stream = self._container.add_stream(codec, rate=self.fps)
        stream.pix_fmt = pix_fmt
        stream.height, stream.width = height, width
        if self._suffix == ".mp4":
            stream.options = {"crf": str(self.crf), **({"tune": "zerolatency"} if self.streaming else {})}
        if self.streaming:
            if self._suffix == ".mp4":
                stream.flags |= _GLOBAL_HEADER  # parameter sets apart, for the MP4 header
                stream.open()
                self._muxer = FragmentedMp4Muxer(self._file, width=width, height=height, fps=self.fps,
                                                 extradata=bytes(stream.extradata))
            else:
                stream.open()
                self._muxer = GifMuxer(self._file, fps=self.fps)
        self._stream = stream

    def _finish(self) -> None:
        """Flush and close, whatever state the writer is in; idempotent."""
        if self._closed:
            return
        self._closed = True
        with stop_signals_held():
            try:
                if self._stream is not None:
                    self._mux(self._stream.encode(None))
                    if self.streaming and self._suffix == ".gif":
                        self._muxer.close()
            finally:
                (self._file if self.streaming else self._container).close()
                if self.frames_written == 0:
                    # No frame means no header was written: an empty file is no video.
                    self.path.unlink(missing_ok=True)

    def close(self) -> None:
        """Flush the encoder and finalize the file.

        Raises:
            ValueError: no frame was written (the empty file is removed).
        """
        already_closed = self._closed
        self._finish()
        if not already_closed and self.frames_written == 0:
            raise ValueError(f"{self.path}: no frames were written, so no file was kept")

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is None:
            self.close()
        else:
            # Keep the frames written so far, and let the original exception propagate.
            self._finish()


def write_video(path: str | os.PathLike, frames: np.ndarray, *, fps: float, crf: int = 18) -> None:
    """Write `(t, h, w, 3)` uint8 RGB frames to `path`, `.mp4` (H.264, yuv420p) or `.gif`.

    Raises:
        ValueError: wrong dtype or shape, no frames, an unsupported extension, odd height or
            width for mp4, `fps <= 0`, or `crf` outside [0, 51] (see `VideoWriter`).
        OSError: the file cannot be created.
    """
    frames = check_frames(frames, 4, "frames")
    with VideoWriter(path, fps=fps, crf=crf) as writer:
        writer.write_many(frames)
