"""The tokenizer's frame sizes and the two baselines of `arvid eval-tokenizer` (bicubic thumbnail,
H.264 at the codes' bits per second), checked on cases with known answers. Tiny random-weight
tokenizers keep this fast."""

from __future__ import annotations

import math

import av
import numpy as np
import pytest
import torch

from arvid.data.samples import sample_clip_path
from arvid.tokenizer import TokenizerConfig, VideoTokenizer, frames_to_video
from arvid.tokenizer.baselines import (MAX_RATE_FACTOR, bicubic_round_trip, codec_round_trip, h264_at_rate_factor,
                                       h264_coded_bytes, h264_round_trip)
from arvid.tokenizer.compare import METHODS, code_bits_per_second, compare, mean_rows
from arvid.tokenizer.evaluate import score
from arvid.tokenizer.sizes import NATIVE, check_frame_size, parse_frame_size, read_frames, size_name


@pytest.fixture(scope="module")
def tokenizer() -> VideoTokenizer:
    torch.manual_seed(0)
    config = TokenizerConfig(image_size=32, channels=8, channel_multipliers=(1, 2, 2), norm_groups=4, codebook_bits=6)
    return VideoTokenizer(config).eval()


@pytest.fixture(scope="module")
def carphone():
    try:
        return sample_clip_path("carphone_pristine.mp4")  # 176x144 (w x h), 29.97 fps
    except FileNotFoundError as err:
        pytest.skip(str(err))


def _smooth_clip(frames: int = 5, height: int = 32, width: int = 48) -> np.ndarray:
    """(t h w 3) uint8: slow colour ramps that drift a little each frame."""
    rows, cols = np.mgrid[0:height, 0:width]
    return np.stack([np.stack([cols * 4 + t * 2, rows * 5, (rows + cols) * 2 + t], -1) for t in range(frames)]
                    ).clip(0, 255).astype(np.uint8)


@pytest.mark.parametrize("text, size", [("64", (64, 64)), ("48x80", (48, 80)), (" 16X24 ", (16, 24)),
                                        ("native", NATIVE), ("NATIVE", NATIVE)])
def test_parse_frame_size(text, size):
    assert parse_frame_size(text) == size


@pytest.mark.parametrize("text", ["", "0", "-8", "64x", "x64", "8x8x8", "6.5", "big", "64x0", "nativ"])
def test_parse_frame_size_rejects(text):
    with pytest.raises(ValueError, match="N, HxW"):
        parse_frame_size(text)


def test_check_frame_size_names_the_sizes_that_work():
    check_frame_size((64, 64), 8)
    check_frame_size((8, 120), 8)
    check_frame_size(NATIVE, 8)
    for size in [(60, 64), (64, 4), (4, 4)]:
        with pytest.raises(ValueError, match=r"multiples of its spatial factor 8 \(8, 16, 64, \.\.\..*or native"):
            check_frame_size(size, 8)
    assert size_name((48, 80)) == "48x80" and size_name(NATIVE) == "native"


def test_encode_file_at_native_and_other_sizes(tokenizer, carphone):
    assert tokenizer.encode_file(str(carphone), max_frames=5).shape == (1, 2, 4, 4)  # the trained 32x32
    assert tokenizer.encode_file(str(carphone), size="native", max_frames=5).shape == (1, 2, 18, 22)  # 144x176
    assert tokenizer.encode_file(str(carphone), size=(48, 64), max_frames=1).shape == (1, 1, 6, 8)
    with pytest.raises(ValueError, match="spatial factor 8"):
        tokenizer.encode_file(str(carphone), size=60)
    assert tokenizer.encode_file(carphone, size=np.int64(48), max_frames=1).shape == (1, 1, 6, 6)  # sizes from arrays
    with pytest.raises(ValueError, match="an int, a \\(height, width\\) pair"):
        tokenizer.encode_file(carphone, size=64.0)
    from arvid.tokenizer.model import frames_to_video

    with pytest.raises(ValueError, match="expected uint8 frames"):  # floats in [0, 1] would make a black video
        frames_to_video(np.random.default_rng(0).random((5, 32, 32, 3)))


