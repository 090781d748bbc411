"""The shipped natural-footage tokenizer: loadable by its short name, the `natural` preset's
architecture, small, and reconstructing held-out real footage above a bar set a few dB below its
measurement (docs/model_card.md); carphone_pristine was held out of its training whole."""

from __future__ import annotations

import numpy as np
import pytest

from arvid.configs import load_config, preset_path
from arvid.data.samples import sample_clip_path
from arvid.data.video import read_video
from arvid.tokenizer import TokenizerConfig, VideoTokenizer
from arvid.tokenizer.evaluate import reconstruct
from arvid.tokenizer.train import TokenizerRunConfig
from arvid.tools.cli import main
from arvid.weights import shipped_tokenizer_dir

# Measured 21.84 dB at 64x64 and 23.69 dB at 144x176 (first 33 frames, 2026-12-05; the shapes
# tokenizer: 13.88 dB); the bars leave 2 dB for other CPUs' arithmetic and future retraining.
BAR_64_DB = 19.8
BAR_NATIVE_DB = 21.7


@pytest.fixture(scope="module")
def natural():
    return VideoTokenizer.from_pretrained("natural")


def test_the_natural_tokenizer_is_the_natural_preset_and_small():
    folder = shipped_tokenizer_dir("natural")
    shipped = load_config(TokenizerConfig, folder / "config.json")
    assert shipped == load_config(TokenizerRunConfig, preset_path("tokenizer/natural")).model
    assert (folder / "model.safetensors").stat().st_size < 40e6


def test_a_held_out_real_clip_reconstructs_above_the_bar_at_64_and_at_its_own_size(natural):
    path = sample_clip_path("carphone_pristine.mp4")
    small = reconstruct(natural, read_video(path, size=64, max_frames=33))
    native = reconstruct(natural, read_video(path, max_frames=33))  # 144x176: multiples of 8 already
    assert small.psnr > BAR_64_DB and native.psnr > BAR_NATIVE_DB
    # The shapes world's tokenizer has never seen such footage: the natural one must be far ahead.
    shapes = reconstruct(VideoTokenizer.from_pretrained("shapes"), read_video(path, size=64, max_frames=33))
    assert small.psnr > shapes.psnr + 3


def test_commands_take_the_natural_tokenizer_by_name(tmp_path, capsys):
    codes, video = tmp_path / "codes.npy", tmp_path / "back.mp4"
    clip = str(sample_clip_path("carphone_pristine.mp4"))
    assert main(["tokenize", clip, "-o", str(codes), "--tokenizer", "natural", "--size", "native",
                 "--max-frames", "9"]) == 0
    assert np.load(codes).shape == (3, 18, 22)
    assert main(["detokenize", str(codes), "-o", str(video), "--tokenizer", "natural"]) == 0
    assert read_video(video).shape == (9, 144, 176, 3)


def test_a_checkpoint_folder_of_that_name_wins_and_a_plain_folder_does_not(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_config(TokenizerRunConfig, preset_path("tokenizer/tiny"), ["model.channels=8"]).model
    VideoTokenizer(config).save_pretrained(tmp_path / "natural")
    assert VideoTokenizer.from_pretrained("natural").config.channels == 8  # the folder here
    (tmp_path / "shapes").mkdir()  # no config.json, as the source tree's shapes/ package
    shipped = load_config(TokenizerConfig, shipped_tokenizer_dir("shapes") / "config.json")
    assert VideoTokenizer.from_pretrained("shapes").config == shipped


def test_names_paths_and_devices_as_the_commands_take_them(tmp_path):
    """A shipped name as a Path, "auto" as `--device` reads it; a name that is no folder lists the
    shipped names, and a model's folder names its parts."""
    from pathlib import Path

    assert VideoTokenizer.from_pretrained(Path("natural"), device="auto").source == "natural"
    with pytest.raises(FileNotFoundError, match="the shipped tokenizers' names: .*natural"):
        VideoTokenizer.from_pretrained("Natural")
    model = tmp_path / "model"
    config = load_config(TokenizerRunConfig, preset_path("tokenizer/tiny"), ["model.channels=8"]).model
    VideoTokenizer(config).save_pretrained(model / "tokenizer")
    with pytest.raises(FileNotFoundError, match="a model's folder\\? its parts are .*tokenizer'"):
        VideoTokenizer.from_pretrained(model)
