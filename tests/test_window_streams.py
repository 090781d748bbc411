"""Speed levers of the streaming context: several streams in one batch (each its own video tokens),
the rolling cache (no prefill when the window moves), and first-window candidates drawn together;
and prompt switches from the window, the frame on screen or scratch."""

from __future__ import annotations

from dataclasses import replace

import re

import numpy as np
import pytest
import torch
from lm_fixtures import shapes_text_tokenizer, tiny_config

from arvid.lm.checkpoint import VideoLM
from arvid.lm.model import Transformer
from arvid.sampling import SamplerConfig, WindowedContext
from arvid.sampling.first_window import draw_first_windows
from arvid.sampling.logits import draw_code, draw_codes

TOLERANCE = 1e-4  # float32, as the sliding-window invariant's test


def small_lm(**changes) -> VideoLM:
    torch.manual_seed(0)
    config = replace(tiny_config(video_vocab_size=64, tokens_per_frame=16, window_frames=3), **changes)
    return VideoLM(Transformer(config).eval(), shapes_text_tokenizer())


def guided_rows(lm: VideoLM, prompts: list[str]) -> torch.Tensor:
    """Stream-major prefix rows: each prompt's, then the empty prompt's."""
    return torch.stack([row for prompt in prompts for row in (lm.prompt_tokens(prompt), lm.prompt_tokens(""))])


@pytest.mark.parametrize("given", [0, 2])
def test_each_stream_of_a_batch_keeps_the_invariant_with_its_own_tokens(given):
    """Three streams with different prompts and tokens, across window shifts: every row's logits equal
    a fresh forward over that row's own sequence (the given frames shared by all streams)."""
    lm = small_lm(grid_positions=True)
    prefixes = guided_rows(lm, ["a red circle", "a blue square moving up", "a green triangle"])
    frames = [lm.vocab.video_offset + torch.randint(0, 64, (16,)) for _ in range(given)]
    context = WindowedContext(lm.model, prefixes, window_frames=3, frames=frames, streams=3)
    generator = torch.Generator().manual_seed(0)
    worst, completed = 0.0, []
    for _ in range(16 * 6):
        with torch.no_grad():
            fresh = lm.model(context.tokens())[:, -1]
        worst = max(worst, (context.logits - fresh).abs().max().item())
        frame = context.push(lm.vocab.video_offset + torch.randint(0, 64, (3,), generator=generator))
        if frame is not None:
            completed.append(frame)
    assert worst < TOLERANCE
    assert all(frame.shape == (3, 16) for frame in completed)
    tokens = context.tokens()
    assert not torch.equal(tokens[0, -16:], tokens[2, -16:])  # the streams drew apart
    assert torch.equal(tokens[0, prefixes.shape[1]:], tokens[1, prefixes.shape[1]:])  # a stream's two rows agree


def test_draw_codes_guides_each_stream_with_its_own_empty_row():
    logits = torch.randn(6, 20)
    config = SamplerConfig(cfg_scale=3.0, temperature=0)
    codes = draw_codes(logits, config, torch.Generator())
    expected = [int((logits[2 * s + 1] + 3 * (logits[2 * s] - logits[2 * s + 1])).argmax()) for s in range(3)]
    assert codes.tolist() == expected
    assert draw_code(logits[:2], config, torch.Generator()) == expected[0]


def test_the_rolling_cache_is_exact_for_one_layer_without_grid_positions():
    """One layer's cached keys depend on their token and position only, so moving them (keys rotated to
    their new slots) must give what a fresh forward gives: the rolling mechanics, checked exactly."""
    lm = small_lm(n_layers=1, grid_positions=False)
    context = WindowedContext(lm.model, guided_rows(lm, ["a red circle"]), window_frames=3, rolling=True)
    generator = torch.Generator().manual_seed(0)
    worst = 0.0
    for _ in range(16 * 8):  # five shifts
        with torch.no_grad():
            fresh = lm.model(context.tokens())[:, -1]
        worst = max(worst, (context.logits - fresh).abs().max().item())
        context.push(lm.vocab.video_offset + torch.randint(0, 64, (), generator=generator))
    assert worst < TOLERANCE


