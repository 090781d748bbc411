"""Prompts that change while `arvid generate` streams: the schedule file, its mapping to latent
frames, typed prompts, and the token stream's record of each switch."""

from __future__ import annotations

import io
import json
import time

import numpy as np
import pytest
from lm_fixtures import write_tiny_model

from arvid.data.token_stream import read_token_frames
from arvid.tools.cli import main
from arvid.tools.errors import UsageError
from arvid.tools.prompt_schedule import read_schedule, schedule_warnings, scheduled_prompts, typed_prompts


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return write_tiny_model(tmp_path_factory.mktemp("model"))


def test_a_schedule_line_takes_over_at_the_first_latent_frame_starting_at_or_after_it(tmp_path):
    path = tmp_path / "schedule.tsv"
    path.write_text("# frame\tprompt\n\n5\tsecond\n6\tthird\n13\tfourth\n")
    schedule = read_schedule(str(path))
    assert schedule == [(5, "second"), (6, "third"), (13, "fourth")]
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())  # a byte-order mark, as some editors save
    assert read_schedule(str(path)) == schedule
    path.write_text('5\t""\n9\t\n')  # "" as --interactive reads it: the empty prompt, as nothing after the tab
    assert read_schedule(str(path)) == [(5, ""), (9, "")]
    path.write_text("5\tsecond\n6\tthird\n13\tfourth\n")
    prompts = scheduled_prompts("first", schedule, temporal_factor=4)
    # latent frame k >= 1 starts at video frame 1 + 4 (k - 1): 1, 5, 9, 13, ...
    assert [prompts(index) for index in range(6)] == ["first", "first", "second", "third", "fourth", "fourth"]


@pytest.mark.parametrize("text, message", [
    ("5 no tab\n", ":1: expected FRAME<TAB>PROMPT"),
    ("0\tframe zero\n", ":1: expected FRAME<TAB>PROMPT with FRAME an integer >= 1"),
    ("9\tlater\n5\tearlier\n", ":2: frame 5 is not after frame 9"),
    ("# only a comment\n", "has no FRAME<TAB>PROMPT line"),
    ("\u00b2\tsuperscript two\n", ":1: expected FRAME<TAB>PROMPT with FRAME an integer >= 1"),
])
def test_a_bad_schedule_names_the_file_and_line(tmp_path, text, message):
    path = tmp_path / "bad.tsv"
    path.write_text(text)
    with pytest.raises(UsageError, match=message):
        read_schedule(str(path))


def test_a_schedule_says_which_lines_will_never_be_used():
    # Latent frames start at video frames 1, 5, 9, 13: 9 and 11 take over at 13 together; 30 and 40 are past 24 frames.
    warnings = schedule_warnings([(5, "a"), (10, "b"), (11, "c"), (30, "d"), (40, "e")], temporal_factor=4, frames=24)
    assert warnings == ["the prompts at frames 10 and 11 both take over at frame 13 (a latent frame's first): the one "
                        "at frame 10 is never used",
                        "a switch takes over at a latent frame's first frame (30 at 33, 40 at 41), after the video's "
                        "last frame (23, with --frames 24): never used"]
    assert schedule_warnings([(5, "a"), (9, "b")], temporal_factor=4, frames=0) == []  # --frames 0: no end
    # Frame 22 is before the end of 24 frames, but its line takes over at frame 25: never shown.
    assert "(22 at 25), after the video's last frame (23" in schedule_warnings([(22, "a")], temporal_factor=4, frames=24)[0]
    assert schedule_warnings([(8, "")], temporal_factor=4, frames=0) == [
        "the prompt at frame 8 is empty: from there the video is drawn unconditionally"]


def test_typed_prompts_take_each_line_and_refuse_what_the_model_cannot_read(capsys):
    def check(prompt: str) -> None:
        if len(prompt) > 20:
            raise ValueError("too long")

    prompts = typed_prompts("first", check=check, stdin=io.StringIO("\nsecond\n" + "x" * 30 + "\n"))
    deadline = time.monotonic() + 5
    while prompts(0) == "first" and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.1)
    assert prompts(7) == "second"
    assert "prompt not taken: too long" in capsys.readouterr().err


def test_two_typed_double_quotes_are_the_empty_prompt(capsys):
    # A blank line is ignored, so the empty prompt needs a spelling of its own: "" as on the command line.
    prompts = typed_prompts("first", check=lambda line: None, stdin=io.StringIO('second\n  ""  \n'))
    deadline = time.monotonic() + 5
    while prompts(0) != "" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert prompts(3) == ""
    assert "the empty prompt" in capsys.readouterr().err


def test_generate_records_each_switch_in_the_token_stream(model_dir, tmp_path, capsys):
    schedule, tokens = tmp_path / "schedule.tsv", tmp_path / "tokens.ndjson"
    # The line at 13 differs from the one before only in spacing: the same prompt, no switch.
    schedule.write_text("5\ta blue square moving up\n13\ta blue  square moving up \n")
    assert main(["generate", "a red circle moving left", "--model", str(model_dir), "--frames", "16",
                 "--first-window-candidates", "1", "--prompt-schedule", str(schedule),
                 "--tokens-out", str(tokens)]) == 0
    switched = [json.loads(line).get("prompt") for line in tokens.read_text().splitlines()]
    assert switched[0] == "a red circle moving left" and switched[2] == "a blue square moving up"  # began with, then
    assert switched.count(None) == len(switched) - 2
    assert "from frame 5: 'a blue square moving up'" in capsys.readouterr().err  # said as it happens
    with open(tokens, "rb") as lines:
        assert len(list(read_token_frames(lines, str(tokens)))) == len(switched)  # the decoder reads it as before
    assert main(["decode", str(tokens), "--tokenizer", str(model_dir), "-o", str(tmp_path / "out.gif")]) == 0
    capsys.readouterr()
    assert main(["generate", "a red circle", "--model", str(model_dir), "--prompt-schedule", str(schedule),
                 "--interactive", "--tokens-out", str(tokens)]) == 2
    assert "not both" in capsys.readouterr().err


