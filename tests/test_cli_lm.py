"""The LM's subcommands end to end on tiny sizes: text tokenizer, token shards, training, export."""

from __future__ import annotations

import json
import shutil
import warnings

import numpy as np
import pytest
import torch

from arvid.data.shards import TokenShards, open_shards
from arvid.tokenizer import TokenizerConfig, VideoTokenizer
from arvid.tools.cli import main


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory):
    torch.manual_seed(0)
    config = TokenizerConfig(image_size=32, channels=8, channel_multipliers=(1, 2, 2), norm_groups=4, codebook_bits=6)
    folder = tmp_path_factory.mktemp("tok") / "tokenizer"
    VideoTokenizer(config).save_pretrained(folder)
    return folder


def test_pipeline_from_captions_to_an_exported_lm(tokenizer_dir, tmp_path, capsys):
    assert main(["train-text-tokenizer", "-o", str(tmp_path / "text")]) == 0
    written = (tmp_path / "text" / "text_tokenizer.model").read_bytes()
    # A second run would replace what an LM may have been trained with: refused without --overwrite.
    assert main(["train-text-tokenizer", "--vocab-size", "64", "-o", str(tmp_path / "text")]) == 2
    assert "--overwrite replaces it" in capsys.readouterr().err
    assert (tmp_path / "text" / "text_tokenizer.model").read_bytes() == written
    for split, videos in (("train", 6), ("heldout", 2)):
        assert main(["tokenize-dataset", "--tokenizer", str(tokenizer_dir), "--split", split, "--videos", str(videos),
                     "--frames", "13", "-o", str(tmp_path / split)]) == 0
    shards = TokenShards(tmp_path / "train")
    assert shards.grid == (4, 4, 4) and len(shards) == 6 and not shards.ends
    assert shards.codes.max() < 64 and len(shards.records[0].captions) == 6
    overrides = [f"train.data={tmp_path / 'train'}", f"train.val_data={tmp_path / 'heldout'}",
                 f"train.text_tokenizer={tmp_path / 'text'}", f"train.out_dir={tmp_path / 'lm'}", "train.steps=3",
                 "train.batch_size=2", "train.eval_every=3", "train.eval_batches=1", "train.threads=1",
                 "model.dim=32", "model.n_layers=1", "model.n_heads=2", "model.n_kv_heads=1",
                 "model.video_vocab_size=64", "model.tokens_per_frame=16", "model.frame_width=4", "model.window_frames=2"]
    assert main(["train-lm", "--config", "tiny", *overrides]) == 0
    log = [json.loads(line) for line in (tmp_path / "lm" / "eval.jsonl").read_text().splitlines()]
    assert log[-1]["step"] == 3 and np.isfinite(log[-1]["val_loss"])
    # The preset's grid-position embeddings have no place in Llama: export refuses, saying why.
    assert main(["export-hf", "--model", str(tmp_path / "lm" / "checkpoint"), "-o", str(tmp_path / "hf")]) == 2
    assert "cannot be exported" in capsys.readouterr().err and not (tmp_path / "hf").exists()
    overrides = [o.replace(str(tmp_path / "lm"), str(tmp_path / "lm-rope")) for o in overrides]
    assert main(["train-lm", "--config", "tiny", *overrides, "model.grid_positions=false",
                 "model.bidirectional_prefix=false"]) == 0
    assert main(["export-hf", "--model", str(tmp_path / "lm-rope" / "checkpoint"), "-o", str(tmp_path / "hf")]) == 0
    from transformers import LlamaForCausalLM

    assert LlamaForCausalLM.from_pretrained(tmp_path / "hf").config.num_hidden_layers == 1
    # A folder of its own output is replaced only with --overwrite; a folder of other files never.
    export = ["export-hf", "--model", str(tmp_path / "lm-rope" / "checkpoint"), "-o", str(tmp_path / "hf")]
    assert main(export) == 2 and "give --overwrite" in capsys.readouterr().err
    assert (tmp_path / "hf" / "training_data.json").is_file()  # the LM's videos' rate travels; still its own export
    assert main([*export, "--overwrite"]) == 0
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    assert main([*export[:-1], str(tmp_path / "mine"), "--overwrite"]) == 2
    assert "holds other files" in capsys.readouterr().err and (tmp_path / "mine" / "notes.txt").is_file()
    # An arvid checkpoint has config.json and model.safetensors too, but no transformers model_type.
    assert main([*export[:-1], str(tmp_path / "lm-rope" / "checkpoint"), "--overwrite"]) == 2
    assert "holds other files" in capsys.readouterr().err


