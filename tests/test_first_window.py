"""Consensus first windows (`arvid.sampling.first_window`): the motion estimate reads rendered clips
right, candidates are the sampler's own draws, and the stream keeps the medoid of their motions."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from lm_fixtures import shapes_text_tokenizer, tiny_config

from arvid.lm.checkpoint import VideoLM
from arvid.lm.model import Transformer
from arvid.sampling import SamplerConfig, generate
from arvid.shapes.world import DIRECTIONS, ShapeAttributes, render
from arvid.sampling.first_window import consensus, dominant_motion, draw_first_windows
from arvid.tokenizer import TokenizerConfig, VideoTokenizer

PROMPT = "a red circle moving left"
WINDOW = 3  # the fixture LM's window: the first window is the anchor and latent frames 1-3


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    tokenizer = VideoTokenizer(TokenizerConfig(image_size=32, channels=8, channel_multipliers=(1, 2, 2), norm_groups=4,
                                               codebook_bits=6)).eval()
    lm = VideoLM(Transformer(tiny_config(video_vocab_size=64, tokens_per_frame=16, window_frames=WINDOW)).eval(),
                 shapes_text_tokenizer())
    return lm, tokenizer


def _prefixes(lm: VideoLM) -> torch.Tensor:
    return torch.stack([lm.prompt_tokens(PROMPT), lm.prompt_tokens("")])


@pytest.mark.parametrize("speed", ["slow", "fast"])
def test_dominant_motion_reads_every_direction_of_rendered_clips(speed):
    """Known answers: rendered shapes clips move 1 or 2 pixels a frame in one of 8 directions."""
    for k, direction in enumerate(DIRECTIONS):
        attrs = ShapeAttributes("triangle", "red", "small", direction, speed, "black")
        dx, dy = dominant_motion(render(attrs, frames=17, seed=k).video).tolist()
        angle = math.degrees(math.atan2(-dy, dx)) % 360  # y points down in images
        assert min(abs(angle - 45 * k), 360 - abs(angle - 45 * k)) < 2.0, (direction, angle)


def test_dominant_motion_of_still_and_blank_videos_is_zero():
    still = np.repeat(render(ShapeAttributes("circle", "blue", "large", "up", "fast", "white"), frames=1,
                             seed=0).video, 5, axis=0)
    assert dominant_motion(still).abs().max().item() < 1e-3
    assert dominant_motion(np.zeros((4, 16, 16, 3), np.uint8)).abs().max().item() == 0
    with pytest.raises(ValueError, match="t >= 2"):
        dominant_motion(still[:1])


def test_consensus_is_the_medoid():
    # Summed distances: 12.73, 4.99, 4.64, 4.70: [3, 0] sits between the two others that go right.
    motions = [torch.tensor(v) for v in ([0.0, 3.0], [3.2, 0.0], [3.0, 0.0], [2.8, 0.0])]
    assert consensus(motions) == 2
    assert consensus([torch.zeros(2)] * 3) == 0  # ties: the earliest


def test_the_first_candidate_is_the_plain_samplers_draw(models):
    lm, tokenizer = models
    config = SamplerConfig(cfg_scale=2.0, first_window_temperature=0.5, top_k=20, seed=11)
    plain = generate(lm, tokenizer, PROMPT, WINDOW + 1, config)
    candidates = draw_first_windows(lm, _prefixes(lm), [], config, WINDOW, torch.Generator().manual_seed(11), 3)
    first_codes = [lm.vocab.video_codes(frame).view(4, 4) for frame in candidates[0].frames]
    assert all(torch.equal(a.codes, b) for a, b in zip(plain, first_codes))
    assert not all(torch.equal(a, b) for a, b in zip(candidates[0].frames, candidates[1].frames))


@pytest.mark.parametrize("batched", [False, True])
def test_the_stream_keeps_the_consensus_candidate_and_goes_on(models, batched):
    """Sampled candidates (temperature 1), one after another or as one batch (`batched_candidates`):
    they differ, and the stream keeps their motion medoid and goes on from it."""
    lm, tokenizer = models
    config = SamplerConfig(cfg_scale=2.0, top_k=20, seed=4, first_window_candidates=4)
    frames = generate(lm, tokenizer, PROMPT, WINDOW + 3, config, batched_candidates=batched)
    candidates = draw_first_windows(lm, _prefixes(lm), [], config, WINDOW, torch.Generator().manual_seed(4), 4,
                                    batched=batched)
    assert len({tuple(torch.cat(c.frames).tolist()) for c in candidates}) == 4  # four draws, not one copied
    videos = []
    for candidate in candidates:  # decoded frame by frame, as the stream decodes
        decoder = tokenizer.streaming_decoder()
        videos.append(np.concatenate([decoder.push_frames(lm.vocab.video_codes(f).view(4, 4)) for f in candidate.frames]))
    chosen = candidates[consensus([dominant_motion(video) for video in videos])]
    assert all(torch.equal(a.codes.flatten() + lm.vocab.video_offset, b) for a, b in zip(frames, chosen.frames))
    assert [f.index for f in frames] == list(range(WINDOW + 3)) and not any(f.given for f in frames)
    assert [f.frames.shape for f in frames] == [(1, 32, 32, 3)] + [(4, 32, 32, 3)] * (WINDOW + 2)
    again = generate(lm, tokenizer, PROMPT, WINDOW + 3, config, batched_candidates=batched)
    assert all(torch.equal(a.codes, b.codes) for a, b in zip(frames, again))


def test_candidates_drawn_to_an_earlier_frame_are_the_start_of_whole_ones(models):
    """`until` ends the draws early: the same generator gives each candidate's first frames."""
    lm, _ = models
    config = SamplerConfig(cfg_scale=2.0, top_k=20, seed=2)
    whole = draw_first_windows(lm, _prefixes(lm), [], config, WINDOW, torch.Generator().manual_seed(2), 3, batched=True)
    early = draw_first_windows(lm, _prefixes(lm), [], config, WINDOW, torch.Generator().manual_seed(2), 3, batched=True,
                               until=1)
    assert [len(c.frames) for c in early] == [2, 2, 2] and [len(c.frames) for c in whole] == [WINDOW + 1] * 3
    assert all(torch.equal(a, b) for e, w in zip(early, whole) for a, b in zip(e.frames, w.frames))
    from_config = draw_first_windows(lm, _prefixes(lm), [], replace(config, first_window_choice_frames=2), WINDOW,
                                     torch.Generator().manual_seed(2), 3, batched=True)
    assert all(torch.equal(a, b) for e, c in zip(early, from_config) for a, b in zip(e.frames, c.frames, strict=True))
    for until in (-1, WINDOW + 1):
        with pytest.raises(ValueError, match="until must be from 0"):
            draw_first_windows(lm, _prefixes(lm), [], config, WINDOW, torch.Generator(), 2, until=until)


