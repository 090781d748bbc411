"""Prompt onset (`model.prompt_onset`): the LM is told whether its prompt began inside the window it
reads (a stream's first window, or a switch), so that it can tell a prompt that just changed from an
old one whose motion bounces have since changed. The vector it adds, the training examples that set
it, the sampler that sets it for a window after each prompt's onset (the streaming invariant kept),
and fine-tuning an LM without it into one with it."""

from __future__ import annotations

from itertools import islice

import numpy as np
import pytest
import torch
from lm_fixtures import CODEBOOK, GRID, encoder_lm, tiny_config, write_tiny_encoder

from arvid.data.shards import CaptionSwitch, TokenShards, VideoRecord, write_shards
from arvid.lm.config import PREFIX_SPECIALS
from arvid.lm.examples import WindowExamples
from arvid.lm.model import Transformer
from arvid.lm.text_encoder import TextEncoder
from arvid.sampling import SamplerConfig, stream
from arvid.sampling import drawing as drawing_module
from arvid.tokenizer import TokenizerConfig, VideoTokenizer
from arvid.training.checkpoint import load_module_weights

PROMPT = "a small red circle moving left on a black background"
TOLERANCE = 1e-4  # float32, as the streaming invariant's own test


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    return TextEncoder.load(str(write_tiny_encoder(tmp_path_factory.mktemp("encoder"))))


def test_prompt_onset_needs_a_text_encoder():
    with pytest.raises(ValueError, match="prompt_onset needs a text_encoder"):
        tiny_config(prompt_onset=True)


def test_the_onset_vector_marks_only_the_prompt_rows_whose_onset_is_set(encoder):
    lm = encoder_lm(encoder, prompt_onset=True)
    prefixes = lm.prefixes([PROMPT, ""])
    video = lm.vocab.video_offset + torch.arange(20).remainder(64).expand(2, -1)
    tokens = torch.cat([prefixes.tokens, video], dim=1)

    def logits(onset):
        text = prefixes.text if onset is None else prefixes.text.with_onset(onset)
        with torch.no_grad():
            return lm.model(tokens, text)

    plain = logits(None)
    assert torch.equal(logits(True), plain)  # zero at first: the LM it was grown from, unchanged
    with torch.no_grad():
        lm.model.onset_embedding.normal_()
    marked = logits(True)
    assert not torch.allclose(marked[0], plain[0])  # the prompt's row reads the onset
    assert torch.equal(marked[1], plain[1])  # the empty prompt has no text slot to mark
    assert torch.equal(logits(False), plain)


def onset_by_start(examples: WindowExamples) -> dict[int, bool]:
    """Window start -> the onset its examples carry, over 40 one-example batches of a video whose
    latent frame t holds code t (so the first window frame's code is the start)."""
    seen = {}
    for seed in range(40):
        batch = examples.batch(np.random.default_rng(seed), 1)
        first_window_frame = PREFIX_SPECIALS + batch.text.hidden.shape[1] + examples.config.tokens_per_frame
        start = int(examples.vocab.video_codes(batch.tokens[0, first_window_frame:first_window_frame + 1]))
        seen[start] = bool(batch.text.onset[0])
    return seen