def test_switches_inside_a_first_window_of_candidates_say_which_one_is_used(model_dir, tmp_path, capsys):
    schedule = tmp_path / "early.tsv"
    schedule.write_text("2\ta blue square moving up\n3\ta green triangle moving down\n")
    assert main(["generate", "a red circle moving left", "--model", str(model_dir), "--frames", "16",
                 "--first-window-candidates", "2", "--prompt-schedule", str(schedule), "-o", str(tmp_path / "x.gif")]) == 0
    err = capsys.readouterr().err
    assert "the switch at frame 3 takes effect at frame" in err and "the one at frame 2 before it is never used" in err
    # Chosen after 2 latent frames (frames 0-4), the rest of the first window follows the switch.
    assert main(["generate", "a red circle moving left", "--model", str(model_dir), "--frames", "16",
                 "--first-window-candidates", "2", "--first-window-choice-frames", "2", "--prompt-schedule",
                 str(schedule), "-o", str(tmp_path / "x.gif")]) == 0
    assert ("frames 0-4 are drawn as several first-window candidates; the switch at frame 3 takes effect at frame 5"
            in capsys.readouterr().err)


def test_a_schedule_counts_a_continued_videos_own_frames(model_dir, tmp_path, capsys):
    """With --continue the video's frame 0 is the first new one (the clip's latent frames come before
    it): a line at frame 12 takes over at frame 12 (it landed on frame 4: the clip's latent frames
    were counted as the video's)."""
    from arvid.data.video_writer import write_video
    from arvid.tools.prompt_schedule import frame_start, scheduled_prompts

    assert frame_start(5, 4, continued=3) == 8 and frame_start(5, 4) == 17
    prompts = scheduled_prompts("a", [(12, "b")], 4, continued=3)
    assert [prompts(index) for index in (5, 6)] == ["a", "b"]  # latent 6 starts at frame 12
    write_video(tmp_path / "clip.mp4", np.full((13, 32, 32, 3), 90, np.uint8), fps=8)
    schedule = tmp_path / "schedule.tsv"
    schedule.write_text("12\ta blue square moving up\n")
    assert main(["generate", "a red circle moving left", "--model", str(model_dir), "--continue", str(tmp_path / "clip.mp4"),
                 "--frames", "16", "--first-window-candidates", "1", "--prompt-schedule", str(schedule),
                 "-o", str(tmp_path / "out.gif")]) == 0
    assert "from frame 12: 'a blue square moving up'" in capsys.readouterr().err


def test_a_switch_from_the_frame_on_screen_records_its_anchor_and_decodes_to_the_same_video(model_dir, tmp_path,
                                                                                            capsys):
    """`--switch-from frame`: the switch's line carries the new anchor's codes, and `arvid decode`,
    starting afresh from them there, writes the very frames `generate` wrote (GIF: lossless here)."""
    from arvid.data.video import read_video

    schedule, tokens, video = tmp_path / "schedule.tsv", tmp_path / "tokens.ndjson", tmp_path / "out.gif"
    schedule.write_text("9\ta blue square moving up\n")
    assert main(["generate", "a red circle moving left", "--model", str(model_dir), "--frames", "21",
                 "--first-window-candidates", "1", "--prompt-schedule", str(schedule), "--switch-from", "frame",
                 "-o", str(video), "--tokens-out", str(tokens)]) == 0
    with open(tokens) as lines:
        records = list(read_token_frames(lines))
    assert [record.anchor is not None for record in records] == [index == 3 for index in range(len(records))]
    assert records[3].anchor.shape == records[3].codes.shape
    decoded = tmp_path / "decoded.gif"
    assert main(["decode", str(tokens), "--tokenizer", str(model_dir), "-o", str(decoded)]) == 0
    assert np.array_equal(read_video(decoded), read_video(video))
    # `--switch-from scratch`: the switch's line says the stream restarted there (its codes a new
    # anchor, one frame), and decoding afresh from it writes the very frames again.
    assert main(["generate", "a red circle moving left", "--model", str(model_dir), "--frames", "21",
                 "--first-window-candidates", "1", "--prompt-schedule", str(schedule), "--switch-from", "scratch",
                 "-o", str(video), "--tokens-out", str(tokens)]) == 0
    with open(tokens) as lines:
        records = list(read_token_frames(lines))
    assert [record.restart for record in records] == [index == 3 for index in range(len(records))]
    assert records[3].frames == 1 and records[3].anchor is None
    assert main(["decode", str(tokens), "--tokenizer", str(model_dir), "-o", str(decoded)]) == 0
    assert np.array_equal(read_video(decoded), read_video(video))
    capsys.readouterr()
    assert main(["generate", "a red circle", "--model", str(model_dir), "--switch-from", "frame", "-o",
                 str(tmp_path / "x.gif")]) == 2
    assert "give --prompt-schedule or --interactive" in capsys.readouterr().err
    assert main(["generate", "a red circle", "--model", str(model_dir), "--prompt-schedule", str(schedule),
                 "--switch-from", "elsewhere", "-o", str(tmp_path / "x.gif")]) == 2
    assert "--switch-from must be one of window, frame, scratch" in capsys.readouterr().err
