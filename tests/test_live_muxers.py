"""arvid's own muxers for streaming writes: every frame on disk at once, and files FFmpeg reads."""

from __future__ import annotations

import av
import numpy as np
import pytest

from arvid.data.live_muxers import split_annexb
from arvid.data.video import read_video
from arvid.data.video_writer import VideoWriter


def test_split_annexb_takes_three_and_four_byte_start_codes():
    stream = b"\x00\x00\x00\x01\x67\xaa\x00\x00\x01\x68\xbb\xcc\x00\x00\x00\x01\x65\x01"
    assert split_annexb(stream) == [b"\x67\xaa", b"\x68\xbb\xcc", b"\x65\x01"]
    assert split_annexb(b"no start code") == []


def _frames(count: int) -> np.ndarray:
    # smooth colours, so that yuv420p's half-resolution chroma loses little
    y, x = np.mgrid[0:24, 0:32]
    base = np.stack([8 * x, 10 * y, 4 * (x + y)], axis=-1).astype(np.uint8)
    return np.stack([np.roll(base, 2 * index, axis=1) for index in range(count)])


def _fragment_ends(data: bytes) -> list[int]:
    """Byte offsets at which each mdat box (one frame) ends."""
    ends, offset = [], 0
    while offset < len(data):
        size, kind = int.from_bytes(data[offset:offset + 4], "big"), data[offset + 4:offset + 8]
        offset += size
        if kind == b"mdat":
            ends.append(offset)
    return ends


def test_a_streaming_mp4_cut_after_any_fragment_reads_every_frame_before_the_cut(tmp_path):
    frames = _frames(9)
    path = tmp_path / "live.mp4"
    with VideoWriter(path, fps=8, crf=0, streaming=True) as writer:
        writer.write_many(frames)
    data = path.read_bytes()
    ends = _fragment_ends(data)
    assert len(ends) == 9  # one fragment per frame
    for count, end in enumerate(ends, start=1):
        cut = tmp_path / f"cut{count}.mp4"
        cut.write_bytes(data[:end])
        decoded = read_video(cut)
        assert len(decoded) == count
        # crf 0 is lossless in yuv420p: only the colour conversion's rounding remains
        assert np.abs(decoded.astype(int) - frames[:count]).mean() < 3


def test_a_streaming_mp4_states_the_unit_display_matrix(tmp_path):
    # Its track header put the matrix 4 bytes late: FFmpeg read no rotation at all (INT_MIN degrees),
    # which a reader honouring rotations must not turn into quarter turns.
    from types import SimpleNamespace

    from arvid.data.video import _orientation

    path = tmp_path / "live.mp4"
    with VideoWriter(path, fps=8, streaming=True) as writer:
        writer.write_many(_frames(2))
    with av.open(str(path)) as container:
        assert next(container.decode(video=0)).rotation == 0
    assert _orientation(SimpleNamespace(rotation=-2147483648), None) == 1  # such files, written before: as stored
    # As EXIF orientations: 90 degrees counterclockwise is 8, clockwise 6, a half turn 3.
    assert [_orientation(SimpleNamespace(rotation=degrees), None) for degrees in (0, 90, -90, 180, -180)] == [1, 8, 6, 3, 3]


def test_a_streaming_gif_has_delays_that_add_up_to_the_frame_rate(tmp_path):
    path = tmp_path / "live.gif"
    with VideoWriter(path, fps=8, streaming=True) as writer:
        writer.write_many(_frames(8))
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        durations = [frame.duration * stream.time_base * 100 for frame in container.decode(stream)]
    assert set(durations) == {12, 13} and sum(durations) == 100  # centiseconds: 8 frames, one second
    assert path.read_bytes()[-1:] == b"\x3b"  # the trailer, written by close()


@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
def test_a_streaming_file_holds_each_frame_once_write_returns(tmp_path, suffix):
    path = tmp_path / f"live{suffix}"
    frames = _frames(5)
    with VideoWriter(path, fps=8, streaming=True) as writer:
        for count, frame in enumerate(frames, start=1):
            writer.write(frame)
            with av.open(str(path)) as container:  # the file as another process sees it now
                assert sum(1 for _ in container.decode(video=0)) == count