def test_training_examples_mark_the_first_window_and_the_windows_that_reach_a_switch(encoder, tmp_path):
    switch_at = 4  # 6 latent frames, window 3: windows start at 1 to 3; only 2 and 3 reach the switch
    codes = np.broadcast_to(np.arange(GRID[0])[:, None, None], GRID)  # latent frame t holds code t
    record = VideoRecord((PROMPT,), None, CaptionSwitch(switch_at, ("a small red circle moving up on a black "
                                                                    "background",)))
    write_shards(tmp_path / "shards", [(codes, record)], count=1, grid=GRID, codebook_size=CODEBOOK,
                 tokenizer_config={}, ends=False)
    config = tiny_config(text_encoder=str(encoder.folder), text_encoder_dim=encoder.dim, prompt_onset=True)
    examples = WindowExamples(TokenShards(tmp_path / "shards"), encoder, config, caption_dropout=0.0)
    assert onset_by_start(examples) == {1: True, 2: True, 3: True}  # 1: the video's first window; 2, 3: the switch's
    codes_no_switch = VideoRecord((PROMPT,), None)
    write_shards(tmp_path / "plain", [(codes, codes_no_switch)], count=1, grid=GRID, codebook_size=CODEBOOK,
                 tokenizer_config={}, ends=False)
    plain = WindowExamples(TokenShards(tmp_path / "plain"), encoder, config, caption_dropout=0.0)
    assert onset_by_start(plain) == {1: True, 2: False, 3: False}
    without = WindowExamples(TokenShards(tmp_path / "plain"), encoder, tiny_config(
        text_encoder=str(encoder.folder), text_encoder_dim=encoder.dim), caption_dropout=0.0)
    assert without.batch(np.random.default_rng(0), 2).text.onset is None


def test_the_stream_marks_a_window_after_each_prompt_s_onset_and_keeps_the_invariant(encoder, monkeypatch):
    lm = encoder_lm(encoder, prompt_onset=True, grid_positions=True, frame_width=4)
    with torch.no_grad():
        lm.model.onset_embedding.normal_()
    torch.manual_seed(0)
    tokenizer = VideoTokenizer(TokenizerConfig(image_size=32, channels=8, channel_multipliers=(1, 2, 2), norm_groups=4,
                                               codebook_bits=6)).eval()
    marked, worst = [], [0.0]
    original = drawing_module._mark_onset

    def checked(context, onset):
        original(context, onset)
        marked.append(bool(context.text.onset[0]))
        with torch.no_grad():  # the streaming invariant, with the onset the context now reads
            fresh = lm.model(context.tokens(), context.text)[:, -1]
        worst[0] = max(worst[0], (context.logits - fresh).abs().max().item())

    monkeypatch.setattr(drawing_module, "_mark_onset", checked)
    config = SamplerConfig(cfg_scale=2.0, seed=0)
    new_prompt = "a large blue square moving up on a white background"
    frames = list(islice(stream(lm, tokenizer, PROMPT, config, prompts=lambda i: PROMPT if i < 6 else new_prompt), 11))
    # Window 3: the first prompt begins at latent frame 1 (frame 0 is the anchor), the new one at 6.
    assert marked == [True] * 4 + [False] * 2 + [True] * 3 + [False] * 2
    assert worst[0] < TOLERANCE
    assert frames[6].prompt == new_prompt
    # A prompts function whose first prompt is another than `prompt` (one candidate: a switch at the
    # anchor): its onset window is the first window's, latent frames 1 to 3, as in training.
    marked.clear()
    list(islice(stream(lm, tokenizer, PROMPT, config, prompts=lambda i: new_prompt), 6))
    assert marked == [True] * 4 + [False] * 2


def test_an_lm_without_onset_starts_one_with_it(encoder, tmp_path):
    lm = encoder_lm(encoder)
    lm.save_pretrained(tmp_path / "lm")
    grown = Transformer(encoder_lm(encoder, seed=1, prompt_onset=True).config)
    with pytest.raises(ValueError, match="another architecture: prompt_onset"):
        load_module_weights(grown, tmp_path / "lm", grown.config)
    load_module_weights(grown, tmp_path / "lm", grown.config, grown={"prompt_onset": ("onset_embedding",)})
    for name, tensor in lm.model.state_dict().items():
        assert torch.equal(grown.state_dict()[name], tensor), name
    assert not grown.onset_embedding.any()
    shrunk = Transformer(lm.config)  # the other way, an LM with onset into one without: refused
    grown_folder = tmp_path / "grown"
    encoder_lm(encoder, prompt_onset=True).save_pretrained(grown_folder)
    with pytest.raises(ValueError, match="another architecture: prompt_onset"):
        load_module_weights(shrunk, grown_folder, lm.config, grown={"prompt_onset": ("onset_embedding",)})
