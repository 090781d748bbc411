"""The evaluation suite's metrics, each checked on inputs with a known answer, and `arvid eval-video`."""

from __future__ import annotations

import json
import math

import av
import numpy as np
import pytest

from arvid.data.samples import sample_clip_path
from arvid.shapes.world import render
from arvid.data.video import read_video
from arvid.data.video_writer import VideoWriter
from arvid.metrics.motion import MIN_MOTION, flow_metrics
from arvid.metrics.plots import contact_sheet, plot_over_time
from arvid.shapes.prompt_match import evaluation_prompts, match_prompt
from arvid.metrics.scene_cuts import scene_cuts
from arvid.shapes.report import summarize, video_report
from arvid.tools.cli import main


def _decoded_frames(name: str):
    """RGB frames of a sample clip, one at a time (bigbuckbunny is 1280x720: no need to hold it all)."""
    with av.open(str(sample_clip_path(name))) as container:
        for frame in container.decode(video=0):
            yield frame.to_ndarray(format="rgb24")


# --- scene cuts ------------------------------------------------------------------------------


def test_scene_cuts_of_real_clips():
    # Known answers: bikes.mp4 has five hard cuts, bigbuckbunny.mp4 is one shot (shared/NOTES.md,
    # PySceneDetect 0.6.7.1 on the files).
    assert scene_cuts(_decoded_frames("bikes.mp4")) == [30, 76, 137, 187, 242]
    assert scene_cuts(_decoded_frames("bigbuckbunny.mp4")) == []


def test_scene_cuts_of_a_shapes_video_and_a_spliced_one():
    first = render(evaluation_prompts("train")[0].attrs, frames=40, seed=0).video
    second = render(evaluation_prompts("train")[200].attrs, frames=40, seed=1).video
    assert scene_cuts(first) == []
    assert scene_cuts(np.concatenate([first, second])) == [40]


def test_scene_cuts_rejects_bad_frames():
    with pytest.raises(ValueError, match="uint8"):
        scene_cuts([np.zeros((8, 8, 3), np.float32)])
    with pytest.raises(ValueError, match="earlier frames"):
        scene_cuts([np.zeros((8, 8, 3), np.uint8), np.zeros((8, 9, 3), np.uint8)])


# --- optical flow: motion, warp error, flicker --------------------------------------------------


def _texture(size: int = 64, seed: int = 0) -> np.ndarray:
    """A random RGB texture that tiles (periodic), so np.roll moves it without a seam. Its detail
    (a Gaussian low-pass of scale ~5 px) is what dense flow needs: much smoother textures leave
    the local polynomial fits flat, and Farnebäck then underestimates the motion (the aperture
    problem; 1.73 px for a 2-px shift at scale ~14 px)."""
    rng = np.random.default_rng(seed)
    spectrum = np.fft.fft2(rng.normal(size=(size, size, 3)), axes=(0, 1))
    frequency = np.fft.fftfreq(size)[:, None] ** 2 + np.fft.fftfreq(size)[None, :] ** 2
    smooth = np.real(np.fft.ifft2(spectrum * np.exp(-frequency * 50)[..., None], axes=(0, 1)))
    smooth = (smooth - smooth.min()) / (smooth.max() - smooth.min())
    return (40 + 175 * smooth).astype(np.uint8)


def test_frozen_video_has_no_motion_warp_error_or_flicker():
    video = np.repeat(_texture()[None], 8, axis=0)
    flow = flow_metrics(video)
    # Farnebäck's polynomial fit leaves about 1e-3 px of flow on identical frames: zero at the
    # estimator's precision, and under the still threshold MIN_MOTION that the metrics act on.
    assert flow.mean_motion < MIN_MOTION and flow.mean_warp_error < 1e-3 and flow.flicker == 0
    assert math.isnan(flow.motion_aware_warp_error)  # undefined for a still video


@pytest.mark.parametrize("speed", [1, 3])
def test_translation_gives_its_speed_and_a_small_warp_error(speed):
    texture = _texture()
    video = np.stack([np.roll(texture, shift=speed * t, axis=(0, 1)) for t in range(8)])  # diagonal, speed px per axis
    flow = flow_metrics(video)
    assert flow.mean_motion == pytest.approx(speed * math.sqrt(2), rel=0.02)
    assert flow.mean_warp_error < 2.0  # grey levels; the texture spans 175


