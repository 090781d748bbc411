"""`arvid generate` and `arvid decode`: outputs, the token-stream pipeline, interruption, bad input."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from lm_fixtures import write_tiny_model

from arvid.data.token_stream import read_token_frames
from arvid.data.video import read_video
from arvid.data.video_writer import write_video
from arvid.lm.checkpoint import VideoLM
from arvid.sampling import SamplerConfig, generate
from arvid.tokenizer import VideoTokenizer
from arvid.tools.cli import main


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return write_tiny_model(tmp_path_factory.mktemp("model"))


def test_generate_writes_video_and_tokens_that_decode_to_the_same_video(model_dir, tmp_path, capsys):
    # GIF, not mp4: H.264 is not bit-reproducible here. The same frames, written between torch
    # calls as `generate` writes them, encoded to a different bitstream in some runs of 40 (decoded,
    # up to 13 grey levels apart), which made this comparison fail about one run in three. GIF's
    # palette is fitted in PIL and needs no colour conversion: identical in 160 such runs.
    video, tokens = tmp_path / "out.gif", tmp_path / "tokens.ndjson"
    assert main(["generate", "a red circle moving left", "--model", str(model_dir), "--frames", "9", "--seed", "1",
                 "--top-k", "10", "-o", str(video), "--tokens-out", str(tokens)]) == 0
    err = capsys.readouterr().err  # the last line: the first frame's time (the pace after it needs a second of it)
    assert re.search(r"9 frames in [0-9.]+ s -> .*; the first after [0-9.]+ s", err), err
    frames = read_video(video)
    assert frames.shape == (9, 32, 32, 3)
    with open(tokens) as lines:
        records = list(read_token_frames(lines))
    assert [r.index for r in records] == [0, 1, 2] and records[0].codes.shape == (4, 4)
    decoded = tmp_path / "decoded.gif"
    assert main(["decode", str(tokens), "--tokenizer", str(model_dir), "-o", str(decoded)]) == 0
    assert np.array_equal(read_video(decoded), frames)
    # The stream names its tokenizer: decoding needs no --tokenizer, and refuses one of another codebook.
    first = json.loads(tokens.read_text().splitlines()[0])
    assert first["tokenizer"] == str((model_dir / "tokenizer").resolve()) and first["codebook"] == 64
    assert main(["decode", str(tokens), "-o", str(tmp_path / "named.gif")]) == 0
    assert np.array_equal(read_video(tmp_path / "named.gif"), frames)
    capsys.readouterr()
    assert main(["decode", str(tokens), "--tokenizer", "shapes", "-o", str(tmp_path / "noise.gif")]) == 2
    assert "come from a tokenizer of 64 codes" in capsys.readouterr().err and not (tmp_path / "noise.gif").exists()


def test_the_lm_in_bfloat16_generates_what_float32_would_give_greedy(model_dir, tmp_path, monkeypatch):
    """--bf16-lm: the LM's weights (and so its KV cache) in bfloat16, compiled or not; greedy tokens
    agree with float32's in most cells (bfloat16 rounding moves a near tie now and then)."""
    import torch

    from arvid.tools import generate as generate_command

    dtypes = []
    apply = generate_command.apply_runtime_options  # where the command calls it
    monkeypatch.setattr(generate_command, "apply_runtime_options",
                        lambda args, lm: (apply(args, lm), dtypes.append(next(lm.model.parameters()).dtype)))
    made = {}
    for name, extra in (("fp32", []), ("bf16", ["--bf16-lm"])):
        tokens = tmp_path / f"{name}.ndjson"
        assert main(["generate", "a red circle moving left", "--model", str(model_dir), "--frames", "9",
                     "--temperature", "0", "--first-window-temperature", "0", "-o", str(tmp_path / f"{name}.gif"),
                     "--tokens-out", str(tokens), *extra]) == 0
        with open(tokens) as lines:
            made[name] = np.stack([frame.codes for frame in read_token_frames(lines)])
    assert dtypes == [torch.float32, torch.bfloat16]
    assert (made["fp32"] == made["bf16"]).mean() > 0.5