def test_the_rolling_cache_of_a_deeper_model_only_approximates():
    """With more layers the kept frames' states remember the frame that left: the logits then differ
    from a fresh forward (what the option trades), while staying finite."""
    lm = small_lm(n_layers=2, grid_positions=True)
    context = WindowedContext(lm.model, guided_rows(lm, ["a red circle"]), window_frames=3, rolling=True)
    generator = torch.Generator().manual_seed(0)
    worst = 0.0
    for _ in range(16 * 5):
        with torch.no_grad():
            fresh = lm.model(context.tokens())[:, -1]
        worst = max(worst, (context.logits - fresh).abs().max().item())
        context.push(lm.vocab.video_offset + torch.randint(0, 64, (), generator=generator))
    assert TOLERANCE < worst < float("inf")


def test_shift_cache_refuses_ranges_outside_the_cache():
    lm = small_lm()
    with pytest.raises(RuntimeError, match="setup_cache"):
        lm.model.shift_cache(20, 30, 5)
    lm.model.setup_cache(1, 64)
    for start, stop, by in [(20, 30, 0), (20, 70, 5), (4, 10, 5), (30, 20, 5)]:
        with pytest.raises(ValueError, match="cannot shift"):
            lm.model.shift_cache(start, stop, by)


def test_candidates_drawn_together_are_the_ones_drawn_apart_when_greedy():
    """Greedy draws leave nothing to chance, so batching the candidates must not change them; with
    sampling they are different draws of the same distributions, each a complete first window."""
    lm = small_lm(grid_positions=True)
    prefixes = guided_rows(lm, ["a red circle moving left"])
    greedy = SamplerConfig(cfg_scale=2.0, temperature=0)
    apart = draw_first_windows(lm, prefixes, [], greedy, 3, torch.Generator(), 3)
    together = draw_first_windows(lm, prefixes, [], greedy, 3, torch.Generator(), 3, batched=True)
    assert all(torch.equal(a, b) for x, y in zip(apart, together) for a, b in zip(x.frames, y.frames))
    sampled = draw_first_windows(lm, prefixes, [], SamplerConfig(cfg_scale=2.0), 3, torch.Generator().manual_seed(0),
                                 4, batched=True)
    assert len(sampled) == 4 and all(len(c.frames) == 4 and c.frames[0].shape == (16,) for c in sampled)
    assert len({tuple(c.frames[-1].tolist()) for c in sampled}) > 1


@pytest.mark.parametrize("levers", [{"batched_candidates": True}, {"rolling_cache": True},
                                    {"batched_candidates": True, "rolling_cache": True, "pipelined": True}])
def test_a_stream_with_speed_levers_gives_the_frames_of_todays_path_when_nothing_is_left_to_chance(levers):
    """Greedy draws with first-window candidates, on a one-layer LM without grid positions (where the
    rolling cache is exact): every lever yields the codes of the exact path, and frames within float
    rounding of the batched decoder."""
    from arvid.sampling import generate
    from arvid.tokenizer import TokenizerConfig, VideoTokenizer

    torch.manual_seed(0)
    tokenizer = VideoTokenizer(TokenizerConfig(image_size=32, channels=8, channel_multipliers=(1, 2, 2), norm_groups=4,
                                               codebook_bits=6)).eval()
    lm = small_lm(n_layers=1, grid_positions=False)
    config = SamplerConfig(temperature=0, cfg_scale=2.0, first_window_candidates=3)
    todays = generate(lm, tokenizer, "a red circle moving left", 7, config)
    levered = list(generate(lm, tokenizer, "a red circle moving left", 7, config, **levers))
    assert [f.index for f in levered] == list(range(7))
    for mine, theirs in zip(levered, todays):
        assert torch.equal(mine.codes, theirs.codes)
        assert abs(mine.frames.astype(int) - theirs.frames.astype(int)).max() <= 1


def _switch_models():
    from arvid.tokenizer import TokenizerConfig, VideoTokenizer

    torch.manual_seed(0)
    tokenizer = VideoTokenizer(TokenizerConfig(image_size=32, channels=8, channel_multipliers=(1, 2, 2), norm_groups=4,
                                               codebook_bits=6)).eval()
    return small_lm(grid_positions=True), tokenizer


def _switched_stream(lm, tokenizer, config, before, after, at, last, **options):
    """Latent frames 0 to `last` of a stream whose prompt turns from `before` to `after` at latent frame `at`."""
    from arvid.sampling import stream

    frames = []
    for latent in stream(lm, tokenizer, before, config, prompts=lambda i: after if i >= at else before, **options):
        frames.append(latent)
        if latent.index == last:
            return frames


