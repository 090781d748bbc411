"""The tokenizer's subcommands: round trips and bad input (clear message, exit code 2); `--device`
on every command that runs a model."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from arvid.data.video import probe_video, read_video
from arvid.data.video_writer import write_video
from arvid.tokenizer import TokenizerConfig, VideoTokenizer
from arvid.tools.cli import build_parser, main
from video_fixtures import truncated_avi  # tests/video_fixtures.py

# Commands that run a model, each with arguments that are valid but for --device.
MODEL_COMMANDS = {
    "generate": ["generate", "a red circle", "-o", "{tmp}/out.gif"],
    "decode": ["decode", "{tmp}/tokens.ndjson", "-o", "{tmp}/out.gif"],
    "eval-video": ["eval-video", "--prompt", "a red circle moving left", "--frames", "2", "-o", "{tmp}/eval"],
    "tokenize": ["tokenize", "{clip}", "-o", "{tmp}/codes.npy"],
    "detokenize": ["detokenize", "{tmp}/codes.npy", "-o", "{tmp}/out.gif"],
    "eval-tokenizer": ["eval-tokenizer", "--shapes-videos", "0", "--videos", "{clip}", "--out", "{tmp}/ev"],
    "tokenize-dataset": ["tokenize-dataset", "--videos", "1", "--frames", "5", "-o", "{tmp}/shards"],
}


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    torch.manual_seed(0)
    config = TokenizerConfig(image_size=32, channels=8, channel_multipliers=(1, 2, 2), norm_groups=4, codebook_bits=6)
    folder = tmp_path_factory.mktemp("ckpt") / "tokenizer"
    VideoTokenizer(config).save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    frames = np.zeros((11, 48, 48, 3), np.uint8)
    frames[:, 10:30, 10:30] = (255, 40, 40)
    write_video(path, frames, fps=8)
    return str(path)


def test_every_subcommand_has_help(capsys):
    parser = build_parser()
    for name in parser._subparsers._group_actions[0].choices:
        with pytest.raises(SystemExit) as exit_info:
            main([name, "--help"])
        assert exit_info.value.code == 0
        assert "usage: arvid" in capsys.readouterr().out


def test_tokenize_detokenize_round_trip(ckpt, clip, tmp_path, capsys):
    codes_path, video_path = tmp_path / "codes.npy", tmp_path / "out.mp4"
    assert main(["tokenize", clip, "-o", str(codes_path), "--tokenizer", ckpt]) == 0
    codes = np.load(codes_path)
    assert codes.shape == (3, 4, 4)  # 11 frames -> the 9-frame prefix -> 3 latent frames of 32/8
    assert main(["detokenize", str(codes_path), "-o", str(video_path), "--tokenizer", ckpt]) == 0
    assert read_video(video_path).shape == (9, 32, 32, 3)
    captured = capsys.readouterr()
    out = captured.out
    assert "9 frames of 32x32 (h x w) at 8 fps -> codes 3x4x4" in out
    assert "note: the last 2 of the 11 frames read are not encoded: the tokenizer takes 1 + 4k frames" in captured.err
    assert "--tokenizer natural" not in captured.err  # a tokenizer was given
    assert "codes 3x4x4 -> 9 frames of 32x32 (h x w) at 8 fps" in out and "from codes.meta.json" in out  # the rate


def test_arvid_warnings_are_one_line_in_a_command(ckpt, tmp_path):
    # Python's own format printed two lines, the second a line of arvid's source. A process of its own:
    # pytest records warnings instead of printing them.
    import subprocess
    import sys

    _, cut = truncated_avi(tmp_path)
    done = subprocess.run([sys.executable, "-m", "arvid.tools.cli", "tokenize", str(cut), "-o", str(tmp_path / "codes.npy"),
                           "--tokenizer", ckpt], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    warned = [line for line in lines if "looks cut short" in line]
    assert len(warned) == 1 and warned[0].startswith(f"warning: {cut}: decoded 2.0 s of the 4.0 s")
    assert not any("TruncatedVideoWarning" in line or "return read_video" in line for line in lines)


def test_tokenize_without_a_tokenizer_names_the_natural_one_for_real_footage(clip, tmp_path, capsys):
    assert main(["tokenize", clip, "-o", str(tmp_path / "codes.npy"), "--max-frames", "9"]) == 0
    err = capsys.readouterr().err
    assert "the shapes world's tokenizer (the default); for real footage give --tokenizer natural" in err
    assert "not encoded" not in err  # 9 frames: 1 + 4k, nothing left out


def test_detokenize_stopped_or_out_of_room_keeps_a_playable_file(ckpt, clip, tmp_path, capsys, monkeypatch):
    """Ctrl-C (or SIGTERM, which raises the same) after the first latent frame: exit 130 and a video of
    the frames done; a full disk: one line, exit 1 (both were tracebacks, and SIGTERM left no index)."""
    from arvid.data.video_writer import VideoWriter

    codes_path, video_path = tmp_path / "codes.npy", tmp_path / "out.mp4"
    assert main(["tokenize", clip, "-o", str(codes_path), "--tokenizer", ckpt]) == 0
    write_many, calls = VideoWriter.write_many, []

    def stopping(self, frames):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return write_many(self, frames)

    monkeypatch.setattr(VideoWriter, "write_many", stopping)
    capsys.readouterr()
    assert main(["detokenize", str(codes_path), "-o", str(video_path), "--tokenizer", ckpt]) == 130
    assert "interrupted: kept the 1 frames done so far" in capsys.readouterr().err
    assert len(read_video(video_path)) == 1

    def full(self, frames):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(VideoWriter, "write_many", full)
    assert main(["detokenize", str(codes_path), "-o", str(video_path), "--tokenizer", ckpt]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "arvid: error: cannot write" in err and "No space left on device" in err


def test_tokenize_names_a_missing_video_before_loading_a_tokenizer(tmp_path, capsys, monkeypatch):
    import arvid.tools.checkpoints as checkpoints

    monkeypatch.setattr(checkpoints, "load_tokenizer", lambda *args: pytest.fail("loaded a tokenizer first"))
    for name in ("missing.mp4", "missing.png"):
        assert main(["tokenize", str(tmp_path / name), "-o", str(tmp_path / "codes.npy")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and f"{name}: no such file" in err


def test_tokenize_and_decode_out_of_room_are_one_line_and_exit_1(ckpt, clip, tmp_path, capsys, monkeypatch):
    """A full disk while writing (a traceback before): one line naming the file, exit 1."""
    from arvid.data.token_stream import write_token_frame
    from arvid.data.video_writer import VideoWriter

    codes_path = tmp_path / "codes.npy"
    assert main(["tokenize", clip, "-o", str(codes_path), "--tokenizer", ckpt]) == 0
    with open(tmp_path / "tokens.ndjson", "w") as out:
        for index, codes in enumerate(np.load(codes_path)):
            write_token_frame(out, index, codes.astype(np.int64))

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(VideoWriter, "write", full)
    capsys.readouterr()
    assert main(["decode", str(tmp_path / "tokens.ndjson"), "--tokenizer", ckpt, "-o", str(tmp_path / "out.mp4")]) == 1
    err = capsys.readouterr().err
    assert "arvid: error: cannot write" in err and "No space left on device" in err and "Traceback" not in err
    def half_then_full(file, array):  # a disk that fills midway through the codes
        if isinstance(file, (str, Path)):
            file = open(file, "wb")  # noqa: SIM115 - as np.save opens a name
        file.write(b"\x93NUMPY")
        file.flush()
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "save", half_then_full)
    earlier = np.load(codes_path)
    assert main(["tokenize", clip, "-o", str(codes_path), "--tokenizer", ckpt]) == 1
    err = capsys.readouterr().err
    assert "arvid: error: cannot write" in err and "No space left on device" in err and "Traceback" not in err
    # The codes written before stay whole, and nothing is left beside them.
    np.testing.assert_array_equal(np.load(codes_path), earlier)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["codes.meta.json", "codes.npy", "tokens.ndjson"]


def test_tokenize_writes_the_file_it_names_whatever_the_suffix_case(ckpt, clip, tmp_path, capsys):
    """np.save given a name adds ".npy" unless it ends in ".npy" exactly: "Clip.NPY" became "Clip.NPY.npy"."""
    assert main(["tokenize", clip, "-o", str(tmp_path / "Clip.NPY"), "--tokenizer", ckpt]) == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == ["Clip.NPY", "Clip.meta.json"]
    assert np.load(tmp_path / "Clip.NPY").shape == (3, 4, 4)
    assert main(["detokenize", str(tmp_path / "Clip.NPY"), "-o", str(tmp_path / "out.mp4")]) == 0
    assert "from Clip.meta.json" in capsys.readouterr().out


def test_detokenize_takes_the_tokenizer_and_rate_tokenize_recorded(ckpt, carphone, tmp_path, capsys, monkeypatch):
    """A clip's codes decode at its own rate (29.97 fps, not 8) with the tokenizer that made them,
    named relative to where `tokenize` ran and decoded from another working directory, with neither
    named again."""
    codes_path, video_path = tmp_path / "codes.npy", tmp_path / "out.mp4"
    monkeypatch.chdir(Path(ckpt).parent)
    assert main(["tokenize", carphone, "-o", str(codes_path), "--tokenizer", Path(ckpt).name, "--max-frames", "5"]) == 0
    meta = json.loads((tmp_path / "codes.meta.json").read_text())
    assert meta["tokenizer"] == str(Path(ckpt).resolve()) and meta["fps"] == pytest.approx(29.97, abs=0.01)
    monkeypatch.chdir(tmp_path)
    assert main(["detokenize", str(codes_path), "-o", str(video_path)]) == 0
    assert "at 29.97 fps" in capsys.readouterr().out
    assert probe_video(video_path).fps == pytest.approx(29.97, abs=0.01)
    assert main(["detokenize", str(codes_path), "-o", str(video_path), "--fps", "10"]) == 0
    assert "at 10 fps" in capsys.readouterr().out and probe_video(video_path).fps == pytest.approx(10)
    np.save(codes_path, np.load(codes_path)[:1])  # the codes rewritten by other means: the record is not theirs
    assert main(["detokenize", str(codes_path), "-o", str(video_path)]) == 2
    assert "describes 5 frames of 32x32, not these codes (1 of 32x32): remove it" in capsys.readouterr().err
    assert main(["detokenize", str(codes_path), "-o", str(video_path), "--tokenizer", ckpt, "--fps", "10"]) == 0


def test_codes_decoded_by_a_tokenizer_whose_encoder_changed_since_are_warned_of(ckpt, clip, tmp_path, capsys):
    """codes.meta.json records the encoder's fingerprint: a tokenizer trained further in its folder
    decodes them with a warning once its encoder (not only its decoder) changed; older files (without
    the record) decode in silence."""
    import shutil

    import torch

    from arvid.tokenizer import VideoTokenizer

    folder = tmp_path / "tok"
    shutil.copytree(ckpt, folder)
    codes_path = tmp_path / "codes.npy"
    assert main(["tokenize", clip, "-o", str(codes_path), "--tokenizer", str(folder)]) == 0
    tokenizer = VideoTokenizer.from_pretrained(folder)
    meta = json.loads((tmp_path / "codes.meta.json").read_text())
    assert meta["tokenizer_codes"] == tokenizer.codes_fingerprint()
    detokenize = ["detokenize", str(codes_path), "-o", str(tmp_path / "out.mp4")]
    with torch.no_grad():
        next(tokenizer.decoder.parameters()).mul_(0.5)
    tokenizer.save_pretrained(folder)
    capsys.readouterr()
    assert main(detokenize) == 0 and "warning" not in capsys.readouterr().err  # a decoder phase keeps the codes
    with torch.no_grad():
        next(tokenizer.encoder.parameters()).add_(0.1)
    tokenizer.save_pretrained(folder)
    assert main(detokenize) == 0
    err = capsys.readouterr().err
    assert "encodes videos otherwise than the one that wrote these codes" in err and f"made by {folder}" in err
    assert meta["codebook"] == tokenizer.codebook_size
    other = ["detokenize", str(codes_path), "-o", str(tmp_path / "other.mp4"), "--tokenizer", "natural"]
    assert main(other) == 2  # 64,000 codes: any of these codes decodes, to noise
    assert (f"its codes come from a tokenizer of {tokenizer.codebook_size} codes ({folder}) (codes.meta.json); "
            f"natural has 64000: its video would be noise. Give --tokenizer {folder}") in capsys.readouterr().err
    stale = dict(meta, frames=meta["frames"] + 4)  # a record of other codes: its advice (--tokenizer, --fps) is followed
    (tmp_path / "codes.meta.json").write_text(json.dumps(stale))
    assert main(other) == 2 and "remove it, or give --tokenizer and --fps" in capsys.readouterr().err
    assert main([*other, "--fps", "8"]) == 0
    capsys.readouterr()
    del meta["tokenizer_codes"], meta["codebook"]  # a file written before the records
    (tmp_path / "codes.meta.json").write_text(json.dumps(meta))
    assert main(detokenize) == 0 and "warning" not in capsys.readouterr().err


def test_an_image_round_trips_to_an_image(ckpt, tmp_path, capsys):
    from arvid.data.images import save_png

    save_png(tmp_path / "still.png", np.random.default_rng(0).integers(0, 256, (40, 48, 3), np.uint8))
    assert main(["tokenize", str(tmp_path / "still.png"), "-o", str(tmp_path / "c.npy"), "--tokenizer", ckpt,
                 "--size", "native"]) == 0
    assert main(["detokenize", str(tmp_path / "c.npy"), "-o", str(tmp_path / "back.png")]) == 0
    assert "an image of 40x48 (h x w)" in capsys.readouterr().out
    assert np.asarray(Image.open(tmp_path / "back.png")).shape == (40, 48, 3)
    np.save(tmp_path / "video.npy", np.zeros((2, 4, 4), np.int32))
    assert main(["detokenize", str(tmp_path / "video.npy"), "-o", str(tmp_path / "v.png"), "--tokenizer", ckpt]) == 2
    assert "holds 2 latent frames, a video: write an .mp4 or .gif" in capsys.readouterr().err


def test_a_meta_file_arvid_did_not_write_is_left_alone(ckpt, clip, tmp_path, capsys):
    (tmp_path / "codes.meta.json").write_text('{"mine": 1}')
    assert main(["tokenize", clip, "-o", str(tmp_path / "codes.npy"), "--tokenizer", ckpt]) == 0
    assert (tmp_path / "codes.meta.json").read_text() == '{"mine": 1}'
    assert "is not arvid's" in capsys.readouterr().err
    assert main(["detokenize", str(tmp_path / "codes.npy"), "-o", str(tmp_path / "v.gif"), "--tokenizer", ckpt]) == 0


@pytest.fixture(scope="module")
def carphone():
    from arvid.data.samples import sample_clip_path

    try:
        return str(sample_clip_path("carphone_pristine.mp4"))  # 144x176 (h x w), 29.97 fps
    except FileNotFoundError as err:
        pytest.skip(str(err))


def test_tokenize_native_round_trips_at_the_clip_size(ckpt, carphone, tmp_path, capsys):
    codes_path, video_path = tmp_path / "codes.npy", tmp_path / "out.mp4"
    assert main(["tokenize", carphone, "-o", str(codes_path), "--tokenizer", ckpt, "--size", "native",
                 "--max-frames", "5"]) == 0
    assert np.load(codes_path).shape == (2, 18, 22)  # 144x176 is a multiple of 8 already: nothing cropped
    assert main(["detokenize", str(codes_path), "-o", str(video_path), "--tokenizer", ckpt]) == 0
    assert read_video(video_path).shape == (5, 144, 176, 3)
    assert "codes 2x18x22 -> 5 frames of 144x176 (h x w) at 29.97 fps" in capsys.readouterr().out


def test_tokenize_at_a_height_and_width(ckpt, clip, tmp_path):
    codes_path = tmp_path / "codes.npy"
    assert main(["tokenize", clip, "-o", str(codes_path), "--tokenizer", ckpt, "--size", "48x40"]) == 0
    assert np.load(codes_path).shape == (3, 6, 5)


@pytest.mark.parametrize("grid, frame_size", [((2, 2), (16, 16)), ((8, 8), (64, 64)), ((4, 5), (32, 40)),
                                              ((1, 1), (8, 8))])
def test_detokenize_decodes_any_grid_and_says_the_frame_size(grid, frame_size, ckpt, tmp_path, capsys):
    """Grids other than the trained 4x4 decode to other frame sizes, and the message says which (a (3, 4, 4)
    array of the shipped tokenizer's 8x8 grid makes 32x32 frames, no longer silently)."""
    np.save(tmp_path / "codes.npy", np.zeros((3, *grid), np.int32))
    assert main(["detokenize", str(tmp_path / "codes.npy"), "-o", str(tmp_path / "v.gif"), "--tokenizer", ckpt]) == 0
    assert read_video(tmp_path / "v.gif").shape == (9, *frame_size, 3)
    assert f"-> 9 frames of {frame_size[0]}x{frame_size[1]} (h x w)" in capsys.readouterr().out


def test_detokenize_odd_frame_sizes_need_a_gif(tmp_path, capsys):
    """A tokenizer with spatial factor 1 makes a 3x3 grid into 3x3 frames: no mp4 (yuv420p), a gif is fine."""
    config = TokenizerConfig(image_size=4, channels=8, channel_multipliers=(1,), time_downsample=(), patch_size=1,
                             norm_groups=4, codebook_bits=4)
    VideoTokenizer(config).save_pretrained(tmp_path / "tok")
    np.save(tmp_path / "codes.npy", np.zeros((2, 3, 3), np.int32))
    args = ["detokenize", str(tmp_path / "codes.npy"), "--tokenizer", str(tmp_path / "tok"), "-o"]
    assert main([*args, str(tmp_path / "v.mp4")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "codes.npy" in err and "3x3 (h x w) frames" in err and "even" in err, err
    assert not (tmp_path / "v.mp4").exists()
    assert main([*args, str(tmp_path / "v.gif")]) == 0
    assert read_video(tmp_path / "v.gif").shape == (2, 3, 3, 3)


@pytest.mark.parametrize("args,message", [
    (["tokenize", "missing.mp4", "-o", "{tmp}/c.npy"], "no such file"),
    (["tokenize", "{clip}", "-o", "{tmp}/c.txt"], "must end in one of .npy"),
    (["tokenize", "{clip}", "-o", "{tmp}/nowhere/c.npy"], "does not exist"),
    (["tokenize", "{clip}", "-o", "{tmp}/c.npy", "--max-frames", "0"], "--max-frames"),
    (["tokenize", "{clip}", "-o", "{tmp}/c.npy", "--tokenizer", "{tmp}/no-model"], "no checkpoint"),
    (["detokenize", "{tmp}/bad.npy", "-o", "{tmp}/v.mp4"], "cannot read codes .*: not a .npy file"),
    (["detokenize", "{tmp}/big.npy", "-o", "{tmp}/v.mp4"], "\\[0, 64\\), .*another tokenizer\\? Name it with --tokenizer"),
    (["detokenize", "{tmp}/flat.npy", "-o", "{tmp}/v.mp4"], "shape \\(t', h', w'\\)"),
    (["detokenize", "{tmp}/big.npy", "-o", "{tmp}/v.avi"], "must end in"),
    (["eval-tokenizer", "--videos", "missing.mp4", "--shapes-videos", "0", "--out", "{tmp}/ev"], "no such file"),
])
def test_bad_input_exits_2_with_message(args, message, ckpt, clip, tmp_path, capsys):
    (tmp_path / "bad.npy").write_text("not numpy")
    np.save(tmp_path / "big.npy", np.full((2, 4, 4), 64, np.int32))
    np.save(tmp_path / "flat.npy", np.zeros((4, 4), np.int32))
    args = [a.format(tmp=tmp_path, clip=clip) for a in args]
    if "--tokenizer" not in args:
        args += ["--tokenizer", ckpt]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("arvid: error:") and re.search(message, err), err


def test_eval_tokenizer_leaves_no_folder_after_bad_input_and_reads_an_image_at_the_assumed_rate(ckpt, tmp_path):
    assert main(["eval-tokenizer", "--tokenizer", ckpt, "--videos", str(tmp_path / "missing.mp4"),
                 "--shapes-videos", "0", "--out", str(tmp_path / "ev")]) == 2
    assert not (tmp_path / "ev").exists()
    from arvid.data.images import save_png

    save_png(tmp_path / "still.png", np.random.default_rng(0).integers(0, 256, (40, 40, 3), np.uint8))
    assert main(["eval-tokenizer", "--tokenizer", ckpt, "--videos", str(tmp_path / "still.png"), "--shapes-videos", "0",
                 "--out", str(tmp_path / "ev")]) == 0
    clip = json.loads((tmp_path / "ev" / "results.json").read_text())["real"]["32x32"]["clips"]["still.png"]
    assert clip["frames"] == 1 and clip["fps_assumed"] and clip["fps"] == 8.0


def test_eval_tokenizer_reads_folders_and_manifests_skipping_their_unreadable_files(ckpt, tmp_path, capsys):
    from arvid.data.images import save_png

    (tmp_path / "mine" / "deeper").mkdir(parents=True)
    save_png(tmp_path / "mine" / "deeper" / "still.png", np.random.default_rng(0).integers(0, 256, (40, 40, 3), np.uint8))
    (tmp_path / "mine" / "broken.mp4").write_bytes(b"not a video")
    run = ["eval-tokenizer", "--tokenizer", ckpt, "--shapes-videos", "0", "--videos"]
    assert main([*run, str(tmp_path / "mine"), "--out", str(tmp_path / "ev")]) == 0
    assert "warning: skipped" in capsys.readouterr().err
    clips = json.loads((tmp_path / "ev" / "results.json").read_text())["real"]["32x32"]["clips"]
    assert set(clips) == {"still.png"}
    (tmp_path / "list.jsonl").write_text('{"path": "mine/deeper/still.png", "caption": "noise"}\n')
    assert main([*run, str(tmp_path / "list.jsonl"), "--out", str(tmp_path / "ev2")]) == 0
    # A file named on the command line is not skipped: it stops the run, as does a source with nothing readable.
    assert main([*run, str(tmp_path / "mine" / "broken.mp4"), "--out", str(tmp_path / "ev3")]) == 2
    (tmp_path / "mine" / "deeper" / "still.png").unlink()
    assert main([*run, str(tmp_path / "mine"), "--out", str(tmp_path / "ev4")]) == 2
    assert "no readable video or image" in capsys.readouterr().err and not (tmp_path / "ev4").exists()


def test_eval_tokenizer_writes_results(ckpt, clip, tmp_path):
    out = tmp_path / "ev"
    assert main(["eval-tokenizer", "--tokenizer", ckpt, "--shapes-videos", "2", "--frames", "5", "--videos", clip,
                 "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert set(results) == {"complete", "shapes_heldout", "real"} and set(results["real"]) == {"32x32"}  # the trained size
    assert results["complete"] is True
    assert 0 < results["shapes_heldout"]["psnr"] < 100
    assert 0 < results["real"]["32x32"]["clips"]["clip.mp4"]["methods"]["arvid"]["psnr"] < 100
    assert (out / "clip_32x32.png").is_file() and (out / "shapes_heldout.png").is_file()


def test_eval_tokenizer_of_shapes_videos_alone(ckpt, tmp_path):
    """`--videos` with no file: the shapes videos only (it failed on the real clips' missing table)."""
    out = tmp_path / "ev"
    assert main(["eval-tokenizer", "--tokenizer", ckpt, "--shapes-videos", "1", "--frames", "5", "--videos",
                 "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["complete"] is True and results["real"] == {} and "psnr" in results["shapes_heldout"]


def test_eval_tokenizer_keeps_an_evaluation_unless_told_to_replace_it(ckpt, clip, tmp_path, capsys, monkeypatch):
    # A second run into the same folder replaced results.json and left the first run's strips beside it.
    out, run = tmp_path / "ev", ["eval-tokenizer", "--tokenizer", ckpt, "--shapes-videos", "0", "--videos", clip]
    assert main([*run, "--sizes", "16", "--out", str(out)]) == 0
    for mine in ("mine.png", "holiday_640x480.png", "frame_native.png"):  # files of the user's, named like strips
        (out / mine).write_bytes(b"not a strip")
    assert main([*run, "--out", str(out)]) == 2
    assert "holds an evaluation already (results.json): give --overwrite" in capsys.readouterr().err
    assert main([*run, "--out", str(out), "--overwrite"]) == 0
    assert sorted(path.name for path in out.iterdir()) == ["clip_32x32.png", "frame_native.png", "holiday_640x480.png",
                                                           "mine.png", "results.json"]
    pictures = tmp_path / "pictures"  # no evaluation there: --overwrite removes nothing
    pictures.mkdir()
    (pictures / "clip_16x16.png").write_bytes(b"mine")
    assert main([*run, "--out", str(pictures), "--overwrite"]) == 0 and (pictures / "clip_16x16.png").is_file()
    monkeypatch.chdir(tmp_path)  # without --out: a new folder each run, as eval-video's
    assert main(run) == 0 and main(run) == 0
    assert (tmp_path / "runs" / "eval-tokenizer" / "results.json").is_file()
    assert (tmp_path / "runs" / "eval-tokenizer-2" / "results.json").is_file()


def test_an_eval_tokenizer_run_stopped_mid_size_lists_its_strips(ckpt, clip, tmp_path, monkeypatch):
    """Stopped at a size's second clip: results.json holds the first clip and says the run did not
    finish, so --overwrite removes the strip it wrote (it was left behind when a size's entry was
    written only at the size's end)."""
    import arvid.tokenizer.compare as comparing  # the command imports `compare` from it when it runs

    for name in ("a.mp4", "b.mp4"):
        shutil.copy(clip, tmp_path / name)
    compare, calls = comparing.compare, []

    def stopped_at_the_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return compare(*args, **kwargs)

    monkeypatch.setattr(comparing, "compare", stopped_at_the_second)
    out, run = tmp_path / "ev", ["eval-tokenizer", "--tokenizer", ckpt, "--shapes-videos", "0", "--out", str(tmp_path / "ev")]
    assert main([*run, "--videos", str(tmp_path / "a.mp4"), str(tmp_path / "b.mp4")]) == 130
    results = json.loads((out / "results.json").read_text())
    assert results["complete"] is False and list(results["real"]["32x32"]["clips"]) == ["a.mp4"]
    assert (out / "a_32x32.png").is_file()
    monkeypatch.setattr(comparing, "compare", compare)
    assert main([*run, "--overwrite", "--videos", str(tmp_path / "b.mp4")]) == 0
    assert sorted(path.name for path in out.iterdir()) == ["b_32x32.png", "results.json"]


def test_eval_tokenizer_gives_each_clip_its_own_strip_and_reads_a_file_once(ckpt, clip, tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        shutil.copy(clip, tmp_path / folder / "x.mp4")
    Image.new("RGB", (48, 48), "red").save(tmp_path / "a" / "x.png")
    out = tmp_path / "ev"
    again = Path(os.path.relpath(tmp_path / "a" / "x.mp4"))  # the same file, spelt another way
    videos = [str(tmp_path / "a" / "x.mp4"), str(tmp_path / "b" / "x.mp4"), str(tmp_path / "a" / "x.png"), str(again)]
    assert main(["eval-tokenizer", "--tokenizer", ckpt, "--shapes-videos", "0", "--out", str(out), "--videos", *videos]) == 0
    clips = json.loads((out / "results.json").read_text())["real"]["32x32"]["clips"]
    assert len(clips) == 3  # the file named twice is evaluated once
    strips = [entry["strip"] for entry in clips.values()]
    assert sorted(strips) == ["x_32x32-2.png", "x_32x32-3.png", "x_32x32.png"]
    assert all((out / strip).is_file() for strip in strips)
    # --overwrite removes exactly the strips that run listed.
    assert main(["eval-tokenizer", "--tokenizer", ckpt, "--shapes-videos", "0", "--out", str(out), "--overwrite",
                 "--videos", str(tmp_path / "b" / "x.mp4")]) == 0
    assert sorted(path.name for path in out.iterdir()) == ["results.json", "x_32x32.png"]


def test_an_eval_tokenizer_run_stopped_at_once_leaves_a_results_json_that_says_so(ckpt, clip, tmp_path, monkeypatch):
    """Stopped in its first stage (--overwrite of a finished run): the replaced run's strips are gone,
    so results.json must no longer claim to be that whole run."""
    import arvid.tokenizer.evaluate as evaluating

    out, run = tmp_path / "ev", ["eval-tokenizer", "--tokenizer", ckpt, "--frames", "5", "--out", str(tmp_path / "ev")]
    assert main([*run, "--shapes-videos", "0", "--videos", clip]) == 0

    def stopped(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(evaluating, "evaluate", stopped)
    assert main([*run, "--shapes-videos", "1", "--overwrite", "--videos", clip]) == 130
    assert json.loads((out / "results.json").read_text()) == {"complete": False}
    assert sorted(path.name for path in out.iterdir()) == ["results.json"]
    # Stopped while the replaced run's strips are removed: results.json already says incomplete.
    monkeypatch.undo()
    assert main([*run, "--shapes-videos", "0", "--overwrite", "--videos", clip]) == 0
    monkeypatch.setattr(Path, "unlink", stopped)
    assert main([*run, "--shapes-videos", "0", "--overwrite", "--videos", clip]) == 130
    assert json.loads((out / "results.json").read_text()) == {"complete": False}


def test_eval_tokenizer_says_when_its_folder_cannot_be_written(ckpt, clip, tmp_path, capsys, monkeypatch):
    def refused(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "write_text", refused)  # results.json is written through it
    assert main(["eval-tokenizer", "--tokenizer", ckpt, "--shapes-videos", "0", "--videos", clip,
                 "--out", str(tmp_path / "ev")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("arvid: error: cannot write ") and "results.json.partial: Permission denied" in err
    assert "Traceback" not in err


def test_eval_tokenizer_writes_an_infinite_psnr_as_valid_json(ckpt, tmp_path):
    flat = tmp_path / "flat.png"
    Image.new("RGB", (32, 32), (90, 90, 90)).save(flat)  # the bicubic thumbnail of a flat image is the image
    out = tmp_path / "ev"
    assert main(["eval-tokenizer", "--tokenizer", ckpt, "--shapes-videos", "0", "--videos", str(flat), "--out", str(out)]) == 0
    text = (out / "results.json").read_text()
    assert "Infinity" not in text and "NaN" not in text
    methods = json.loads(text)["real"]["32x32"]["clips"]["flat.png"]["methods"]
    assert methods["bicubic"]["psnr"] == "inf" and isinstance(methods["arvid"]["psnr"], float)


def test_eval_tokenizer_sizes_and_baselines(ckpt, carphone, tmp_path, capsys):
    out = tmp_path / "ev"
    assert main(["eval-tokenizer", "--tokenizer", ckpt, "--sizes", "64", "native", "--shapes-videos", "0",
                 "--videos", carphone, "--real-frames", "9", "--out", str(out)]) == 0
    results = json.loads((out / "results.json").read_text())
    assert set(results) == {"complete", "real"} and set(results["real"]) == {"64x64", "native"}
    captured = capsys.readouterr()
    assert "[1/2] carphone_pristine.mp4 at 64x64 (9 frames)" in captured.err  # a line a clip, as each starts
    assert "[2/2] carphone_pristine.mp4 at native" in captured.err
    for size, shape, grid in [("64x64", (64, 64), [3, 8, 8]), ("native", (144, 176), [3, 18, 22])]:
        clip = results["real"][size]["clips"]["carphone_pristine.mp4"]
        assert (clip["frames"], clip["height"], clip["width"], clip["latent_shape"]) == (9, *shape, grid)
        assert clip["fps"] == pytest.approx(30000 / 1001) and not clip["fps_assumed"]
        methods = clip["methods"]
        assert set(methods) == {"arvid", "bicubic", "h264"} == set(results["real"][size]["mean"])
        # 6 bits a code, t' x h' x w' codes over 9 frames at 29.97 fps.
        assert methods["arvid"]["bits_per_second"] == pytest.approx(6 * np.prod(grid) * 30000 / 1001 / 9)
        assert methods["h264"]["target_bits_per_second"] == methods["arvid"]["bits_per_second"]
        assert methods["h264"]["bits_per_second"] > 0 and methods["h264"]["encode_fps"] > 0
        assert all(0 < methods[m]["psnr"] < 100 and 0 < methods[m]["ssim"] <= 1 for m in methods)
        assert methods["bicubic"]["codebook_usage"] is None and methods["arvid"]["codebook_usage"] > 0
        assert (out / f"carphone_pristine_{size}.png").is_file()
    printed = captured.out
    assert "size native" in printed and "144x176" in printed
    assert sum(line.startswith("carphone_pristine.mp4") for line in printed.splitlines()) == 6


def test_every_command_that_runs_a_model_takes_device():
    commands = build_parser()._subparsers._group_actions[0].choices
    assert {name for name, parser in commands.items()
            if any("--device" in action.option_strings for action in parser._actions)} == set(MODEL_COMMANDS)


def test_device_cpu_and_a_model_folder_for_tokenizer(ckpt, clip, tmp_path):
    codes = tmp_path / "codes.npy"
    assert main(["tokenize", clip, "-o", str(codes), "--tokenizer", ckpt, "--device", "cpu"]) == 0
    # --tokenizer also takes the model folder that holds tokenizer/.
    assert main(["detokenize", str(codes), "-o", str(tmp_path / "v.gif"), "--tokenizer", str(Path(ckpt).parent),
                 "--device", "cpu"]) == 0


@pytest.mark.parametrize("device, message", [
    ("banana", "unknown device 'banana'"),
    ("cuda:7", "'cuda:7'"),
    ("mps", "not supported"),
])
@pytest.mark.parametrize("command", sorted(MODEL_COMMANDS))
def test_a_device_this_machine_lacks_exits_2(command, device, message, ckpt, clip, tmp_path, capsys):
    if device == "cuda:7" and torch.cuda.device_count() > 7:
        pytest.skip("this machine has a cuda:7")
    (tmp_path / "tokens.ndjson").write_text("")
    np.save(tmp_path / "codes.npy", np.zeros((1, 4, 4), np.int32))
    argv = [a.format(tmp=tmp_path, clip=clip) for a in MODEL_COMMANDS[command]]
    if command not in ("generate", "eval-video"):  # those two would load the shipped model, but stop before
        argv += ["--tokenizer", ckpt]
    assert main([*argv, "--device", device]) == 2
    err = capsys.readouterr().err
    assert err.startswith("arvid: error:") and re.search(re.escape(message), err), err


def test_a_bad_device_is_said_before_a_stream_is_read_and_not_as_the_named_tokenizers_fault(ckpt, clip, tmp_path,
                                                                                              capsys, monkeypatch):
    """`decode -` in a pipe waits for generate's first line (a model to load): a bad --device is said
    before it, and neither command blames the tokenizer its stream or codes file names."""
    import io

    class Unread(io.RawIOBase):  # a pipe whose writer has not written yet: reading it is the bug here
        def readable(self):
            return True

        def readinto(self, buffer):
            raise AssertionError("the stream was read before --device was checked")

    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BufferedReader(Unread())))
    assert main(["decode", "-", "-o", str(tmp_path / "out.gif"), "--device", "banana"]) == 2
    err = capsys.readouterr().err
    assert "unknown device 'banana'" in err and "the tokenizer" not in err, err
    codes = tmp_path / "codes.npy"
    assert main(["tokenize", clip, "-o", str(codes), "--tokenizer", ckpt]) == 0  # its meta names the tokenizer
    capsys.readouterr()
    assert main(["detokenize", str(codes), "-o", str(tmp_path / "out.gif"), "--device", "banana"]) == 2
    err = capsys.readouterr().err
    assert "unknown device 'banana'" in err and "names" not in err, err


def test_decode_repeats_a_bf16_decoders_frames_when_the_stream_says_so(ckpt, clip, tmp_path):
    """`generate --bf16-decoder` records `bf16_decoder` in its stream; `decode` then decodes in bf16 too,
    giving the writer's frames (in float32 a quarter of a GIF's pixels differed)."""
    import warnings

    from arvid.data.token_stream import write_token_frame
    from arvid.tokenizer import VideoTokenizer
    from arvid.tools.checkpoints import codes_origin

    tokenizer = VideoTokenizer.from_pretrained(ckpt)
    codes_path = tmp_path / "codes.npy"
    assert main(["tokenize", clip, "-o", str(codes_path), "--tokenizer", ckpt]) == 0
    codes = np.load(codes_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SoftwareBF16Warning on a CPU without native bf16
        decoder = tokenizer.streaming_decoder(bf16=True)
        expected = np.concatenate([decoder.push_frames(torch.from_numpy(frame)) for frame in codes])
        for bf16 in (True, False):
            stream = tmp_path / f"bf16_{bf16}.ndjson"
            with open(stream, "w") as out:
                for index, frame in enumerate(codes):
                    origin = codes_origin(tokenizer, 8.0, bf16_decoder=bf16) if index == 0 else None
                    write_token_frame(out, index, frame.astype(np.int64), origin=origin)
            assert ('"bf16_decoder": true' in stream.read_text()) == bf16
            assert main(["decode", str(stream), "-o", str(tmp_path / f"bf16_{bf16}.gif")]) == 0
        # --no-bf16-decoder decodes such a stream in float32 (on a CPU that would emulate bf16).
        assert main(["decode", str(tmp_path / "bf16_True.ndjson"), "-o", str(tmp_path / "asked.gif"),
                     "--no-bf16-decoder"]) == 0
    decoded = {bf16: read_video(tmp_path / f"bf16_{bf16}.gif") for bf16 in (True, False)}
    written = read_video(_gif_of(expected, tmp_path / "expected.gif"))
    assert np.array_equal(decoded[True], written) and not np.array_equal(decoded[False], written)
    assert np.array_equal(read_video(tmp_path / "asked.gif"), decoded[False])


def _gif_of(frames: np.ndarray, path: Path) -> Path:
    from arvid.data.video_writer import write_video

    write_video(path, frames, fps=8)
    return path


def test_decode_will_not_write_over_its_token_stream(ckpt, clip, tmp_path, capsys):
    """A stream may have a video's name (`generate --tokens-out` takes any): `decode s.gif -o s.gif` would
    replace it; refused, the stream kept. So for `detokenize` and its codes file."""
    stream = tmp_path / "tokens.gif"
    stream.write_text('{"frame": 0}\n')
    assert main(["decode", str(stream), "-o", str(stream), "--tokenizer", ckpt]) == 2
    assert "is the token stream, which writing would replace" in capsys.readouterr().err
    assert stream.read_text() == '{"frame": 0}\n'
    codes = tmp_path / "codes.gif"
    np.save(tmp_path / "codes.npy", np.zeros((1, 4, 4), np.int32))
    (tmp_path / "codes.npy").rename(codes)
    assert main(["detokenize", str(codes), "-o", str(codes), "--tokenizer", ckpt]) == 2
    assert "is the codes file, which writing would replace" in capsys.readouterr().err
    assert np.load(codes).shape == (1, 4, 4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_tokenize_round_trip_on_cuda(ckpt, clip, tmp_path):
    codes = tmp_path / "codes.npy"
    assert main(["tokenize", clip, "-o", str(codes), "--tokenizer", ckpt, "--device", "cuda"]) == 0
    on_cpu = tmp_path / "cpu.npy"
    assert main(["tokenize", clip, "-o", str(on_cpu), "--tokenizer", ckpt, "--device", "cpu"]) == 0
    assert np.load(codes).shape == np.load(on_cpu).shape
    assert main(["detokenize", str(codes), "-o", str(tmp_path / "v.gif"), "--tokenizer", ckpt,
                 "--device", "cuda:0"]) == 0


def test_a_folder_named_like_a_shipped_tokenizer_wins_and_is_said(tmp_path, monkeypatch, capsys):
    from arvid.tools.checkpoints import tokenizer_folder
    from arvid.weights import shipped_tokenizer_dir

    monkeypatch.chdir(tmp_path)
    assert tokenizer_folder("natural") == shipped_tokenizer_dir("natural") and capsys.readouterr().err == ""
    (tmp_path / "natural").mkdir()
    (tmp_path / "natural" / "config.json").write_text("{}")
    assert tokenizer_folder("natural") == Path("natural")
    assert "reads the folder " + str(tmp_path / "natural") + " here, not the shipped natural" in capsys.readouterr().err


def test_eval_tokenizer_notes_an_h264_row_that_took_far_more_bits_than_asked(capsys):
    from arvid.tools.eval_tokenizer import _print_size

    def figures(taken, target):
        return {"psnr": 20.0, "ssim": 0.5, "detail": 0.3, "bits_per_second": taken, "target_bits_per_second": target,
                "codebook_usage": None, "encode_fps": None, "decode_fps": None}

    clip = {"frames": 9, "height": 64, "width": 64, "fps": 8.0, "fps_assumed": False}
    result = {"clips": {"short.avi": {**clip, "methods": {"h264": figures(14769, 7860)}},
                        "long.mp4": {**clip, "methods": {"h264": figures(8000, 7860)}}},
              "mean": {"h264": figures(11000, 7860)}}
    _print_size("64", result)
    out = capsys.readouterr().out
    assert "note: H.264 took over 1.25x the tokenizer's rate on short.avi (14,769 against 7,860) bits/s" in out
    assert "long.mp4 (" not in out