def test_choice_frames_are_counted_from_the_anchor_and_clamped_to_the_window():
    config = SamplerConfig(first_window_choice_frames=3)
    assert config.candidates_until(4, 0) == 2  # latent frames 0, 1, 2
    assert config.candidates_until(4, 3) == 3  # three given: one frame is still drawn for each
    assert config.candidates_until(1, 0) == 1  # a shorter window than the choice
    assert SamplerConfig().candidates_until(4, 0) == 4  # None: the whole first window
    with pytest.raises(ValueError, match="first_window_choice_frames must be >= 2"):
        SamplerConfig(first_window_choice_frames=1)
    assert SamplerConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize("batched", [False, True])
def test_an_early_choice_keeps_a_candidates_first_frames_and_draws_the_window_on(models, batched):
    """With `first_window_choice_frames` 2, four candidates are drawn to latent frame 1, the medoid of
    their motion is kept, and the stream goes on from its two frames; a choice at the window's end or
    later is the whole first window's."""
    lm, tokenizer = models
    config = SamplerConfig(cfg_scale=2.0, top_k=20, seed=4, first_window_candidates=4, first_window_choice_frames=2)
    frames = generate(lm, tokenizer, PROMPT, WINDOW + 3, config, batched_candidates=batched)
    candidates = draw_first_windows(lm, _prefixes(lm), [], config, WINDOW, torch.Generator().manual_seed(4), 4,
                                    batched=batched, until=1)
    videos = []
    for candidate in candidates:
        decoder = tokenizer.streaming_decoder()
        videos.append(np.concatenate([decoder.push_frames(lm.vocab.video_codes(f).view(4, 4)) for f in candidate.frames]))
    chosen = candidates[consensus([dominant_motion(video) for video in videos])]
    assert all(torch.equal(a.codes.flatten() + lm.vocab.video_offset, b) for a, b in zip(frames[:2], chosen.frames))
    assert [f.index for f in frames] == list(range(WINDOW + 3))
    assert [f.frames.shape for f in frames] == [(1, 32, 32, 3)] + [(4, 32, 32, 3)] * (WINDOW + 2)
    # The kept candidate's decoder goes on: the pixels are those of decoding the codes in one stream.
    decoder = tokenizer.streaming_decoder()
    for frame in frames:
        again = decoder.push_frames(frame.codes)
        assert np.abs(again.astype(int) - frame.frames.astype(int)).max() <= 1
    whole = generate(lm, tokenizer, PROMPT, WINDOW + 3, replace(config, first_window_choice_frames=None),
                     batched_candidates=batched)
    late = generate(lm, tokenizer, PROMPT, WINDOW + 3, replace(config, first_window_choice_frames=WINDOW + 5),
                    batched_candidates=batched)
    assert all(torch.equal(a.codes, b.codes) for a, b in zip(whole, late))
    assert not all(torch.equal(a.codes, b.codes) for a, b in zip(whole, frames))