def test_shuffling_frames_raises_the_warp_error():
    frames = [frame for _, frame in zip(range(48), _decoded_frames("carphone_pristine.mp4"), strict=False)]
    video = np.stack(frames)
    shuffled = video[np.random.default_rng(0).permutation(len(video))]
    ordered, mixed = flow_metrics(video), flow_metrics(shuffled)
    assert mixed.mean_warp_error > 1.5 * ordered.mean_warp_error


def test_flicker_is_the_brightness_swing():
    base = np.full((6, 16, 16, 3), 100, np.uint8)
    base[1::2] += 20  # every other frame 20 grey levels brighter
    assert flow_metrics(base).flicker == pytest.approx(20.0, abs=1e-6)


def test_flow_metrics_rejects_bad_videos():
    with pytest.raises(ValueError, match="at least 2 frames"):
        flow_metrics(np.zeros((1, 8, 8, 3), np.uint8))
    with pytest.raises(ValueError, match="uint8"):
        flow_metrics(np.zeros((3, 8, 8), np.uint8))


# --- prompt match -----------------------------------------------------------------------------


def test_ground_truth_videos_match_their_prompts():
    prompts = evaluation_prompts("all", seed=3)[::10]  # 39 prompts over every shape, colour, size
    matches = [match_prompt(render(p.attrs, frames=64, seed=i).video, p.prompt) for i, p in enumerate(prompts)]
    assert sum(m.first_window_match for m in matches) >= len(prompts) - 1
    assert sum(m.last_window_match for m in matches) >= len(prompts) - 1
    assert all(len(m.windows) == 4 for m in matches)


def test_drift_over_time_is_read_window_by_window():
    prompt = evaluation_prompts("train")[0]
    other = next(p for p in evaluation_prompts("train") if p.attrs.colour != prompt.attrs.colour
                 and p.attrs.shape == prompt.attrs.shape and p.attrs.size == prompt.attrs.size
                 and p.attrs.background == prompt.attrs.background)
    # 32 frames as prompted, then 32 of another colour, then a 7-frame tail (dropped: under half a window).
    spliced = np.concatenate([render(prompt.attrs, frames=32, seed=0).video,
                              render(other.attrs, frames=39, seed=1).video])
    match = match_prompt(spliced, prompt.prompt)
    assert [w.start for w in match.windows] == [0, 16, 32, 48]
    np.testing.assert_allclose(match.accuracy_over_time(), [1, 1, 2 / 3, 2 / 3])
    assert match.first_window_match and not match.last_window_match
    # A tail of half a window or more is scored: 1000 frames end with the window 992..999.
    long = match_prompt(np.concatenate([spliced[:64]] * 16)[:1000], prompt.prompt)
    assert long.windows[-1].start == 992 and long.windows[-1].frames == 8


def test_vague_prompts_are_not_scored_against_the_targets():
    video = render(evaluation_prompts("train")[0].attrs, frames=16, seed=0).video
    vague = match_prompt(video, "something on a black background")
    assert vague.first_window_match is None and vague.last_window_match is None


def test_wrong_prompt_and_frozen_video_are_caught():
    prompt = evaluation_prompts("train")[0]
    video = render(prompt.attrs, frames=32, seed=0).video
    other_colour = "white" if prompt.attrs.colour != "white" else "red"
    wrong = match_prompt(video, prompt.prompt.replace(prompt.attrs.colour, other_colour))
    assert not wrong.first_window_match and wrong.windows[0].correct["colour"] is False
    frozen = match_prompt(np.repeat(video[:1], 32, axis=0), prompt.prompt)
    assert not frozen.last_window_match and not frozen.windows[-1].moving


def test_match_prompt_rejects_prompts_without_attributes():
    with pytest.raises(ValueError, match="names no shapes-world attribute"):
        match_prompt(np.zeros((4, 16, 16, 3), np.uint8), "a cat playing piano")