def test_trims_to_the_frame_count_and_conditions(model_dir, tmp_path, capsys):
    out = tmp_path / "a.gif"
    assert main(["generate", "", "--model", str(model_dir), "--frames", "6", "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "unconditionally" in err and "candidate first windows" not in err
    assert len(read_video(out)) == 6
    # Several first windows are drawn whole before the first frame: the progress line says so meanwhile.
    assert main(["generate", "", "--model", str(model_dir), "--frames", "6", "--first-window-candidates", "2",
                 "-o", str(out)]) == 0
    assert "drawing 2 candidate first windows to keep one (motion-medoid): the first frames come after them" in \
        capsys.readouterr().err
    assert main(["generate", "", "--model", str(model_dir), "--frames", "6", "--first-window-candidates", "2",
                 "--first-window-choice-frames", "2", "-o", str(out)]) == 0
    assert "drawing 2 candidate first windows to latent frame 1 (or the first drawn) to keep one" in \
        capsys.readouterr().err
    assert len(read_video(out)) == 6
    image = tmp_path / "first.png"
    write_video(tmp_path / "clip.mp4", np.full((13, 32, 32, 3), 90, np.uint8), fps=8)
    from PIL import Image

    Image.fromarray(np.full((40, 40, 3), 200, np.uint8)).save(image)
    assert main(["generate", "a circle", "--model", str(model_dir), "--image", str(image), "--frames", "4",
                 "--first-window-candidates", "2", "-o", str(tmp_path / "i.mp4")]) == 0
    assert len(read_video(tmp_path / "i.mp4")) == 4  # --frames counts the video's frames, the image the first

    assert main(["generate", "a circle", "--model", str(model_dir), "--continue", str(tmp_path / "clip.mp4"),
                 "--frames", "8", "--tokens-out", str(tmp_path / "c.ndjson"), "-o", str(tmp_path / "c.mp4")]) == 0
    with open(tmp_path / "c.ndjson") as lines:
        given = [r.given for r in read_token_frames(lines)]
    assert given == [True, True, True, False, False]  # the last 9 frames of the clip, then 8 new ones
    assert len(read_video(tmp_path / "c.mp4")) == 8  # only the new frames: the clip is not copied in
    # The output is never the file read: writing it would destroy the clip (or the image) it goes on from.
    before = (tmp_path / "clip.mp4").read_bytes()
    assert main(["generate", "a circle", "--model", str(model_dir), "--continue", str(tmp_path / "clip.mp4"),
                 "-o", str(tmp_path / "clip.mp4")]) == 2
    assert "is the --continue file, which writing would replace" in capsys.readouterr().err
    assert (tmp_path / "clip.mp4").read_bytes() == before
    schedule = tmp_path / "schedule.tsv"  # a token file may have any name: the schedule's too
    schedule.write_text("5\ta blue square\n")
    assert main(["generate", "a circle", "--model", str(model_dir), "--prompt-schedule", str(schedule),
                 "--tokens-out", str(schedule)]) == 2
    assert "is the --prompt-schedule file, which writing would replace" in capsys.readouterr().err
    assert schedule.read_text() == "5\ta blue square\n"


def test_the_waiting_line_stays_until_the_first_drawn_frame(monkeypatch):
    """With --image the image's frame is written first: the line saying that first windows are being
    drawn stays over it, and gives way to the frame count once the model's frames come."""
    import argparse
    from types import SimpleNamespace

    import arvid.tools.progress as progress_module
    from arvid.tools.generate import write_streams

    shown = []

    class Recorder:
        def update(self, text):
            shown.append(text)

        def note(self, text):
            shown.append(text)

        def end(self):
            pass

    class Output:
        frames, fps, opened = 0, 8.0, False

        def write(self, frame, keep):
            self.frames += len(keep)

        def close(self):
            pass

        def where(self):
            return "out.mp4"

    monkeypatch.setattr(progress_module, "ProgressLine", Recorder)
    image = SimpleNamespace(frames=np.zeros((1, 2, 2, 3), np.uint8), given=True, prompt=None)
    drawn = SimpleNamespace(frames=np.zeros((4, 2, 2, 3), np.uint8), given=False, prompt=None)
    args = argparse.Namespace(frames=5, tokens_out=None)
    write_streams(iter([[image], [drawn]]), [Output()], False, args, waiting="drawing candidates")
    assert shown[0] == "drawing candidates" and len(shown) == 2 and "5" in shown[1]


def test_interrupted_generation_keeps_valid_files(model_dir, tmp_path):
    video, tokens = tmp_path / "live.mp4", tmp_path / "live.ndjson"
    process = subprocess.Popen(
        [sys.executable, "-m", "arvid.tools.cli", "generate", "a blue square", "--model", str(model_dir),
         "--frames", "0", "-o", str(video), "--tokens-out", str(tokens)],
        stderr=subprocess.PIPE, env=os.environ | {"OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if tokens.exists() and len(tokens.read_text().splitlines()) >= 4:
            break
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err.decode()
    with open(tokens) as lines:
        records = list(read_token_frames(lines))
    frames = read_video(video)
    assert len(records) >= 4
    # A latent frame is written whole, frames then token line: the files hold the same frames.
    assert len(frames) == 1 + 4 * (len(records) - 1)


@pytest.mark.parametrize("extra, message", [
    (["--frames", "-1"], "--frames must be >= 0"),
    (["-o", "{tmp}/missing/out.mp4"], "does not exist"),
    (["-o", "{tmp}/out.avi"], "must end in one of"),
    (["--window", "9"], "--window (or the generation config's window_frames): window_frames must be in [2, 3]"),
    (["--model", "{tmp}/nothing"], "does not exist"),
    (["--image", "{tmp}/none.png"], "none.png"),
    (["--continue", "{tmp}/bad.mp4"], "bad.mp4"),
    (["--top-p", "2"], "--top-p must be in (0, 1]"),
    (["--top-k", "-3"], "--top-k must be >= 1 (or 0 to keep all)"),
    (["--first-window-temperature", "-1"], "--first-window-temperature must be >= 0"),
    (["--first-window-choice-frames", "1"], "--first-window-choice-frames must be >= 2 (or 0: the whole first window)"),
    (["-o", ""], "-o is empty"),
    (["--tokens-out", " "], "--tokens-out is empty"),
    (["--image", "{tmp}"], "a folder, not a file"),
    (["--tokens-out", "{tmp}/t.ndjson", "--prompt-words", "60"], "reads at most"),
])
def test_bad_input_fails_before_work(model_dir, tmp_path, capsys, extra, message):
    (tmp_path / "bad.mp4").write_bytes(b"not a video")
    extra = [a.format(tmp=tmp_path) for a in extra]
    prompt = "a circle"
    if "--prompt-words" in extra:  # a prompt longer than the model's text slots
        prompt = " ".join(["red circle"] * int(extra.pop(extra.index("--prompt-words") + 1)))
        extra.remove("--prompt-words")
    argv = ["generate", prompt, "--model", str(model_dir), "-o", str(tmp_path / "out.mp4"), *extra]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out.mp4").exists() and not (tmp_path / "t.ndjson").exists()


def test_nothing_to_write_and_bad_token_streams(model_dir, tmp_path, capsys):
    assert main(["generate", "a circle", "--model", str(model_dir)]) == 2
    assert "nothing to write" in capsys.readouterr().err
    (tmp_path / "t.ndjson").write_text('{"index": 0, "shape": [4, 4], "codes": [[1, 2]]}\n')
    assert main(["decode", str(tmp_path / "t.ndjson"), "--tokenizer", str(model_dir), "-o", str(tmp_path / "d.mp4")]) == 2
    assert "t.ndjson:1" in capsys.readouterr().err


def test_the_models_generation_config_is_the_default_and_flags_override_one_field(model_dir, tmp_path):
    folder = shutil.copytree(model_dir, tmp_path / "model")
    SamplerConfig(cfg_scale=2.0, top_k=5, first_window_temperature=0.5, first_window_candidates=2).save_pretrained(
        folder / "lm")

    def tokens(*flags: str) -> list[np.ndarray]:
        path = tmp_path / "tokens.ndjson"
        assert main(["generate", "a red circle moving left", "--model", str(folder), "--frames", "8",
                     "--tokens-out", str(path), *flags]) == 0
        with open(path) as lines:
            return [record.codes for record in read_token_frames(lines)]

    implicit = tokens()
    explicit = tokens("--cfg", "2", "--top-k", "5", "--first-window-temperature", "0.5", "--first-window-candidates",
                      "2", "--temperature", "1", "--seed", "0")
    assert all(np.array_equal(a, b) for a, b in zip(implicit, explicit, strict=True))
    unguided = tokens("--cfg", "1")
    assert not all(np.array_equal(a, b) for a, b in zip(implicit, unguided, strict=True))
    # The Python API reads the same file: generate(..., config=None) draws the same tokens.
    lm = VideoLM.from_pretrained(folder / "lm")
    api = generate(lm, VideoTokenizer.from_pretrained(folder / "tokenizer"), "a red circle moving left", len(implicit))
    assert all(np.array_equal(a, b.codes.numpy()) for a, b in zip(implicit, api, strict=True))


def test_a_bad_generation_config_is_a_usage_error_naming_the_file(model_dir, tmp_path, capsys):
    folder = shutil.copytree(model_dir, tmp_path / "model")
    (folder / "lm" / "generation_config.json").write_text('{"top_k": "many"}')
    assert main(["generate", "a circle", "--model", str(folder), "-o", str(tmp_path / "out.gif")]) == 2
    assert "generation_config.json: top_k must be an integer or null" in capsys.readouterr().err
    assert not (tmp_path / "out.gif").exists()


def test_the_last_line_gives_the_first_frames_time_and_the_pace_after_it(monkeypatch, capsys):
    """On a clock that moves 0.5 s per reading: 1 frame comes first, then 4 frames per latent frame;
    the pace after the first frame is frames per second of video over the seconds after it."""
    import argparse
    import itertools
    from types import SimpleNamespace

    from arvid.tools import generate as generate_tool

    ticks = itertools.count()
    monkeypatch.setattr(generate_tool.time, "monotonic", lambda: 0.5 * next(ticks))
    frames = [SimpleNamespace(frames=np.zeros((1 if i == 0 else 4, 8, 8, 3), np.uint8), given=False, prompt=None)
              for i in range(5)]
    args = argparse.Namespace(frames=17, fps=8.0)
    assert generate_tool.write_streams(([f] for f in frames), [generate_tool.Outputs(None, None, 8.0)], False, args) == 0
    last = capsys.readouterr().err.strip().splitlines()[-1]
    seconds = re.search(r"17 frames in ([0-9.]+) s -> nothing; the first after ([0-9.]+) s", last)
    assert seconds, last
    total, first = float(seconds[1]), float(seconds[2])
    pace = re.search(r"then ([0-9.]+)x real time", last)
    assert pace and abs(float(pace[1]) - 16 / (total - first) / 8.0) < 0.05, last