def test_encode_file_streams_the_codes_of_the_whole_clip_and_reports_progress(tokenizer, carphone):
    from arvid.tokenizer.sizes import read_frames

    seen = []
    codes = tokenizer.encode_file(str(carphone), size="native", max_frames=11,
                                  progress=lambda done, total: seen.append((done, total)))
    whole = tokenizer.encode(frames_to_video(read_frames(str(carphone), NATIVE, spatial_factor=8, max_frames=9)))
    assert torch.equal(codes, whole) and seen == [(1, 9), (5, 9), (9, 9)]  # 11 frames: the 9-frame prefix


def test_bicubic_round_trip_known_answers():
    constant = np.full((3, 32, 48, 3), 77, np.uint8)
    np.testing.assert_array_equal(bicubic_round_trip(constant, 8), constant)
    assert score(bicubic_round_trip(constant, 8), constant)[0] == math.inf
    # A 1-pixel checkerboard of 0 and 255 holds nothing an 8x coarser grid can carry: the thumbnail
    # is flat grey (127 or 128), every pixel is off by about half the range, MSE 1/4, 10 log10(4) dB.
    checker = (np.indices((32, 32)).sum(0) % 2 * 255).astype(np.uint8)
    clip = np.repeat(checker[None, :, :, None], 3, -1).repeat(2, 0)
    round_trip = bicubic_round_trip(clip, 8)
    assert set(np.unique(round_trip)) <= {127, 128}
    assert score(round_trip, clip)[0] == pytest.approx(10 * math.log10(4), abs=0.01)
    # A smooth ramp is what bicubic keeps: far better than the checkerboard.
    ramp = _smooth_clip()
    assert score(bicubic_round_trip(ramp, 8), ramp)[0] > 30


def test_bicubic_round_trip_rejects_sizes_off_the_grid():
    with pytest.raises(ValueError, match="multiples of 8"):
        bicubic_round_trip(np.zeros((1, 30, 32, 3), np.uint8), 8)


def test_h264_round_trip_reports_the_rate_it_took():
    clip = _smooth_clip(9, 32, 48)
    low = h264_round_trip(clip, fps=8, bits_per_second=1_500)
    high = h264_round_trip(clip, fps=8, bits_per_second=500_000)
    assert low.frames.shape == clip.shape and low.frames.dtype == np.uint8
    assert 0 < low.bits_per_second < high.bits_per_second and high.rate_factor < low.rate_factor
    assert score(high.frames, clip)[0] > score(low.frames, clip)[0] and score(high.frames, clip)[0] > 35
    assert low.encode_s > 0 and low.decode_s > 0
    for_the_eye = h264_round_trip(clip, fps=8, bits_per_second=1_500, tune=None)  # x264's default tuning
    assert not np.array_equal(for_the_eye.frames, low.frames)  # the default, tune="psnr", reaches x264
    with pytest.raises(ValueError, match="even height and width"):
        h264_round_trip(np.zeros((1, 9, 16, 3), np.uint8), fps=8, bits_per_second=1000)


def _yuv(clip: np.ndarray) -> list:
    return [av.VideoFrame.from_ndarray(frame, format="rgb24").reformat(format="yuv420p") for frame in clip]


def test_h264_round_trip_takes_the_best_rate_factor_that_fits(carphone):
    clip = read_frames(carphone, (64, 64), spatial_factor=8, max_frames=17)
    target = 20_000
    coded = h264_round_trip(clip, fps=30, bits_per_second=target)
    assert coded.bits_per_second <= target
    # A rate factor a little lower (better quality) would not fit: the search went as far as it could.
    finer = h264_at_rate_factor(_yuv(clip), fps=30, rate_factor=coded.rate_factor - 0.5)
    assert finer.bits_per_second > target
    # Known answer for what the search replaced: x264's one-pass average bitrate, asked for the same rate
    # (and allowed to overshoot it), reads lower on this short clip.
    encoder_asked = _x264_average_bitrate(clip, fps=30, bits_per_second=target)
    assert score(coded.frames, clip).psnr > score(encoder_asked, clip).psnr