def test_evaluation_prompts_cover_every_combination():
    prompts = evaluation_prompts("all")
    assert len(prompts) == 3 * 8 * 2 * 8 and sum(p.held_out for p in prompts) == 20
    assert len({p.attrs.combination for p in prompts}) == len(prompts)
    assert evaluation_prompts("all") == prompts  # fixed for a seed
    assert len(evaluation_prompts("heldout", per_combination=3)) == 60


# --- reports, plots and the command ------------------------------------------------------------


def test_report_summary_and_plots(tmp_path):
    prompts = evaluation_prompts("train")[:3]
    videos = [render(p.attrs, frames=33, seed=i).video for i, p in enumerate(prompts)]
    reports = [video_report(v, p.prompt) for v, p in zip(videos, prompts, strict=True)]
    reports.append(video_report(np.repeat(videos[0][:1], 33, axis=0), "a cat"))  # no attributes: no prompt scores
    # Colour and direction but no shape: a prompt about another world, which the detector cannot read.
    assert "windows" not in video_report(videos[0], "a red car moving left")
    json.dumps(reports, allow_nan=False)  # JSON-ready: no NaN, no numpy scalars
    summary = summarize(reports)
    assert summary["videos"] == 4 and summary["scored_first_window"] == 3
    assert summary["first_window_match"] == 1.0 and summary["no_scene_cuts"] == 1.0
    assert summary["still_videos"] == 1
    plot_over_time(reports, tmp_path / "over_time.png")
    contact_sheet(videos, tmp_path / "sheet.png", columns=4)
    assert (tmp_path / "over_time.png").stat().st_size > 0 and (tmp_path / "sheet.png").stat().st_size > 0


def test_summary_pools_the_moving_reading_of_later_windows():
    """Windows after the first, over all videos: a clip that moves gives 1 of 1, one frozen after
    its first window (frame 16 on) gives 0 of 1, so 1 of 2; the first windows are not counted."""
    prompt = evaluation_prompts("train")[0]
    moving = render(prompt.attrs, frames=33, seed=0).video
    stopped = np.concatenate([moving[:16], np.repeat(moving[16:17], 17, axis=0)])
    summary = summarize([video_report(video, prompt.prompt) for video in (moving, stopped)])
    assert summary["moving_windows"] == 0.5


def _write_clips(folder, count: int = 2) -> tuple[list[str], list[str]]:
    paths, prompts = [], []
    for i, prompt in enumerate(evaluation_prompts("train")[:count]):
        path = folder / f"clip{i}.mp4"
        with VideoWriter(path, fps=8) as writer:
            writer.write_many(render(prompt.attrs, frames=24, seed=i).video)
        paths.append(str(path))
        prompts.append(prompt.prompt)
    return paths, prompts


def test_eval_video_scores_files(tmp_path, capsys):
    paths, prompts = _write_clips(tmp_path)
    (tmp_path / "prompts.txt").write_text("\n".join(prompts) + "\n")
    out = tmp_path / "eval"
    assert main(["eval-video", *paths, "--prompts", str(tmp_path / "prompts.txt"), "-o", str(out)]) == 0
    result = json.loads((out / "scores.json").read_text())
    assert result["summary"]["all"]["first_window_match"] == 1.0
    assert [v["name"] for v in result["videos"]] == paths
    assert (out / "over_time.png").is_file() and (out / "contact_sheet.png").is_file()
    assert "skipped fvd" in capsys.readouterr().err


def test_eval_video_never_replaces_an_evaluation_without_overwrite(tmp_path, capsys, monkeypatch):
    paths, prompts = _write_clips(tmp_path, count=1)
    out = tmp_path / "eval"
    score = ["eval-video", paths[0], "--prompt", prompts[0], "-o", str(out)]
    assert main(score) == 0
    before = (out / "scores.json").read_text()
    capsys.readouterr()
    assert main(score) == 2 and "holds an evaluation already (scores.json): give --overwrite" in capsys.readouterr().err
    assert (out / "scores.json").read_text() == before
    assert main([*score, "--overwrite"]) == 0
    # --overwrite replaces the whole evaluation: the old run's plots and saved videos go, the user's files stay.
    (out / "videos").mkdir(exist_ok=True)
    (out / "scores.json").write_text(json.dumps({"videos": [{"name": "0000"}]}))  # a generating run's, say
    for name in ("videos/0000.mp4", "contact_sheet.png", "over_time.png", "mine.txt"):
        (out / name).write_bytes(b"old")
    assert main([*score, "--overwrite"]) == 0
    assert not (out / "videos" / "0000.mp4").exists() and (out / "mine.txt").read_bytes() == b"old"
    assert (out / "over_time.png").read_bytes() != b"old"  # this run's
    assert not (out / "contact_sheet.png").exists() or (out / "contact_sheet.png").read_bytes() != b"old"
    # Without -o, each run gets a folder of its own.
    monkeypatch.chdir(tmp_path)
    for folder in ("eval-video", "eval-video-2"):
        assert main(score[:-2]) == 0 and (tmp_path / "runs" / folder / "scores.json").is_file()