def test_candidates_after_a_given_image_and_without_guidance(models):
    lm, tokenizer = models
    image = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    frames = generate(lm, tokenizer, PROMPT, WINDOW + 2, SamplerConfig(first_window_candidates=2), image=image)
    assert [f.given for f in frames] == [True] + [False] * (WINDOW + 1)
    guided = generate(lm, tokenizer, PROMPT, WINDOW + 2, SamplerConfig(first_window_candidates=3, cfg_scale=2.0),
                      image=image)
    assert torch.equal(frames[0].codes, guided[0].codes)


def test_bad_candidate_requests(models):
    lm, _ = models
    with pytest.raises(ValueError, match="first_window_candidates must be >= 1"):
        SamplerConfig(first_window_candidates=0)
    full = [torch.full((16,), lm.vocab.video_offset)] * (WINDOW + 1)
    with pytest.raises(ValueError, match="is complete"):
        draw_first_windows(lm, _prefixes(lm), full, SamplerConfig(), WINDOW, torch.Generator(), 2)
    with pytest.raises(ValueError, match="on_frame is for batched draws"):
        draw_first_windows(lm, _prefixes(lm), [], SamplerConfig(), WINDOW, torch.Generator(), 2, on_frame=print)


@pytest.mark.parametrize("fused_steps", [0, 5])
def test_a_first_windows_last_token_is_not_fed_and_each_frame_is_handed_on_as_drawn(models, fused_steps, monkeypatch):
    """Nothing is drawn after a candidate's last token, so the model does not run on it: one prefill
    and a decode step for every other token (no slide and prefill at the full window). `on_frame`
    gets each latent frame of every row as it is drawn."""
    lm, _ = models
    calls = {"prefill": 0, "tokens": 0}

    def counted(name, key):
        run = getattr(lm.model, name)

        def counting(tokens, *args, **kwargs):
            calls[key] += 1 if key == "prefill" else tokens.shape[1]
            return run(tokens, *args, **kwargs)
        monkeypatch.setattr(lm.model, name, counting)

    counted("prefill", "prefill")
    counted("decode", "tokens")  # the eager draws' steps
    counted("decode_unchecked", "tokens")  # the fused runs' steps
    handed = []

    def on_frame(frame):  # as soon as it is drawn: the model has run on its tokens (the last one fed unless
        # it is the window's last), none of the next frame's
        assert calls["tokens"] == 16 * len(handed) + (15 if len(handed) == WINDOW else 16)
        handed.append(frame)

    config = SamplerConfig(cfg_scale=2.0, top_k=20)
    candidates = draw_first_windows(lm, _prefixes(lm), [], config, WINDOW, torch.Generator().manual_seed(2), 3,
                                    batched=True, fused_steps=fused_steps, on_frame=on_frame)
    drawn = (WINDOW + 1) * 16  # the anchor and latent frames 1-3, 16 tokens each
    assert calls == {"prefill": 1, "tokens": drawn - 1}
    assert len(handed) == WINDOW + 1 and all(frame.shape == (3, 16) for frame in handed)
    assert all(torch.equal(handed[i][c], candidates[c].frames[i]) for i in range(WINDOW + 1) for c in range(3))


def test_a_context_pushed_a_final_token_keeps_its_frame_without_running_the_model(models):
    from arvid.sampling.window import WindowedContext

    lm, _ = models
    context = WindowedContext(lm.model, _prefixes(lm), window_frames=WINDOW, frames=[], streams=1)
    for token in range(15):
        assert context.push(torch.tensor(lm.vocab.video_offset + token), final=True) is None  # not a frame's last
    assert context.logits is not None and context.length == _prefixes(lm).shape[1] + 15
    frame = context.push(torch.tensor(lm.vocab.video_offset + 15), final=True)
    assert torch.equal(frame, lm.vocab.video_offset + torch.arange(16))
    assert context.logits is None and context.length == _prefixes(lm).shape[1] + 15 and context.finished
    with pytest.raises(ValueError, match="took its final token"):
        context.push(torch.tensor(lm.vocab.video_offset))
    with pytest.raises(ValueError, match="took its final token"):
        context.switch(_prefixes(lm))