def test_a_resumed_run_goes_on_with_its_recorded_config(tokenizer_dir, tmp_path, capsys, monkeypatch):
    """--resume reads the run's run_config.json: only train.out_dir and what changes are given again;
    the run's relative paths are read from where it began, even when it resumes from elsewhere."""
    monkeypatch.chdir(tmp_path)
    assert main(["train-text-tokenizer", "-o", "text"]) == 0
    assert main(["tokenize-dataset", "--tokenizer", str(tokenizer_dir), "--videos", "4", "--frames", "13",
                 "-o", "train"]) == 0
    assert main(["train-lm", "--config", "tiny", "train.out_dir=runs/lm", "train.data=train", "train.val_data=null",
                 "train.text_tokenizer=text", "train.steps=2", "train.batch_size=2", "train.threads=1",
                 "model.dim=32", "model.n_layers=1", "model.n_heads=2", "model.n_kv_heads=1", "model.video_vocab_size=64",
                 "model.tokens_per_frame=16", "model.frame_width=4", "model.window_frames=2"]) == 0
    capsys.readouterr()
    recorded = tmp_path / "runs" / "lm" / "run_config.json"
    assert json.loads(recorded.read_text())["train"]["data"] == str(tmp_path / "train")  # absolute
    # A run recorded with relative paths (as before they were made absolute), resumed from a folder
    # that has a "train" of its own (empty here): the run's own data is read, not that one.
    run_config = json.loads(recorded.read_text())
    run_config["train"].update(data="train", text_tokenizer="text")
    recorded.write_text(json.dumps(run_config))
    (tmp_path / "elsewhere" / "train").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert main(["train-lm", "--resume", "train.out_dir=../runs/lm", "train.steps=3"]) == 0
    assert "resuming with the run's own config" in capsys.readouterr().err
    assert json.loads((tmp_path / "runs" / "lm" / "checkpoint" / "trainer_state.json").read_text())["step"] == 3
    assert json.loads(recorded.read_text())["train"]["data"] == str(tmp_path / "train")