def test_eval_video_scores_one_file_against_one_prompt(tmp_path):
    paths, prompts = _write_clips(tmp_path, count=1)
    out = tmp_path / "eval"
    assert main(["eval-video", paths[0], "--prompt", prompts[0], "-o", str(out)]) == 0
    result = json.loads((out / "scores.json").read_text())
    assert [v["prompt"] for v in result["videos"]] == prompts and result["summary"]["all"]["first_window_match"] == 1.0
    assert result["sampler"] is None  # nothing was generated


def test_eval_video_generates_from_a_prompt_set(tmp_path):
    out = tmp_path / "eval"
    # One video: the model's default sampling draws four first windows one after another, eagerly.
    assert main(["eval-video", "--prompt-set", "heldout", "--limit", "1", "--frames", "9", "-o", str(out),
                 "--save-videos"]) == 0
    result = json.loads((out / "scores.json").read_text())
    assert result["summary"]["heldout"]["videos"] == 1 and result["peak_rss_mib"] > 0
    assert result["sampler"]["cfg_scale"] == 2.0 and result["sampler"]["first_window_candidates"] == 4  # the model's
    assert all(v["frames"] == 9 and v["group"] == "heldout" for v in result["videos"])
    assert read_video(out / "videos" / "0000.mp4").shape == (9, 64, 64, 3)


def test_eval_video_generates_a_batch_of_prompts_together(tmp_path):
    """--batch 3 over 4 prompts: a batch of 3 and one of 1, every video scored, with the levers on."""
    out = tmp_path / "eval"
    assert main(["eval-video", "--prompt-set", "all", "--limit", "4", "--frames", "9", "-o", str(out), "--batch", "3",
                 "--pipelined", "--rolling-cache", "--first-window-candidates", "2"]) == 0
    result = json.loads((out / "scores.json").read_text())
    assert [v["frames"] for v in result["videos"]] == [9] * 4 and result["arguments"]["batch"] == 3


@pytest.mark.parametrize("argv, message", [
    ([], "nothing to score"),
    (["--prompt-set", "all", "--batch", "0"], "--batch must be >= 1"),
    (["missing.mp4"], "missing.mp4: no such file"),
    (["--prompt-set", "all", "--frames", "1"], "--frames must be >= 2"),
    (["--prompts", "nowhere.txt"], "cannot read prompts file"),
    (["--prompt", "a red circle", "--prompts", "p.txt"], "not more than one"),
])
def test_eval_video_bad_input(tmp_path, capsys, argv, message):
    assert main(["eval-video", *argv, "-o", str(tmp_path / "eval")]) == 2
    assert message in capsys.readouterr().err


def test_eval_video_prompt_count_must_match(tmp_path, capsys):
    paths, prompts = _write_clips(tmp_path)
    (tmp_path / "prompts.txt").write_text(prompts[0] + "\n")
    assert main(["eval-video", *paths, "--prompts", str(tmp_path / "prompts.txt"), "-o", str(tmp_path / "e")]) == 2
    assert "2 videos but 1 prompts" in capsys.readouterr().err


