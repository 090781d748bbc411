"""Runs of draws in one call (`arvid.sampling.fused`): the tokens of one draw and one push per token
from the same uniform numbers, eager and compiled, one stream or several."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from lm_fixtures import shapes_text_tokenizer, tiny_config

from arvid.lm.checkpoint import VideoLM
from arvid.lm.model import Transformer
from arvid.sampling import SamplerConfig, WindowedContext, generate
from arvid.sampling.fused import FusedDraws, draw_by_uniforms
from arvid.tokenizer import TokenizerConfig, VideoTokenizer


def small_lm() -> VideoLM:
    torch.manual_seed(0)
    config = replace(tiny_config(video_vocab_size=64, tokens_per_frame=16, window_frames=3), grid_positions=True)
    return VideoLM(Transformer(config).eval(), shapes_text_tokenizer())


def rows_of(lm: VideoLM, prompts: list[str], guided: bool) -> torch.Tensor:
    """Stream-major prefix rows: each prompt's, then (guided) the empty prompt's."""
    return torch.stack([lm.prompt_tokens(row) for prompt in prompts for row in ([prompt, ""] if guided else [prompt])])


def one_at_a_time(lm: VideoLM, context: WindowedContext, config: SamplerConfig, uniforms: torch.Tensor) -> torch.Tensor:
    """The reference: draw a token per stream at each (s) row of `uniforms` (t s), push it -> frame (s t)."""
    for row in uniforms:
        frame = context.push(draw_by_uniforms(context.logits[:, lm.vocab.video_slice()], config, row)
                             + lm.vocab.video_offset)
    return frame


@pytest.mark.parametrize("streams, guided, steps", [(1, False, 3), (1, True, 5), (2, True, 4), (3, True, 1)])
def test_runs_draw_the_tokens_of_one_draw_per_call(streams, guided, steps):
    """Six frames (past window shifts), runs of `steps` with a shorter last run (15 = 5 x 3, 3 x 5,
    3 x 4 + 3): the same tokens and the same context as one draw and push per token."""
    lm = small_lm()
    prompts = ["a red circle", "a blue square moving up", "a green triangle"][:streams]
    prefixes = rows_of(lm, prompts, guided)
    config = SamplerConfig(cfg_scale=2.0 if guided else 1.0, top_k=20, temperature=0.9)
    fused = FusedDraws(lm.model, config, lm.vocab.video_slice(), lm.vocab.video_offset, steps)
    # One after the other: two contexts of one model share its cache.
    context = WindowedContext(lm.model, prefixes, window_frames=3, streams=streams)
    drawing = torch.Generator().manual_seed(3)
    frames = [fused.draw_frame(context, drawing) for _ in range(6)]
    reference = WindowedContext(lm.model, prefixes, window_frames=3, streams=streams)
    replaying = torch.Generator().manual_seed(3)
    expected = [one_at_a_time(lm, reference, config, torch.rand(16, streams, generator=replaying)) for _ in range(6)]
    assert all(torch.equal(frame, other) for frame, other in zip(frames, expected, strict=True))
    assert torch.equal(context.tokens(), reference.tokens())
    assert torch.allclose(context.logits, reference.logits, atol=1e-4)


def test_a_compiled_run_draws_the_eager_runs_tokens():
    """The same frames with the decode step compiled (the runs then compile too) as eagerly."""
    config = SamplerConfig(cfg_scale=2.0, top_k=20)
    frames = []
    for compiled in (False, True):
        lm = small_lm()
        if compiled:
            lm.model.compile_decode()
        prefixes = rows_of(lm, ["a red circle"], guided=True)
        context = WindowedContext(lm.model, prefixes, window_frames=3)
        fused = FusedDraws(lm.model, config, lm.vocab.video_slice(), lm.vocab.video_offset, 2)
        generator = torch.Generator().manual_seed(1)
        frames.append(torch.stack([fused.draw_frame(context, generator) for _ in range(4)]))  # grad mode on
        assert hasattr(fused._compiled, "_torchdynamo_orig_callable") == compiled  # the runs themselves compiled
    assert torch.equal(frames[0], frames[1])


def test_a_stream_with_fused_steps_gives_the_frames_of_one_uniform_draw_per_pass():
    """`stream(fused_steps=n)` draws what `jacobi_block=1` draws (the same uniforms, one token per
    pass) when the first window has one candidate; bad values are refused."""
    torch.manual_seed(0)
    tokenizer = VideoTokenizer(TokenizerConfig(image_size=32, channels=8, channel_multipliers=(1, 2, 2), norm_groups=4,
                                               codebook_bits=6)).eval()
    lm = small_lm()
    config = SamplerConfig(cfg_scale=2.0, top_k=20, seed=5)
    one = generate(lm, tokenizer, "a red circle moving left", 7, config, jacobi_block=1)
    fused = generate(lm, tokenizer, "a red circle moving left", 7, config, fused_steps=4)
    assert all(torch.equal(a.codes, b.codes) for a, b in zip(one, fused, strict=True))
    candidates = generate(lm, tokenizer, "a red circle", 6, replace(config, first_window_candidates=2), fused_steps=3)
    assert len(candidates) == 6
    with pytest.raises(ValueError, match="fused_steps must be >= 0"):
        generate(lm, tokenizer, "a red circle", 2, config, fused_steps=-1)
    with pytest.raises(ValueError, match="choose one"):
        generate(lm, tokenizer, "a red circle", 2, config, fused_steps=2, jacobi_block=2)
    with pytest.raises(ValueError, match="fused_steps must be >= 1"):
        FusedDraws(lm.model, config, lm.vocab.video_slice(), lm.vocab.video_offset, 0)


def test_commit_refuses_the_frames_last_token_and_a_run_starts_a_frame():
    lm = small_lm()
    context = WindowedContext(lm.model, rows_of(lm, ["a red circle"], guided=False), window_frames=3)
    with pytest.raises(ValueError, match="inside the frame in progress"):
        context.commit(torch.zeros(16, dtype=torch.long), context.logits)
    context.push(torch.tensor(lm.vocab.video_offset))
    fused = FusedDraws(lm.model, SamplerConfig(), lm.vocab.video_slice(), lm.vocab.video_offset, 3)
    with pytest.raises(ValueError, match="starts a frame"):
        fused.draw_frame(context, torch.Generator())