def test_a_closed_stream_lets_go_of_its_cache_and_leaves_another_streams_alone():
    """Closing a stream frees the model's KV cache at once (on a GPU its largest memory), unless
    another stream of the model is using it: interleaved, B goes on as it would alone."""
    from itertools import islice

    from arvid.sampling import stream

    lm, tokenizer = _switch_models()
    config = SamplerConfig(temperature=0, cfg_scale=2.0)
    alone = [frame.codes for frame in islice(stream(lm, tokenizer, "a blue square moving up", config), 4)]
    first = stream(lm, tokenizer, "a red circle moving left", config)
    second = stream(lm, tokenizer, "a blue square moving up", config)
    next(first), next(first)
    drawn = [next(second).codes, next(second).codes]
    next(first)
    first.close()  # A's cache is the one in use: it goes; B's stays with B, which puts it back at its next step
    drawn += [next(second).codes, next(second).codes]
    assert all(torch.equal(mine, theirs) for mine, theirs in zip(drawn, alone, strict=True))
    assert lm.model.layers[0].self_attn.cache is not None  # B's, in use
    second.close()
    assert all(layer.self_attn.cache is None for layer in lm.model.layers)


@pytest.mark.parametrize("pipelined", [False, True])
def test_a_switch_from_scratch_starts_the_new_prompts_stream_afresh(pipelined):
    """Greedy draws: from the switch on, a stream switched "from scratch" draws what a fresh stream of
    the new prompt draws from its anchor on, codes and frames (its new anchor decoded afresh, one
    frame, marked `restart`), decoded or pipelined alike; a switch over the same window does not."""
    from arvid.sampling import generate

    lm, tokenizer = _switch_models()
    config = SamplerConfig(temperature=0, cfg_scale=2.0)
    before, after, at = "a red circle moving left", "a blue square moving up", 5
    fresh = generate(lm, tokenizer, after, 3, config)
    for switch_from in ("scratch", "window"):
        frames = _switched_stream(lm, tokenizer, config, before, after, at, at + 2, switch_from=switch_from,
                                  pipelined=pipelined)
        same = [torch.equal(mine.codes, theirs.codes) for mine, theirs in zip(frames[at:], fresh)]
        assert all(same) if switch_from == "scratch" else not all(same)
        assert frames[at].prompt == after
        assert [latent.restart for latent in frames] == [switch_from == "scratch" and i == at for i in range(at + 3)]
        if switch_from == "scratch":
            for mine, theirs in zip(frames[at:], fresh, strict=True):
                assert np.array_equal(mine.frames, theirs.frames)  # (1 frame for the new anchor)


@pytest.mark.parametrize("pipelined", [False, True])
def test_a_switch_from_the_frame_on_screen_is_image_to_video_from_that_frame(pipelined):
    """Greedy draws: from a switch "from the frame", the stream's codes and frames are exactly those
    of an image-to-video stream of the new prompt whose image is the last frame shown before the
    switch (after its anchor, which is that frame encoded and is not shown again), decoded or
    pipelined alike."""
    from arvid.sampling import generate

    lm, tokenizer = _switch_models()
    config = SamplerConfig(temperature=0, cfg_scale=2.0)
    before, after, at = "a red circle moving left", "a blue square moving up", 5
    frames = _switched_stream(lm, tokenizer, config, before, after, at, at + 3, switch_from="frame",
                              pipelined=pipelined)
    assert [latent.index for latent in frames] == list(range(at + 4))  # the anchor is not a latent frame of its own
    assert frames[at].prompt == after
    image = frames[at - 1].frames[-1]
    fresh = generate(lm, tokenizer, after, 5, config, image=image)[1:]
    for mine, theirs in zip(frames[at:], fresh, strict=True):
        assert torch.equal(mine.codes, theirs.codes)
        np.testing.assert_array_equal(mine.frames, theirs.frames)
    before_switch = _switched_stream(lm, tokenizer, config, before, before, at, at - 1)
    for mine, theirs in zip(frames[:at], before_switch, strict=True):  # nothing changes before it
        assert torch.equal(mine.codes, theirs.codes)


def test_an_unknown_switch_from_is_refused_before_any_frame():
    from arvid.sampling import stream

    lm, tokenizer = _switch_models()
    with pytest.raises(ValueError, match="switch_from must be one of window, frame, scratch"):
        stream(lm, tokenizer, "a red circle", SamplerConfig(temperature=0), prompts=lambda i: "x", switch_from="here")