def test_an_lm_trained_on_your_footage_generates_at_its_rate_with_its_tokenizer(tokenizer_dir, tmp_path, capsys):
    """The shards record the frame rate and the tokenizer; the trained LM keeps them
    (training_data.json), so its run folder is a `--model` of its own and its videos play at the
    pace it learnt, through `arvid decode` too."""
    from arvid.data.video import probe_video
    from arvid.data.video_writer import write_video

    tokenizer_dir = shutil.copytree(tokenizer_dir, tmp_path / "tokenizer")  # changed below: a copy of the fixture's
    rng = np.random.default_rng(0)
    for name in ("a.mp4", "b.mp4"):
        write_video(tmp_path / name, rng.integers(0, 256, (40, 32, 32, 3), np.uint8), fps=24)
    (tmp_path / "m.jsonl").write_text('{"path": "a.mp4", "caption": "a red circle"}\n'
                                      '{"path": "b.mp4", "caption": "a blue square"}\n')
    assert main(["train-text-tokenizer", "-o", str(tmp_path / "text")]) == 0
    assert main(["tokenize-dataset", "--tokenizer", str(tokenizer_dir), "--manifest", str(tmp_path / "m.jsonl"),
                 "--frames", "13", "--fps", "12", "-o", str(tmp_path / "shards")]) == 0
    # 40 frames at 24 fps are 20 at 12: each video gives its first 13, which is said
    assert "note: 2 of 2 videos hold more than the 13 frames a clip takes" in capsys.readouterr().err
    shards = TokenShards(tmp_path / "shards")
    assert shards.fps == 12 and shards.tokenizer_name == str(tokenizer_dir.resolve())
    assert shards.records[1].source == {"path": str(tmp_path / "b.mp4"), "start": None, "end": None}  # traceable
    native = ["tokenize-dataset", "--tokenizer", str(tokenizer_dir), "--frames", "13", "--fps", "native", "--manifest"]
    assert main([*native, str(tmp_path / "m.jsonl"), "-o", str(tmp_path / "native")]) == 0
    assert TokenShards(tmp_path / "native").fps == 24  # the files' one rate
    write_video(tmp_path / "c.mp4", rng.integers(0, 256, (40, 32, 32, 3), np.uint8), fps=30)
    (tmp_path / "mixed.jsonl").write_text('{"path": "a.mp4", "caption": "a"}\n{"path": "c.mp4", "caption": "c"}\n')
    capsys.readouterr()
    assert main([*native, str(tmp_path / "mixed.jsonl"), "-o", str(tmp_path / "mixed")]) == 0
    assert "play at 2 rates (24 to 30 fps)" in capsys.readouterr().err and TokenShards(tmp_path / "mixed").fps is None
    run = tmp_path / "mine" / "lm"  # a model folder's lm/ that is a training run's folder, with no tokenizer/ beside it
    train = ["train-lm", "--config", "tiny", f"train.out_dir={run}", f"train.data={tmp_path / 'shards'}",
             "train.val_data=null", f"train.text_tokenizer={tmp_path / 'text'}", "train.batch_size=2",
             "train.threads=1", "train.compile=false", "model.dim=32", "model.n_layers=1", "model.n_heads=2",
             "model.n_kv_heads=1", "model.video_vocab_size=64", "model.tokens_per_frame=16", "model.frame_width=4",
             "model.window_frames=2"]
    assert main([*train, "train.steps=1"]) == 0
    recorded = json.loads((run / "checkpoint" / "training_data.json").read_text())
    tokenizer = VideoTokenizer.from_pretrained(tokenizer_dir)
    assert recorded == {"fps": 12.0, "tokenizer": str(tokenizer_dir.resolve()),
                        "tokenizer_codes": tokenizer.codes_fingerprint(), "caption_words": ["blue", "circle", "red", "square"]}
    # Sampling settings put beside the weights outlive the next checkpoint (a resumed run's).
    (run / "checkpoint" / "generation_config.json").write_text('{"cfg_scale": 1.5}')
    assert main(["train-lm", "--resume", f"train.out_dir={run}", "train.steps=2"]) == 0
    assert json.loads((run / "checkpoint" / "generation_config.json").read_text()) == {"cfg_scale": 1.5}
    capsys.readouterr()
    for number, model in enumerate((tmp_path / "mine", run / "checkpoint", run)):
        made = ["generate", "a red circle", "--model", str(model), "--frames", "5", "--threads", "1"]
        assert main([*made, "-o", str(tmp_path / f"g{number}.mp4"), "--tokens-out", str(tmp_path / "t.ndjson")]) == 0
    assert probe_video(tmp_path / "g0.mp4").fps == pytest.approx(12)
    assert json.loads((tmp_path / "t.ndjson").read_text().splitlines()[0])["fps"] == 12
    assert main(["decode", str(tmp_path / "t.ndjson"), "-o", str(tmp_path / "d.mp4")]) == 0  # its tokenizer, its rate
    assert probe_video(tmp_path / "d.mp4").fps == pytest.approx(12)
    assert main(["decode", str(tmp_path / "t.ndjson"), "-o", str(tmp_path / "d6.mp4"), "--fps", "6"]) == 0
    assert probe_video(tmp_path / "d6.mp4").fps == pytest.approx(6)  # a rate given wins
    (tmp_path / "prompts.txt").write_text("a red circle\na blue square\n")
    assert main(["generate", "--prompts", str(tmp_path / "prompts.txt"), "--model", str(run), "--frames", "5",
                 "--threads", "1", "-o", str(tmp_path / "batch{n}.mp4")]) == 0
    assert probe_video(tmp_path / "batch1.mp4").fps == pytest.approx(12)  # a batch of prompts too
    assert main(["eval-video", "--model", str(run), "--prompts", str(tmp_path / "prompts.txt"), "--frames", "5",
                 "--threads", "1", "--save-videos", "-o", str(tmp_path / "scored")]) == 0
    assert probe_video(tmp_path / "scored" / "videos" / "0001.mp4").fps == pytest.approx(12)  # and what eval-video keeps
    assert main(["export-hf", "--model", str(run), "-o", str(tmp_path / "hf")]) == 2  # reaches the LM: grid positions
    assert "cannot be exported" in capsys.readouterr().err
    assert main([*made, "-o", str(tmp_path / "fast.mp4"), "--fps", "24"]) == 0
    err = capsys.readouterr().err
    assert "learnt its motion at 12 fps, so it plays 2x as fast" in err and "warning" not in err
    # A prompt that names nothing its captions named is said (a word they share is enough).
    unknown = ["generate", "a cat on the grass", "--model", str(run), "--frames", "5", "--threads", "1"]
    assert main([*unknown, "-o", str(tmp_path / "cat.mp4")]) == 0
    assert ("warning: the prompt shares no word with this model's training captions (such as blue, circle, red, "
            "square)") in capsys.readouterr().err
    assert main(["generate", "a red cat", *unknown[2:], "-o", str(tmp_path / "red.mp4")]) == 0
    assert "warning" not in capsys.readouterr().err
    # A tokenizer trained further in its folder: a new decoder keeps the codes; a new encoder does not, and is said.
    with torch.no_grad():
        next(tokenizer.decoder.parameters()).mul_(0.5)
    tokenizer.save_pretrained(tokenizer_dir)
    assert main([*made, "-o", str(tmp_path / "decoder.mp4")]) == 0 and "warning" not in capsys.readouterr().err
    with torch.no_grad():
        next(tokenizer.encoder.parameters()).add_(0.1)
    tokenizer.save_pretrained(tokenizer_dir)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert main([*made, "-o", str(tmp_path / "encoder.mp4")]) == 0
    assert "encodes videos otherwise than the one the LM's token shards were made with" in capsys.readouterr().err
    assert not [w for w in caught if "encodes videos otherwise" in str(w.message)]  # said once, as a line
    # A token stream written before the encoder changed decodes with a warning: its codes mean other pictures now.
    assert json.loads((tmp_path / "t.ndjson").read_text().splitlines()[0])["tokenizer_codes"] != \
        tokenizer.codes_fingerprint()
    assert main(["decode", str(tmp_path / "t.ndjson"), "-o", str(tmp_path / "d2.mp4")]) == 0
    assert "encodes videos otherwise than the one that wrote these codes" in capsys.readouterr().err
    from arvid.lm.checkpoint import VideoLM
    from arvid.sampling.stream import TokenizerMismatchWarning, check_compatible

    with pytest.warns(TokenizerMismatchWarning):  # from Python too, where `stream` checks its models
        check_compatible(VideoLM.from_pretrained(run / "checkpoint"), VideoTokenizer.from_pretrained(tokenizer_dir))
    # An LM whose record names no tokenizer is no model on its own: it says what to give instead.
    (run / "checkpoint" / "training_data.json").write_text('{"fps": 12}')
    assert main([*made, "-o", str(tmp_path / "x.mp4")]) == 2
    assert "names no tokenizer" in capsys.readouterr().err
    # A tokenizer moved since the shards were encoded: said where the path came from and what to do.
    (run / "checkpoint" / "training_data.json").write_text(json.dumps({"fps": 8, "tokenizer": str(tmp_path / "gone")}))
    assert main([*made, "-o", str(tmp_path / "x.mp4")]) == 2
    assert "which is not there now: make a model folder" in capsys.readouterr().err
    (run / "checkpoint" / "training_data.json").write_text('{"fps": true, "tokenizer": "shapes"}')
    assert main([*made, "-o", str(tmp_path / "x.mp4")]) == 2
    assert "training_data.json: fps must be a number > 0, got True" in capsys.readouterr().err
    # A tokenizer's folder is no model: said so, not "an LM that names no tokenizer".
    assert main(["generate", "a red circle", "--model", str(tokenizer_dir), "-o", str(tmp_path / "x.mp4")]) == 2
    assert "is not a trained LM (its config.json is another model's)" in capsys.readouterr().err


