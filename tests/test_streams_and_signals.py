"""`arvid generate` / `arvid decode`: files that survive kill -9, signals at any moment, exact frame
counts, token-stream errors, bad options and outputs, prompt checks, progress on a non-terminal."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction

import av
import numpy as np
import pytest
from lm_fixtures import write_tiny_model

from arvid.data.token_stream import read_token_frames
from arvid.data.video import probe_video, read_video
from arvid.data.video_writer import VideoWriter, write_video
from arvid.lm.checkpoint import VideoLM
from arvid.sampling import SamplerConfig, stream
from arvid.tokenizer import VideoTokenizer
from arvid.tools.cli import main
from arvid.tools.progress import ProgressLine

FACTOR = 4  # the tiny tokenizer's video frames per latent frame after the first


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return write_tiny_model(tmp_path_factory.mktemp("model"))


def _records(path) -> list:
    with open(path, "rb") as lines:
        return list(read_token_frames(lines, str(path)))


def _arvid(*argv: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "arvid.tools.cli", *argv], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, env=os.environ | {"OMP_NUM_THREADS": "1"}, **kwargs)


def _wait_for(condition, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _lines(path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


# -- 1. a kill -9 loses at most the latent frame in progress -------------------------------------

def _frame(index: int) -> np.ndarray:
    frame = np.zeros((32, 48, 3), np.uint8)
    frame[:, 4 * index:4 * index + 4] = 255  # a bar whose place says the frame's index
    return frame


@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
def test_a_streaming_writer_killed_outright_keeps_every_frame_written(tmp_path, suffix):
    path = tmp_path / f"killed{suffix}"
    script = (f"import os, signal\nfrom arvid.data.video_writer import VideoWriter\nfrom test_streams_and_signals import _frame\n"
              f"writer = VideoWriter({str(path)!r}, fps=8, streaming=True)\n"
              f"for index in range(10):\n    writer.write(_frame(index))\n"
              f"os.kill(os.getpid(), signal.SIGKILL)\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=os.path.dirname(__file__), capture_output=True)
    assert result.returncode == -signal.SIGKILL, result.stderr.decode()
    # FFmpeg itself, not read_video: that refuses a GIF without its trailer byte (which only close() writes),
    # as a cut-short file; players show such a GIF.
    with av.open(str(path)) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    # arvid's muxers write each frame as it comes (FFmpeg's held the last one back).
    assert [int(np.argmax(frame[0, :, 0])) // 4 for frame in frames] == list(range(10))


@pytest.mark.parametrize("suffix", [".mp4", ".gif"])
def test_a_streaming_writer_closed_normally_is_a_whole_seekable_file(tmp_path, suffix):
    path = tmp_path / f"closed{suffix}"
    with VideoWriter(path, fps=8, streaming=True) as writer:
        for index in range(11):
            writer.write(_frame(index))
    info = probe_video(path)
    assert (info.frames, info.fps) == (11, 8.0)
    assert info.duration_s == pytest.approx(11 / 8, abs=0.01)  # a GIF's delays are in centiseconds
    frames = read_video(path)
    assert [int(np.argmax(frame[0, :, 0])) // 4 for frame in frames] == list(range(11))
    with av.open(str(path)) as container:  # seek to 1 s: the frame shown there is frame 8 or a keyframe before it
        video = container.streams.video[0]
        container.seek(int(Fraction(1) / video.time_base), stream=video)
        assert next(container.decode(video)).pts * video.time_base <= 1


def test_generate_killed_outright_leaves_files_with_every_completed_latent_frame(model_dir, tmp_path):
    video, tokens = tmp_path / "live.mp4", tmp_path / "live.ndjson"
    process = _arvid("generate", "a blue square", "--model", str(model_dir), "--frames", "0",
                     "--first-window-candidates", "1", "-o", str(video), "--tokens-out", str(tokens))
    _wait_for(lambda: _lines(tokens) >= 6, "6 latent frames")
    process.kill()  # SIGKILL
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    records = _records(tokens)  # whole lines only: each is flushed as its latent frame completes
    completed = sum(record.frames for record in records)
    readable = len(read_video(video))
    # A latent frame's video frames are written before its token line, each on disk once written:
    # the video holds every completed latent frame, and at most the one in progress besides.
    assert completed <= readable <= completed + FACTOR


def test_generate_closed_normally_writes_a_whole_seekable_mp4(model_dir, tmp_path):
    video = tmp_path / "out.mp4"
    assert main(["generate", "a circle", "--model", str(model_dir), "--frames", "11", "-o", str(video)]) == 0
    info = probe_video(video)
    assert (info.frames, info.duration_s) == (11, 11 / 8)
    assert len(read_video(video)) == 11


# -- 2. SIGINT or SIGTERM at any moment: exit 130, no traceback, valid files or none -------------

def _handles_sigterm(pid: int) -> bool:
    """Whether process `pid` has a SIGTERM handler installed (Linux: the SigCgt mask)."""
    status = open(f"/proc/{pid}/status").read()
    caught = int(next(line for line in status.splitlines() if line.startswith("SigCgt:")).split()[1], 16)
    return bool(caught >> (signal.SIGTERM - 1) & 1)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("moment", ["while loading", "before the first frame"])
def test_a_signal_before_the_first_frame_exits_130_and_leaves_no_file(model_dir, tmp_path, sig, moment):
    video, tokens = tmp_path / "out.mp4", tmp_path / "out.ndjson"
    # Many first-window candidates: the first frame is seconds away.
    process = _arvid("generate", "", "--model", str(model_dir), "--first-window-candidates", "500",
                     "-o", str(video), "--tokens-out", str(tokens))
    if moment == "while loading":  # as soon as `arvid generate` handles signals: importing torch, loading models
        _wait_for(lambda: _handles_sigterm(process.pid), "the SIGTERM handler")
    else:
        while b"unconditionally" not in (line := process.stderr.readline()):  # printed once the models are loaded
            assert line, "standard error ended before the models loaded"
    process.send_signal(sig)
    _, err = process.communicate(timeout=60)
    err = err.decode()
    assert process.returncode == 130, err
    assert "Traceback" not in err and "no file written" in err
    assert not video.exists() and not tokens.exists()


@pytest.mark.parametrize("cleared", [True, False])
def test_a_caught_interrupt_exits_130_even_after_an_extension_saw_it(tmp_path, cleared):
    # As when Ctrl-C lands in code an extension runs through PyRun_* while torch imports: CPython then
    # marks the interrupt unhandled, and `python -m` ends by SIGINT (-2) whatever the exit code.
    (tmp_path / "interrupted_cli.py").write_text(
        "import ctypes, sys\nfrom arvid.tools import cli\n"
        "def parser_of(_):\n    ctypes.pythonapi.PyRun_SimpleString(b'raise KeyboardInterrupt')\n"
        "    raise KeyboardInterrupt\n"
        f"cli.build_parser = parser_of\n{'' if cleared else 'cli._forget_caught_interrupt = lambda: None'}\n"
        "sys.exit(cli.main(['generate']))\n")
    result = subprocess.run([sys.executable, "-m", "interrupted_cli"], cwd=tmp_path, capture_output=True)
    assert result.returncode == (130 if cleared else -signal.SIGINT), result.stderr.decode()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupts_deferred_raise_when_the_block_ends(sig):
    from arvid.tools.interrupts import Terminated, interrupts_deferred, sigterm_raises

    reached_the_end = False
    with sigterm_raises(), pytest.raises(KeyboardInterrupt) as raised:
        with interrupts_deferred():
            os.kill(os.getpid(), sig)
            time.sleep(0.05)  # Python runs handlers between bytecodes: this one only notes the signal
            reached_the_end = True
    assert reached_the_end and isinstance(raised.value, Terminated) == (sig == signal.SIGTERM)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored


def test_interrupts_deferred_leave_an_ignored_signal_ignored():
    from arvid.tools.interrupts import interrupts_deferred

    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # as in a job a script started in the background
    try:
        with interrupts_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_interrupts_deferred_off_the_main_thread_change_nothing():
    import threading

    from arvid.tools.interrupts import interrupts_deferred

    errors = []

    def load():
        try:
            with interrupts_deferred():
                pass
        except Exception as err:  # signal.signal refuses other threads: it must not be called there
            errors.append(err)

    worker = threading.Thread(target=load)
    worker.start()
    worker.join()
    assert errors == [] and signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_sigterm_after_frames_keeps_the_same_frames_in_both_files(model_dir, tmp_path):
    video, tokens = tmp_path / "live.gif", tmp_path / "live.ndjson"
    process = _arvid("generate", "a blue square", "--model", str(model_dir), "--frames", "0",
                     "--first-window-candidates", "1", "-o", str(video), "--tokens-out", str(tokens))
    _wait_for(lambda: _lines(tokens) >= 4, "4 latent frames")
    process.terminate()
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130 and "Traceback" not in err.decode()
    assert "interrupted: kept the" in err.decode()
    # Signals land between latent frames, so the video holds exactly the frames the token file lists.
    assert len(read_video(video)) == sum(record.frames for record in _records(tokens))


# -- 3. --frames N is N everywhere: the video, the decoded token stream, the message -------------

@pytest.mark.parametrize("mode", ["text", "image", "continue"])
@pytest.mark.parametrize("frames", [8, 11])
def test_frames_mean_the_same_in_the_video_the_decoded_stream_and_the_message(model_dir, tmp_path, capsys, mode,
                                                                                frames):
    from PIL import Image

    conditions = []
    if mode == "image":
        Image.fromarray(np.full((40, 40, 3), 200, np.uint8)).save(tmp_path / "first.png")
        conditions = ["--image", str(tmp_path / "first.png")]
    elif mode == "continue":
        write_video(tmp_path / "clip.mp4", np.full((13, 32, 32, 3), 90, np.uint8), fps=8)
        conditions = ["--continue", str(tmp_path / "clip.mp4")]
    video, tokens, decoded = tmp_path / "out.gif", tmp_path / "t.ndjson", tmp_path / "decoded.gif"
    assert main(["generate", "a circle", "--model", str(model_dir), "--frames", str(frames), *conditions,
                 "-o", str(video), "--tokens-out", str(tokens)]) == 0
    assert f"\n{frames} frames in " in "\n" + capsys.readouterr().err
    assert len(read_video(video)) == frames
    records = _records(tokens)
    if mode == "continue":  # the clip's last 9 frames prime the decoder; none of them is written
        assert [(r.given, r.frames) for r in records[:3]] == [(True, 0), (True, 0), (True, 0)]
    if mode == "image":  # the image is the video's first frame
        assert (records[0].given, records[0].frames) == (True, 1)
    assert main(["decode", str(tokens), "--tokenizer", str(model_dir), "-o", str(decoded)]) == 0
    assert f"{frames} frames -> " in capsys.readouterr().err
    assert np.array_equal(read_video(decoded), read_video(video))


def test_streams_without_the_frames_field_decode_every_frame_as_before(model_dir, tmp_path, capsys):
    tokens = tmp_path / "t.ndjson"
    assert main(["generate", "a circle", "--model", str(model_dir), "--frames", "6", "--tokens-out",
                 str(tokens)]) == 0
    old = [{key: value for key, value in json.loads(line).items() if key != "frames"}
           for line in tokens.read_text().splitlines()]
    tokens.write_text("".join(json.dumps(record) + "\n" for record in old))
    assert main(["decode", str(tokens), "--tokenizer", str(model_dir), "-o", str(tmp_path / "d.gif")]) == 0
    assert len(read_video(tmp_path / "d.gif")) == 1 + FACTOR * (len(old) - 1)  # 9: every decoded frame


# -- 4. decode: each bad stream is one line naming the file, the line and what was expected -------

_LINE = {"index": 0, "shape": [4, 4], "codes": [[1, 2, 3, 4]] * 4, "given": False}


def _line(**changes) -> str:
    return json.dumps({key: value for key, value in (_LINE | changes).items() if value is not ...}) + "\n"


@pytest.mark.parametrize("content, where, message", [
    (_line(codes=[[1.5, 2, 3, 4]] + [[1, 2, 3, 4]] * 3), ":1:", "codes must be integers, got 1.5"),
    (_line(codes=...), ":1:", "missing 'codes'; expected an object with index, shape and codes"),
    ("[1, 2, 3]\n", ":1:", "expected a JSON object with index, shape and codes, got a JSON list"),
    (b'{"index": 0, \xa5\xff}\n', ":1:", "not UTF-8 text (byte 0xa5 at column 14)"),
    (_line()[:40], ":1:", "the last line is cut short"),
    ("", ":", "no token-stream lines (empty)"),
    ("\n\n", ":", "no token-stream lines (empty)"),
    (_line(shape=[8, 8], codes=[[0] * 8] * 8), ":1:", "latent frame 0 has codes of shape [8, 8]; this tokenizer makes [4, 4]"),
    (_line(codes=[[1, 2, 3, 4]] * 3), ":1:", "codes must be 4 rows of 4 integer codes, as shape [4, 4] says, got 3 rows"),
    (_line(codes=[[1, 2, 3]] * 4), ":1:", "got 3 codes in row 0"),
    (_line(codes=[[64, 2, 3, 4]] + [[1, 2, 3, 4]] * 3), ":1:", "codes must be in [0, 64) (this tokenizer's codebook), got 64"),
    (_line(codes=[[-1, 2, 3, 4]] + [[1, 2, 3, 4]] * 3), ":1:", "codes must be in [0, 64)"),
    (_line(index="0"), ":1:", 'index must be an integer, got "0"'),
    (_line(index=1.0), ":1:", "index must be an integer, got 1.0"),
    (_line(index=1), ":1:", "expected latent frame 0, got index 1"),
    (_line(shape=[4]), ":1:", "shape must be [height, width], two positive integers, got [4]"),
    (_line(given="yes"), ":1:", 'given must be true or false, got "yes"'),
    (_line(frames=2), ":1:", "frames must be an integer in [0, 1]"),
    (_line(anchor=[[1, 2, 3, 4]] * 3), ":1: anchor:", "codes must be 4 rows of 4 integer codes"),
    (_line(anchor=[[64, 2, 3, 4]] + [[1, 2, 3, 4]] * 3), ":1: anchor:", "codes must be in [0, 64)"),
    ("not json\n", ":1:", "not JSON (Expecting value at column 1)"),
])
def test_a_bad_token_stream_exits_2_with_one_line_naming_file_and_line(model_dir, tmp_path, capsys, content, where,
                                                                       message):
    tokens, out = tmp_path / "t.ndjson", tmp_path / "d.mp4"
    tokens.write_bytes(content if isinstance(content, bytes) else content.encode())
    assert main(["decode", str(tokens), "--tokenizer", str(model_dir), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"arvid: error: {tokens}{where}") and message in err, err
    assert not out.exists()


def test_a_bad_line_after_good_ones_keeps_the_frames_before_it(model_dir, tmp_path, capsys):
    tokens, out = tmp_path / "t.ndjson", tmp_path / "d.gif"
    tokens.write_text(_line(frames=1) + _line(index=1)[:40])  # a writer killed mid-line
    assert main(["decode", str(tokens), "--tokenizer", str(model_dir), "-o", str(out)]) == 2
    [error] = capsys.readouterr().err.splitlines()
    assert error.startswith(f"arvid: error: {tokens}:2: the last line is cut short")
    assert error.endswith(f"(kept the 1 frames before it in {out})")
    assert len(read_video(out)) == 1


def test_a_missing_token_file_exits_2_naming_it(model_dir, tmp_path, capsys):
    assert main(["decode", str(tmp_path / "none.ndjson"), "--tokenizer", str(model_dir), "-o",
                 str(tmp_path / "d.mp4")]) == 2
    assert "none.ndjson" in capsys.readouterr().err and not (tmp_path / "d.mp4").exists()


# -- 5. --window 0 and negative numbers ---------------------------------------------------------

def test_a_window_of_0_is_an_error_not_the_trained_window(model_dir, tmp_path, capsys):
    assert main(["generate", "a circle", "--model", str(model_dir), "--window", "0", "-o",
                 str(tmp_path / "out.gif")]) == 2
    assert "--window must be at least 2" in capsys.readouterr().err
    lm = VideoLM.from_pretrained(model_dir / "lm")
    tokenizer = VideoTokenizer.from_pretrained(model_dir / "tokenizer")
    for window in (0, 1, 4):
        with pytest.raises(ValueError, match=r"window_frames must be in \[2, 3\]"):
            stream(lm, tokenizer, "a circle", SamplerConfig(window_frames=window))


@pytest.mark.parametrize("flag", ["--frames", "--seed", "--fps", "--cfg", "--temperature", "--first-window-temperature",
                                  "--top-k", "--top-p", "--first-window-candidates", "--window"])
def test_a_negative_number_for_any_generate_option_exits_2(model_dir, tmp_path, capsys, flag):
    out = tmp_path / "out.gif"
    assert main(["generate", "a circle", "--model", str(model_dir), flag, "-1", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("arvid: error: ") and len(err.splitlines()) == 1 and "-1" in err, err
    assert not out.exists()


# -- 6. unwritable outputs fail before any work, naming the path ---------------------------------

@pytest.mark.parametrize("argv, path", [
    (["generate", "a circle", "-o", "/proc/forbidden.mp4"], "/proc/forbidden.mp4"),
    (["generate", "a circle", "--tokens-out", "/proc/x.ndjson"], "/proc/x.ndjson"),
    (["decode", "{tokens}", "-o", "/proc/x.mp4"], "/proc/x.mp4"),
    (["generate", "a circle", "-o", "{tmp}/same.gif", "--tokens-out", "{tmp}/same.gif"], "same.gif"),
])
def test_an_unwritable_output_fails_before_any_work(tmp_path, capsys, argv, path):
    tokens = tmp_path / "t.ndjson"
    tokens.write_text(_line())
    # A model folder that does not exist: the output is checked first, so its error is the one reported.
    argv = [word.format(tokens=tokens, tmp=tmp_path) for word in argv]
    model = ["--tokenizer" if argv[0] == "decode" else "--model", str(tmp_path / "no-model")]
    assert main([*argv, *model]) == 2
    err = capsys.readouterr().err
    assert path in err and "no-model" not in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "same.gif").exists()


def test_the_output_check_leaves_no_file_and_keeps_an_existing_one(tmp_path, monkeypatch):
    import builtins

    from arvid.tools.errors import UsageError
    from arvid.tools.paths import check_writable

    opened, real_open = [], builtins.open
    monkeypatch.setattr(builtins, "open", lambda file, *rest, **kw: opened.append(str(file)) or real_open(file, *rest, **kw))
    check_writable(tmp_path / "new.ndjson")
    monkeypatch.undo()
    # Never made under its own name, not even for a moment: a reader waiting for it would open a file that vanishes.
    assert str(tmp_path / "new.ndjson") not in opened and not (tmp_path / "new.ndjson").exists()
    (tmp_path / "old.ndjson").write_text("kept")
    check_writable(tmp_path / "old.ndjson")
    assert (tmp_path / "old.ndjson").read_text() == "kept"
    with pytest.raises(UsageError, match="File name too long"):
        check_writable(tmp_path / ("x" * 300 + ".ndjson"))
    assert os.listdir(tmp_path) == ["old.ndjson"]


# -- 7. prompts: the limit is said, unknown pieces are named ------------------------------------

def test_the_prompt_limit_is_in_the_help(capsys):
    with pytest.raises(SystemExit):
        main(["generate", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "(the shipped model reads it with the all-minilm-l6-v2 encoder): up to the text encoder's limit" in help_text


def test_a_prompt_with_pieces_the_text_tokenizer_does_not_know_is_warned_about(model_dir, tmp_path, capsys):
    assert main(["generate", "a red circle 红色的圆 🙂", "--model", str(model_dir), "--frames", "1", "-o",
                 str(tmp_path / "out.gif")]) == 0
    warning = next(line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:"))
    assert "'红色的圆'" in warning and "'🙂'" in warning


def test_a_prompt_of_content_the_model_never_saw_is_warned_about(model_dir, tmp_path, capsys):
    import shutil

    from arvid.shapes.content import template_content_words, write_content_words
    from arvid.weights import default_model_dir

    # The shipped LM carries the words of its training captions (templates and training-pool
    # paraphrases); a copy of the tiny model gets the templates' too.
    shipped = json.loads((default_model_dir("lm") / "content_words.json").read_text())
    assert all(set(words) <= set(shipped[category]) for category, words in template_content_words().items())
    assert "crimson" not in shipped["colour"]  # a held-out paraphrase word: never trained on
    model = tmp_path / "model"
    shutil.copytree(model_dir, model)
    write_content_words(model / "lm", template_content_words())
    warnings = {}
    for prompt in ("a cat walking on the grass", "a red circle moving up", "a ball drifting to the right"):
        assert main(["generate", prompt, "--model", str(model), "--frames", "1", "-o", str(tmp_path / "o.gif")]) == 0
        warnings[prompt] = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warnings["a cat walking on the grass"]) == 1
    assert "names no shape, colour or direction" in warnings["a cat walking on the grass"][0]
    assert "(shapes such as circle, square, triangle; colours such as red," in warnings["a cat walking on the grass"][0]
    assert warnings["a red circle moving up"] == warnings["a ball drifting to the right"] == []


def test_python_callers_are_warned_of_a_prompt_of_unknown_content(model_dir, tmp_path):
    """`stream`, its prompt switches and `stream_batch` warn `UnknownPromptWarning` (the commands print
    their own line instead: the test above sees exactly one); the LM's content words survive a save."""
    import shutil
    import warnings
    from itertools import islice

    from arvid.sampling import UnknownPromptWarning, stream_batch
    from arvid.shapes.content import template_content_words, write_content_words

    model = tmp_path / "model"
    shutil.copytree(model_dir, model)
    write_content_words(model / "lm", template_content_words())
    lm, tokenizer = VideoLM.from_pretrained(model / "lm"), VideoTokenizer.from_pretrained(model / "tokenizer")
    config = SamplerConfig(first_window_candidates=1)
    with pytest.warns(UnknownPromptWarning, match="^'a cat walking on the grass' names nothing this LM's training"):
        stream(lm, tokenizer, "a cat walking on the grass", config)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnknownPromptWarning)
        stream(lm, tokenizer, "a red circle moving up", config)
        stream(lm, tokenizer, "", config)  # unconditional: nothing to name
        stream(lm, tokenizer, "the a", config)  # function words alone ask for nothing
        first = list(islice(stream(lm, tokenizer, "a red circle moving up", config,
                                   prompts=lambda index: "a dog" if index >= 5 else "a red circle moving up"), 5))
    with pytest.warns(UnknownPromptWarning, match="^'a dog' names nothing"):
        list(islice(stream(lm, tokenizer, "a red circle moving up", config,
                           prompts=lambda index: "a dog" if index >= 5 else "a red circle moving up"), len(first) + 1))
    with pytest.warns(UnknownPromptWarning) as caught:
        stream_batch(lm, tokenizer, ["a blue square", "a dog", "a dog"], config)
    assert [str(warning.message).split(" names")[0] for warning in caught] == ["'a dog'"]

    lm.save_pretrained(tmp_path / "saved")
    assert VideoLM.from_pretrained(tmp_path / "saved").content_words == lm.content_words
    (tmp_path / "saved" / "content_words.json").write_text('{"shape": "circle"}')
    with pytest.raises(ValueError, match="content_words.json: not a JSON object of word lists"):
        VideoLM.from_pretrained(tmp_path / "saved")