@pytest.mark.parametrize("candidates", [1, 3])
def test_a_batch_of_prompts_draws_what_each_prompt_draws_alone_when_greedy(candidates):
    """`stream_batch`: each prompt's row of the batch follows its own prompt (greedy draws: exactly
    the codes of `stream` on that prompt alone, frames within the batched decoder's rounding)."""
    from itertools import islice

    from arvid.sampling import generate, stream_batch
    from arvid.tokenizer import TokenizerConfig, VideoTokenizer

    torch.manual_seed(0)
    tokenizer = VideoTokenizer(TokenizerConfig(image_size=32, channels=8, channel_multipliers=(1, 2, 2), norm_groups=4,
                                               codebook_bits=6)).eval()
    lm = small_lm(grid_positions=True)
    config = SamplerConfig(temperature=0, cfg_scale=2.0, first_window_candidates=candidates)
    prompts = ["a red circle moving left", "a blue square moving up", "a green triangle"]
    steps = list(islice(stream_batch(lm, tokenizer, prompts, config), 6))
    assert all(len(step) == 3 and [f.index for f in step] == [i] * 3 for i, step in enumerate(steps))
    for row, prompt in enumerate(prompts):
        alone = generate(lm, tokenizer, prompt, 6, config)
        for step, theirs in zip(steps, alone):
            assert torch.equal(step[row].codes, theirs.codes)
            assert abs(step[row].frames.astype(int) - theirs.frames.astype(int)).max() <= 1
    with pytest.raises(ValueError, match="at least one prompt"):
        stream_batch(lm, tokenizer, [], config)


@pytest.mark.parametrize("cfg, block", [(1.0, 4), (2.0, 3), (2.0, 8)])
def test_jacobi_decoding_draws_exactly_the_plain_tokens_from_the_same_uniforms(cfg, block):
    """Several frames past window shifts, sampled (temperature 1, top-k) with and without guidance:
    Jacobi blocks keep exactly the tokens one token per pass draws from the same uniforms, whatever
    the guesses (the previous frame's, or random ones), in fewer passes when the guesses are right."""
    from arvid.sampling.jacobi import draw_frame_jacobi, draw_frame_plain

    lm = small_lm(grid_positions=True)
    prompts = ["a red circle"] if cfg == 1.0 else ["a red circle", ""]
    prefixes = torch.stack([lm.prompt_tokens(p) for p in prompts])
    config = SamplerConfig(cfg_scale=cfg, top_k=20)
    video, offset = lm.vocab.video_slice(), lm.vocab.video_offset
    uniforms = torch.rand(6, 16, generator=torch.Generator().manual_seed(3))
    plain = WindowedContext(lm.model, prefixes, window_frames=3)
    expected = [draw_frame_plain(plain, config, u, video, offset) for u in uniforms]
    for guess in ("previous", "random", "right"):
        context = WindowedContext(lm.model, prefixes, window_frames=3)
        previous, passes = torch.full((16,), offset), []
        for u, frame in zip(uniforms, expected):
            guesses = {"previous": previous, "random": offset + torch.randint(0, 64, (16,)), "right": frame}[guess]
            previous, count = draw_frame_jacobi(context, config, u, guesses, video, offset, block=block)
            assert torch.equal(previous, frame)
            passes.append(count)
        if guess == "right":  # every guess right: one pass per block, then one per remaining token
            assert max(passes) < 16
    assert torch.equal(context.tokens(), plain.tokens())


def test_a_stream_with_jacobi_blocks_gives_the_frames_of_one_token_per_pass():
    """`stream(jacobi_block=n)`: the same codes for n = 1 (one token per pass) and n = 4 and 8."""
    from arvid.sampling import generate
    from arvid.tokenizer import TokenizerConfig, VideoTokenizer

    torch.manual_seed(0)
    tokenizer = VideoTokenizer(TokenizerConfig(image_size=32, channels=8, channel_multipliers=(1, 2, 2), norm_groups=4,
                                               codebook_bits=6)).eval()
    lm = small_lm(grid_positions=True)
    config = SamplerConfig(cfg_scale=2.0, top_k=20, first_window_candidates=2, seed=5)
    one = generate(lm, tokenizer, "a red circle moving left", 8, config, jacobi_block=1)
    for block in (4, 8):
        many = generate(lm, tokenizer, "a red circle moving left", 8, config, jacobi_block=block)
        assert all(torch.equal(a.codes, b.codes) for a, b in zip(one, many))
    with pytest.raises(ValueError, match="jacobi_block"):
        generate(lm, tokenizer, "a red circle", 2, config, jacobi_block=-1)