def test_a_recorded_shipped_tokenizer_is_the_shipped_one_whatever_the_working_folder(tmp_path, monkeypatch):
    from arvid.tools.checkpoints import model_parts
    from arvid.weights import shipped_model_dir, shipped_tokenizer_dir

    lm = tmp_path / "lm"
    shutil.copytree(shipped_model_dir() / "lm", lm)
    (lm / "training_data.json").write_text('{"fps": 8, "tokenizer": "natural"}')
    (tmp_path / "natural").mkdir()  # a folder of the same name here is not what the LM learnt from
    (tmp_path / "natural" / "config.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    assert model_parts(str(lm)) == (lm, str(shipped_tokenizer_dir("natural")))


def test_token_shards_never_replace_other_files_and_replace_shards_only_when_asked(tokenizer_dir, tmp_path, capsys):
    make = ["tokenize-dataset", "--tokenizer", str(tokenizer_dir), "--videos", "1", "--frames", "5", "-o"]
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "clip.mp4").write_bytes(b"precious")
    assert main([*make, str(tmp_path / "mine"), "--overwrite"]) == 2
    assert "holds other files" in capsys.readouterr().err and (tmp_path / "mine" / "clip.mp4").read_bytes() == b"precious"
    assert main([*make, str(tmp_path / "shards")]) == 0
    assert main([*make, str(tmp_path / "shards")]) == 2 and "holds token shards already" in capsys.readouterr().err
    assert main([*make, str(tmp_path / "shards"), "--seed", "1", "--overwrite"]) == 0
    (tmp_path / "shards" / "notes.txt").write_text("mine")  # shards and a file of the user's: never replaced
    assert main([*make, str(tmp_path / "shards"), "--overwrite"]) == 2
    assert (tmp_path / "shards" / "notes.txt").is_file()
    (tmp_path / "empty").mkdir()
    assert main([*make, str(tmp_path / "empty")]) == 0