def test_a_prompt_over_the_limit_is_an_error_that_says_the_limit(model_dir, tmp_path, capsys):
    limit = VideoLM.from_pretrained(model_dir / "lm").config.text_tokens
    prompt = " ".join(["red circle"] * limit)
    assert main(["generate", prompt, "--model", str(model_dir), "-o", str(tmp_path / "out.gif")]) == 2
    err = capsys.readouterr().err
    assert f"this model reads at most {limit}" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "out.gif").exists()


# -- 8. progress on a non-terminal: separate lines, at most about one a second -------------------

class _Log:
    def __init__(self):
        self.text = ""

    def write(self, text):
        self.text += text

    def flush(self):
        pass

    def isatty(self):
        return False


def test_progress_on_a_non_terminal_is_separate_lines_at_most_one_a_second(monkeypatch):
    clock = iter(np.arange(0, 10, 0.1))  # 100 updates over 10 s
    monkeypatch.setattr(time, "monotonic", lambda: float(next(clock)))
    log = _Log()
    progress = ProgressLine(log)
    for done in range(1, 100):
        progress.update(f"frames {done}")
    progress.end()
    lines = log.text.splitlines()
    assert "\r" not in log.text and lines[0] == "frames 1" and lines[-1] == "frames 99"
    assert 9 <= len(lines) <= 11