@pytest.mark.parametrize("options", [{}, {"rolling_cache": True}, {"fused_steps": 3}, {"jacobi_block": 4}])
def test_two_streams_on_one_model_draw_what_each_draws_alone(options):
    """Two streams of one LM advanced in turn, and a `generate` call while one waits, past window
    shifts (sampled, guided, a prompt of another length): each stream yields the codes it yields alone.
    They share the model, whose cache each puts back before it runs (`WindowedContext.claim_cache`)."""
    from arvid.sampling import generate, stream

    lm, tokenizer = _switch_models()
    config = SamplerConfig(cfg_scale=2.0, top_k=20, seed=3)
    prompts = ("a red circle moving left", "a large blue square moving up on a white background")
    alone = [generate(lm, tokenizer, prompt, 5, config, **options) for prompt in prompts]
    first, second = (stream(lm, tokenizer, prompt, config, **options) for prompt in prompts)
    together = [[], []]
    for index in range(5):
        together[0].append(next(first))
        together[1].append(next(second))
        if index == 2:
            generate(lm, tokenizer, "a green triangle", 2, replace(config, seed=9), **options)
    for mine, theirs in zip(together, alone):
        assert all(torch.equal(a.codes, b.codes) for a, b in zip(mine, theirs, strict=True))


def test_a_cache_state_is_put_back_as_it_was_left():
    lm = small_lm(grid_positions=True)
    model = lm.model
    with pytest.raises(RuntimeError, match="setup_cache"):
        model.cache_state()
    model.setup_cache(2, 64)
    state = model.cache_state()
    assert model.holds_cache(state)
    model.setup_cache(1, 32)
    assert not model.holds_cache(state)
    model.restore_cache(state)
    assert model.holds_cache(state) and model.layers[-1].self_attn.cache is state.caches[-1]


def test_jacobi_blocks_draw_the_anchor_too_without_first_window_candidates():
    """With one first window, the anchor is drawn by Jacobi blocks as well (nothing before it to guess
    from): the codes of one token per pass."""
    from arvid.sampling import generate

    lm, tokenizer = _switch_models()
    config = SamplerConfig(cfg_scale=2.0, top_k=20, seed=5)
    one = generate(lm, tokenizer, "a red circle moving left", 3, config, jacobi_block=1)
    four = generate(lm, tokenizer, "a red circle moving left", 3, config, jacobi_block=4)
    assert all(torch.equal(a.codes, b.codes) for a, b in zip(one, four, strict=True))


def test_mistaken_arguments_are_refused_before_the_first_frame():
    """Mistakes a Python caller makes, refused when the stream is made (not after a first window is
    drawn), each naming what is expected."""
    from arvid.sampling import generate, stream, stream_batch

    lm, tokenizer = _switch_models()
    config = SamplerConfig(temperature=0)
    image = np.zeros((32, 32, 3), np.uint8)
    for wrong, named in (("a red circle", "the string 'a red circle'"), (b"a red circle", "the string b'a red"),
                         (3, "got int"), (None, "got NoneType")):
        with pytest.raises(TypeError, match=f"list of prompts, .*{re.escape(named)}"):
            stream_batch(lm, tokenizer, wrong, config)
    with pytest.raises(TypeError, match="prompts must be a function"):
        stream(lm, tokenizer, "a red circle", config, prompts="a blue square")
    with pytest.raises(ValueError, match="image must be one frame"):
        stream(lm, tokenizer, "a red circle", config, image=np.stack([image] * 5))
    with pytest.raises(ValueError, match="video must be frames"):
        stream(lm, tokenizer, "a red circle", config, video=image)
    with pytest.raises(ValueError, match="video has no frames"):
        stream(lm, tokenizer, "a red circle", config, video=image[None, :0][:0])
    with pytest.raises(TypeError, match="latent_frames must be an integer"):
        generate(lm, tokenizer, "a red circle", 2.0, config)
    for changes in ({"seed": None}, {"temperature": float("nan")}, {"top_k": 2.5}):
        with pytest.raises(ValueError, match=f"{next(iter(changes))} must be"):
            replace(config, **changes)


def test_a_seed_given_to_the_stream_keeps_the_rest_of_the_config_and_flipped_images_work():
    from arvid.sampling import generate

    lm, tokenizer = _switch_models()
    config = SamplerConfig(cfg_scale=2.0, top_k=20, seed=0)
    image = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    seeded = generate(lm, tokenizer, "a red circle", 2, config, seed=4, image=image[:, ::-1])
    replaced = generate(lm, tokenizer, "a red circle", 2, replace(config, seed=4), image=image[:, ::-1].copy())
    assert all(torch.equal(a.codes, b.codes) for a, b in zip(seeded, replaced, strict=True))
