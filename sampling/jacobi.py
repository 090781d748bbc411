"""Drawing a latent frame several tokens per forward pass (Jacobi decoding), with the tokens that one
token per pass draws from the same random numbers (to float rounding: below).

Every token is drawn by inverse-CDF sampling from its own uniform number, `uniforms[i]` for the
frame's token i (`draw_by_uniform`): the token is a fixed function of its logits and that number.
The plain path feeds the drawn token and reads the next logits, one forward pass per token. The
Jacobi path feeds the exact next token followed by guesses for the tokens after it (the same cell of
the previous latent frame at first, then what the last pass drew there), one pass for the block:
a guess that equals what the pass draws at its position was right, so the token after it is drawn
from exact logits too. The longest run of right guesses is kept (at least the one exact token) and
the pass's later draws become the next guesses. Kept tokens therefore equal the plain path's, token
for token (tested), up to float rounding: a pass over several tokens computes attention by another
routine than a one-token pass (logits within about 1e-5 for the shipped LM), so a uniform number that
falls that close to a boundary between two codes can draw the other one (about 2 in 100,000 tokens:
over a long stream the two paths can part). A frame costs as many passes as its runs of wrong
guesses, at most one per token. Blocks stay inside the latent frame and stop before its last token, whose push slides the
window.

Einops legend: b rows, n block tokens, v vocabulary (the video codes), t tokens per latent frame.
"""

from __future__ import annotations

import torch
from torch import Tensor

from arvid.sampling.fused import draw_by_uniforms
from arvid.sampling.logits import SamplerConfig
from arvid.sampling.window import WindowedContext


def draw_by_uniform(logits: Tensor, config: SamplerConfig, uniform: Tensor) -> Tensor:
    """One video code () from one stream's rows of logits (b v) (guided as `draw_codes` guides them),
    by inverse-CDF sampling at `uniform` (a () float in [0, 1)): a fixed function of the two
    (`draw_by_uniforms` for one stream)."""
    return draw_by_uniforms(logits, config, uniform.reshape(1))[0]


def draw_frame_plain(context: WindowedContext, config: SamplerConfig, uniforms: Tensor, video: slice,
                     offset: int) -> Tensor:
    """Draw one latent frame into `context` (one stream, at a frame's start), one token per pass, the
    frame's token i from `uniforms[i]` -> the frame's token ids (t,)."""
    for uniform in uniforms:
        frame = context.push(draw_by_uniform(context.logits[:, video], config, uniform) + offset)
    return frame


def draw_frame_jacobi(context: WindowedContext, config: SamplerConfig, uniforms: Tensor, guesses: Tensor,
                      video: slice, offset: int, *, block: int) -> tuple[Tensor, int]:
    """As `draw_frame_plain` (the same tokens), `block` tokens per pass where guesses allow.

    Args:
        guesses: (t,) token ids guessed for the frame (the previous latent frame's, say).
        block: tokens fed per pass (>= 2).
    Returns:
        The frame's token ids (t,) and the forward passes it took.
    """
    tokens = len(uniforms)
    guesses = guesses.clone()
    drawn, passes = 0, 0
    while tokens - 1 - drawn >= block:  # a whole block fits before the frame's last token
        exact = draw_by_uniform(context.logits[:, video], config, uniforms[drawn]) + offset
        feed = torch.cat([exact[None], guesses[drawn + 1:drawn + block]])
        logits = context.peek(feed)  # (b n v): the logits after each fed token
        passes += 1
        after = torch.stack([draw_by_uniform(logits[:, j, video], config, uniforms[drawn + 1 + j]) + offset
                             for j in range(block)])  # what each position after a fed token draws
        kept = 1
        while kept < block and feed[kept] == after[kept - 1]:
            kept += 1
        context.commit(feed[:kept], logits[:, kept - 1])
        guesses[drawn + 1:drawn + 1 + block] = after  # the pass's draws guess the positions after the kept run
        drawn += kept
    while drawn < tokens:
        frame = context.push(draw_by_uniform(context.logits[:, video], config, uniforms[drawn]) + offset)
        passes += 1
        drawn += 1
    return frame, passes