def test_generate_progress_in_a_log_file_has_no_carriage_returns(model_dir, tmp_path, capsys):
    assert main(["generate", "a circle", "--model", str(model_dir), "--frames", "40", "-o",
                 str(tmp_path / "out.gif")]) == 0
    err = capsys.readouterr().err
    progress = [line for line in err.splitlines() if line.startswith("frames")]
    assert "\r" not in err and "frames 40/40" in err and max(len(line) for line in progress) < 200


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs Linux's /dev/full")
def test_a_full_disk_is_one_line_and_exit_1_not_a_traceback(model_dir, tmp_path, capsys):
    """/dev/full takes the file open and refuses every write with "No space left on device"."""
    assert main(["generate", "a red circle", "--model", str(model_dir), "--frames", "9", "-o", str(tmp_path / "v.gif"),
                 "--tokens-out", "/dev/full"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "arvid: error: cannot write /dev/full: No space left on device" in err
    assert read_video(tmp_path / "v.gif").shape[0] >= 1  # the video written before it stays playable


def test_a_prompt_that_is_not_a_string_is_a_value_error(model_dir):
    from arvid.sampling import stream
    from arvid.tokenizer import VideoTokenizer

    lm = VideoLM.from_pretrained(model_dir / "lm")
    with pytest.raises(ValueError, match="a prompt must be a string"):
        stream(lm, VideoTokenizer.from_pretrained(model_dir / "tokenizer"), None)