def test_eval_video_refuses_a_bad_file_before_any_work(tmp_path, capsys):
    """Every file is decoded before the first is scored: a bad one is a bad input (exit 2, one line
    naming it), not a failed video found after scoring the ones before it."""
    paths, _ = _write_clips(tmp_path)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    out = tmp_path / "eval"
    assert main(["eval-video", paths[0], str(broken), paths[1], "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("broken.mp4") == 1 and err.count("\n") == 1, err
    assert not out.exists()  # the folder the run made is gone with it (it left an empty one, a new one each time)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    assert main(["eval-video", str(broken), "-o", str(tmp_path / "mine")]) == 2  # a folder of the user's stays
    assert (tmp_path / "mine" / "notes.txt").is_file()
    assert main(["eval-video", *paths, "--prompt", "a red circle", "--limit", "1", "-o", str(out)]) == 2
    assert "--limit draws prompts to generate from" in capsys.readouterr().err


def test_eval_video_checks_weights_and_extras_before_work(tmp_path, capsys, monkeypatch):
    paths, _ = _write_clips(tmp_path, count=1)
    (tmp_path / "lpips.pt").write_bytes(b"not torchscript")
    assert main(["eval-video", *paths, "--lpips", str(tmp_path / "lpips.pt"), "-o", str(tmp_path / "e")]) == 2
    assert not (tmp_path / "e" / "scores.json").exists()
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "scenedetect" else real_find_spec(name, *a))
    assert main(["eval-video", *paths, "-o", str(tmp_path / "e")]) == 2
    assert "pip install 'arvid[eval]'" in capsys.readouterr().err


def test_eval_video_on_the_ground_truth_and_through_the_tokenizer(tmp_path):
    # The suite on its own ground truth: every first window matches (the detector is validated).
    out = tmp_path / "truth"
    assert main(["eval-video", "--prompt-set", "all", "--limit", "12", "--frames", "16", "--source", "truth",
                 "-o", str(out)]) == 0
    summary = json.loads((out / "scores.json").read_text())["summary"]
    assert summary["train"]["first_window_match"] == 1.0 and summary["train"]["no_scene_cuts"] == 1.0
    out = tmp_path / "tokenizer"
    assert main(["eval-video", "--prompt-set", "heldout", "--limit", "2", "--frames", "10", "--source", "tokenizer",
                 "-o", str(out)]) == 0
    assert all(v["frames"] == 10 for v in json.loads((out / "scores.json").read_text())["videos"])


def test_held_out_paraphrases_are_scored_by_their_attributes_not_their_words(tmp_path):
    # Their words are unknown to parse_caption ("crimson ball"): the attributes travel with each
    # prompt. On the rendered ground truth every first window must then match (a known answer).
    out = tmp_path / "paraphrase"
    assert main(["eval-video", "--prompt-set", "paraphrase", "--limit", "8", "--frames", "16", "--source", "truth",
                 "-o", str(out)]) == 0
    scores = json.loads((out / "scores.json").read_text())
    assert all(video["first_window_match"] for video in scores["videos"])
    assert all({"shape", "colour", "size", "direction", "background"} <= set(video["expected"])
               for video in scores["videos"])


def test_eval_video_source_needs_a_prompt_set(tmp_path, capsys):
    paths, _ = _write_clips(tmp_path, count=1)
    assert main(["eval-video", *paths, "--source", "truth", "-o", str(tmp_path / "e")]) == 2
    assert "needs --prompt-set" in capsys.readouterr().err


def test_eval_video_keeps_the_scores_done_when_terminated(tmp_path, monkeypatch):
    # SIGTERM (the only polite stop for a background job, which ignores Ctrl-C) arrives while the
    # third video is scored: the first two are written, the run is marked interrupted, exit 130.
    import os
    import signal

    import arvid.shapes.report as video_report_module

    calls = []
    real_report = video_report_module.video_report

    def report_then_terminate(video, prompt, **options):
        calls.append(prompt)
        if len(calls) == 3:
            os.kill(os.getpid(), signal.SIGTERM)
        return real_report(video, prompt, **options)

    monkeypatch.setattr(video_report_module, "video_report", report_then_terminate)
    out = tmp_path / "terminated"
    assert main(["eval-video", "--prompt-set", "all", "--limit", "6", "--frames", "16", "--source", "truth",
                 "-o", str(out)]) == 130
    scores = json.loads((out / "scores.json").read_text())
    assert scores["interrupted"] is True and len(scores["videos"]) == 2
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
