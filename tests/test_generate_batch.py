"""`arvid generate --prompts FILE`: several prompts as one batch, a video and token file per prompt,
and what bad usage gets."""

from __future__ import annotations

import json

import pytest
from lm_fixtures import write_tiny_model

from arvid.data.token_stream import read_token_frames
from arvid.data.video import read_video
from arvid.tools.cli import main


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return write_tiny_model(tmp_path_factory.mktemp("model"))


def test_a_prompts_file_writes_a_video_and_a_token_file_per_prompt(model_dir, tmp_path, capsys):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a red circle moving left\n\n  a blue square moving up  \na green triangle\n")
    assert main(["generate", "--prompts", str(prompts), "--model", str(model_dir), "--frames", "9",
                 "-o", str(tmp_path / "v{n}.gif"), "--tokens-out", str(tmp_path / "t{n}.ndjson"), "--pipelined",
                 "--fused", "3"]) == 0
    assert "9 frames each" in capsys.readouterr().err
    for n in range(3):
        assert read_video(tmp_path / f"v{n}.gif").shape == (9, 32, 32, 3)
        with open(tmp_path / f"t{n}.ndjson") as lines:
            assert [r.index for r in read_token_frames(lines)] == [0, 1, 2]
    assert not (tmp_path / "v3.gif").exists()


def test_a_prompts_files_comments_are_not_prompts_and_n_counts_prompts(model_dir, tmp_path, capsys):
    from arvid.tools.text_files import read_prompts

    prompts = tmp_path / "prompts.txt"
    prompts.write_text("# my prompts\na red circle moving left\n\na blue square moving up\n")
    assert read_prompts(str(prompts)) == [(2, "a red circle moving left"), (4, "a blue square moving up")]
    unconditional = tmp_path / "unconditional.txt"
    unconditional.write_text('a red circle moving left\n""\n')  # "" as --interactive reads it
    assert read_prompts(str(unconditional)) == [(1, "a red circle moving left"), (2, "")]
    assert main(["generate", "--prompts", str(prompts), "--model", str(model_dir), "--frames", "1",
                 "-o", str(tmp_path / "v{n}.gif")]) == 0
    assert sorted(path.name for path in tmp_path.glob("v*.gif")) == ["v0.gif", "v1.gif"]
    # eval-video reads the same file the same way: the comment is no prompt.
    assert main(["eval-video", "--prompts", str(prompts), "--model", str(model_dir), "--frames", "5",
                 "-o", str(tmp_path / "scored")]) == 0
    scored = json.loads((tmp_path / "scored" / "scores.json").read_text())
    assert [video["prompt"] for video in scored["videos"]] == ["a red circle moving left", "a blue square moving up"]
    # A prompt the model cannot read is named by its file and line.
    prompts.write_text("a red circle\n# a comment\n" + "word " * 600 + "\n")
    assert main(["generate", "--prompts", str(prompts), "--model", str(model_dir), "--frames", "1",
                 "-o", str(tmp_path / "w{n}.gif")]) == 2
    assert f"{prompts}:3" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    ([], "give a prompt, or --prompts FILE"),
    (["a circle", "--prompts", "{p}"], "not both"),
    (["--prompts", "{p}", "-o", "out.mp4"], "put {n} in it"),
    (["--prompts", "{p}", "--tokens-out", "-"], "put {n} in it"),
    (["--prompts", "{p}", "-o", "{n}.mp4", "--image", "x.png"], "--image takes one prompt"),
    (["--prompts", "{p}"], "nothing to write"),
    (["--prompts", "{empty}", "-o", "{n}.mp4"], "has no prompt"),
    (["--prompts", "missing.txt", "-o", "{n}.mp4"], "cannot read prompts file"),
    (["--prompts", "{p}", "-o", "{n}.mp4", "--frames", "-1"], "--frames must be >= 0"),
    (["--prompts", "{p}", "-o", "{n}.mp4", "--jacobi", "4"], "--jacobi draws one video at a time"),
    (["a circle", "-o", "x.mp4", "--jacobi", "-2"], "--jacobi must be >= 0"),
    (["a circle", "-o", "x.mp4", "--fused", "-1"], "--fused must be >= 0"),
    (["a circle", "-o", "x.mp4", "--fused", "4", "--jacobi", "2"], "two ways of drawing"),
    (["a circle", "-o", "x.mp4", "--threads", "0"], "--threads must be >= 1"),
    (["--prompts", "{p}", "-o", "{n}.mp4", "--threads", "-1"], "--threads must be >= 1"),
    # The prompts file is never written over: a token file may have any name, its own too.
    (["--prompts", "0.txt", "--tokens-out", "{n}.txt"], "is the --prompts file, which writing would replace"),
])
def test_bad_batch_usage_is_a_one_line_error(model_dir, tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "p.txt").write_text("a red circle\n")
    (tmp_path / "0.txt").write_text("a red circle\n")
    (tmp_path / "empty.txt").write_text("\n  \n")
    argv = [a.format(p="p.txt", empty="empty.txt") if "{p}" in a or "{empty}" in a else a for a in argv]
    assert main(["generate", *argv, "--model", str(model_dir)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