def test_a_manifest_encoded_in_parts_joins_into_the_whole(tokenizer_dir, tmp_path, capsys):
    """`--part I/N` encodes contiguous parts of a manifest's lines into folders of their own, which
    `open_shards` (`train.data=[...]`) joins into the very videos and codes of one run over the whole
    manifest."""
    from arvid.data.video_writer import write_video

    rng = np.random.default_rng(0)
    lines = []
    for index in range(5):
        write_video(tmp_path / f"v{index}.mp4", rng.integers(0, 256, (16, 32, 32, 3), np.uint8), fps=8)
        lines.append(json.dumps({"path": f"v{index}.mp4", "caption": f"video {index}"}))
    (tmp_path / "m.jsonl").write_text("\n".join(lines) + "\n")
    make = ["tokenize-dataset", "--tokenizer", str(tokenizer_dir), "--manifest", str(tmp_path / "m.jsonl"),
            "--frames", "13", "--precision", "fp32", "--batch-size", "1"]
    assert main([*make, "-o", str(tmp_path / "whole")]) == 0
    for part in ("1/2", "2/2"):
        assert main([*make, "--part", part, "-o", str(tmp_path / f"part{part[0]}")]) == 0
    whole, parts = TokenShards(tmp_path / "whole"), open_shards([str(tmp_path / "part1"), str(tmp_path / "part2")])
    assert [len(TokenShards(tmp_path / f"part{index}")) for index in (1, 2)] == [2, 3]
    assert [record.captions for record in parts.records] == [record.captions for record in whole.records]
    assert all(np.array_equal(parts[index], whole[index]) for index in range(5))
    capsys.readouterr()
    assert main([*make, "--part", "1/6", "-o", str(tmp_path / "bad")]) == 2
    assert "6 parts of a manifest of 5 videos: a part would hold none" in capsys.readouterr().err
    assert main([*make[:3], "--part", "1/2", "-o", str(tmp_path / "bad")]) == 2
    assert "--part splits a manifest's lines" in capsys.readouterr().err
    for part in ("one", "3/2", "0/2"):
        with pytest.raises(SystemExit) as exit:  # argparse's own error, as for every flag's value
            main([*make, "--part", part, "-o", str(tmp_path / "bad")])
        assert exit.value.code == 2
        assert f"--part: expected I/N with 1 <= I <= N, such as 2/8, got '{part}'" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


def test_a_full_disk_while_encoding_is_a_failure_not_bad_usage(tokenizer_dir, tmp_path, capsys, monkeypatch):
    import arvid.tokenizer.dataset as dataset

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(dataset, "tokenize_dataset", full)
    assert main(["tokenize-dataset", "--tokenizer", str(tokenizer_dir), "--videos", "1", "--frames", "5",
                 "-o", str(tmp_path / "x")]) == 1
    assert "arvid: error: cannot write" in capsys.readouterr().err