def test_h264_bits_leave_out_x264s_settings_text():
    # Known answer: units of 7 (SPS), 6 (SEI) and 5 (a slice) bytes after their start codes.
    sps, sei, idr = b"\x00\x00\x00\x01\x67" + b"\x01" * 2, b"\x00\x00\x01\x06" + b"x264" * 2, b"\x00\x00\x01\x65\x88\x01"
    assert h264_coded_bytes(sps + sei + idr) == len(sps) + len(idr) and h264_coded_bytes(sps + idr) == len(sps + idr)
    assert h264_coded_bytes(sei) == 0 and h264_coded_bytes(b"") == 0
    # x264's own first packet carries that text ("x264 - core ... options: ..."); it is not counted.
    frames = _yuv(_smooth_clip(3, 32, 48))
    encoder = av.CodecContext.create("libx264", "w")
    encoder.options = {"preset": "veryslow", "crf": "30"}
    counted = codec_round_trip(encoder, "h264", frames, fps=8, coded_bytes=h264_coded_bytes).bits_per_second
    encoder = av.CodecContext.create("libx264", "w")
    encoder.options = {"preset": "veryslow", "crf": "30"}
    whole = codec_round_trip(encoder, "h264", frames, fps=8).bits_per_second
    assert (whole - counted) / 8 * 3 / 8 > 400  # the settings text: hundreds of bytes over the 3 frames


def test_h264_round_trip_below_x264s_floor_returns_the_coarsest_stream():
    clip = _smooth_clip(9, 32, 48)
    coded = h264_round_trip(clip, fps=8, bits_per_second=10)  # far below what headers alone take
    assert coded.rate_factor == MAX_RATE_FACTOR and coded.bits_per_second > 10


def _x264_average_bitrate(clip: np.ndarray, *, fps: int, bits_per_second: int) -> np.ndarray:
    encoder = av.CodecContext.create("libx264", "w")
    encoder.bit_rate = bits_per_second
    encoder.options = {"preset": "veryslow", "tune": "psnr"}
    return codec_round_trip(encoder, "h264", _yuv(clip), fps=fps).frames


def test_code_bits_per_second():
    # 4096 codes = 12 bits a cell; 3 latent frames of 8x8 for 9 frames at 8 fps (1.125 s).
    assert code_bits_per_second(4096, 3 * 8 * 8, 9, 8.0) == pytest.approx(12 * 192 / 1.125)


def test_compare_gives_three_rows_scored_alike(tokenizer):
    clip = _smooth_clip(7, 32, 48)  # 7 frames: the tokenizer takes the 5-frame prefix
    comparison = compare(tokenizer, clip, fps=10)
    assert set(comparison.rows) == set(METHODS) and comparison.latent_shape == (2, 4, 6)
    assert comparison.frames["original"].shape == (5, 32, 48, 3)
    for method in METHODS:
        assert comparison.rows[method]["psnr"] == score(comparison.frames[method], clip[:5])[0]
    arvid, h264 = comparison.rows["arvid"], comparison.rows["h264"]
    assert arvid["bits_per_second"] == pytest.approx(6 * 2 * 4 * 6 * 10 / 5)
    assert h264["target_bits_per_second"] == arvid["bits_per_second"] and h264["bits_per_second"] > 0
    assert comparison.rows["bicubic"]["bits_per_second"] is None and 0 < arvid["codebook_usage"] <= 1
    means = mean_rows([comparison.rows, comparison.rows])
    assert means["arvid"]["psnr"] == pytest.approx(arvid["psnr"]) and means["bicubic"]["encode_fps"] is None


def test_a_flat_clip_has_no_detail_ratio_and_a_blurred_one_reads_below_one():
    flat = np.full((5, 16, 16, 3), 90, dtype=np.uint8)
    assert score(flat, flat).detail is None  # nothing to compare against: None, as figures that do not apply
    rng = np.random.default_rng(0)
    clip = rng.integers(0, 256, (5, 16, 16, 3), dtype=np.uint8)
    blurred = ((clip.astype(np.int64) + np.roll(clip, 1, axis=2)) // 2).astype(np.uint8)
    assert score(clip, clip).detail == pytest.approx(1.0)
    assert score(blurred, clip).detail < 0.75