def test_bad_input_exits_2_with_a_message(tokenizer_dir, tmp_path, capsys):
    cases = [
        (["tokenize-dataset", "--tokenizer", str(tokenizer_dir), "--frames", "12", "-o", str(tmp_path / "x")], "1 + 4k"),
        (["tokenize-dataset", "--tokenizer", str(tmp_path / "none"), "-o", str(tmp_path / "x")], "no checkpoint"),
        (["tokenize-dataset", "--tokenizer", str(tokenizer_dir), "--manifest", str(tmp_path / "m.jsonl"),
          "-o", str(tmp_path / "x")], "does not exist"),
        (["tokenize-dataset", "--tokenizer", str(tokenizer_dir), "--switches", "1.5", "-o", str(tmp_path / "x")],
         "share in [0, 1]"),
        (["tokenize-dataset", "--tokenizer", str(tokenizer_dir), "--manifest", str(tmp_path / "m.jsonl"), "--videos",
          "5", "--seed", "3", "-o", str(tmp_path / "x")], "--videos, --seed choose shapes videos; a manifest's"),
        (["tokenize-dataset", "--tokenizer", str(tokenizer_dir), "--fps", "native", "-o", str(tmp_path / "x")],
         "--fps reads a manifest's videos; shapes videos are 8 fps"),
        (["tokenize-dataset", "--tokenizer", str(tokenizer_dir), "--switches", "0.5", "--manifest",
          str(tmp_path / "m.jsonl"), "-o", str(tmp_path / "x")], "keep their one caption"),
        (["tokenize-dataset", "--tokenizer", str(tokenizer_dir), "--anywhere", "0.5", "--manifest",
          str(tmp_path / "m.jsonl"), "-o", str(tmp_path / "x")], "a manifest's videos start where they start"),
        (["tokenize-dataset", "--tokenizer", str(tokenizer_dir), "--switches", "0.5", "--frames", "5",
          "-o", str(tmp_path / "x")], "needs 3 or more"),
        (["tokenize-dataset", "--tokenizer", str(tokenizer_dir), "--switches", "0.5", "--switch-after", "0",
          "-o", str(tmp_path / "x")], "--switch-after must be >= 1"),
        (["tokenize-dataset", "--tokenizer", str(tokenizer_dir), "--manifest", str(tmp_path / "m.jsonl"),
          "--switch-after", "2", "-o", str(tmp_path / "x")], "--switch-after chooses shapes videos"),
        (["train-lm", "--config", "tiny", f"train.text_tokenizer={tmp_path / 'none'}"],
         f"train.text_tokenizer={tmp_path / 'none'}: {tmp_path / 'none' / 'text_tokenizer.model'} is missing"),
        (["train-lm", "--config", "tiny", "model.n_layer=3"], "n_layer"),
        (["export-hf", "--model", str(tmp_path / "none"), "-o", str(tmp_path / "hf")], "no checkpoint"),
    ]
    for argv, message in cases:
        assert main(argv) == 2, argv
        assert message in capsys.readouterr().err, argv
    (tmp_path / "bad.jsonl").write_text('{"path": "a.mp4"}\n')
    assert main(["tokenize-dataset", "--tokenizer", str(tokenizer_dir), "--manifest", str(tmp_path / "bad.jsonl"),
                 "-o", str(tmp_path / "x")]) == 2
    assert "bad.jsonl:1" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_shard_precision_fp32_is_exact_and_bf16_close(tokenizer_dir, tmp_path):
    from arvid.shapes.clips import shapes_videos
    from arvid.tokenizer.dataset import encode_videos, tokenize_dataset
    from arvid.tokenizer.model import frames_to_video

    tokenizer = VideoTokenizer.from_pretrained(tokenizer_dir)
    videos = list(shapes_videos(4, frames=13, split="train", seed=0, size=32))
    exact = [codes for codes, _ in encode_videos(tokenizer, videos, batch_size=2, precision="fp32")]
    fast = [codes for codes, _ in encode_videos(tokenizer, videos, batch_size=2, precision="bf16")]
    for (frames, _), codes in zip(videos, exact):
        assert np.array_equal(codes, tokenizer.encode(frames_to_video(frames))[0].numpy())
    assert all(a.shape == b.shape and b.dtype == np.uint16 for a, b in zip(exact, fast))
    # bf16 rounds the encoder's outputs: a code near a quantization boundary may flip, most do not.
    assert np.mean(np.stack(exact) == np.stack(fast)) > 0.8
    with pytest.raises(ValueError, match="precision"):
        tokenize_dataset(tokenizer, videos, tmp_path / "x", count=4, frames=13, ends=False, precision="fp16")
    assert not (tmp_path / "x").exists()
