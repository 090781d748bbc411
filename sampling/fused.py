"""Drawing runs of tokens inside one compiled call (the `fused_steps` lever of `stream`).

A compiled decode step still costs a Python round trip per token: the call, its guards, then the
draw (guidance, temperature, top-k, the random pick) as a dozen eager operations. `FusedDraws`
compiles a run of `steps` tokens as one graph: draw each stream's token from the current logits,
feed it, read the next logits, `steps` times. Every token is drawn by inverse-CDF sampling from
its own uniform number (`draw_by_uniforms`, the draws of `arvid.sampling.jacobi`), so the tokens
are a fixed function of the logits and the uniforms: the eager run gives exactly the tokens of
drawing and pushing one token at a time (tested), and the compiled one differs only where float
rounding moves a uniform across a boundary of the cumulative distribution.

Runs stay inside a latent frame and stop before its last token, whose push slides the window
(`WindowedContext.push`); that token is drawn eagerly.

Einops legend: b rows (streams x rows per stream), s streams, v vocabulary, k run length,
t tokens per latent frame.
"""

from __future__ import annotations

import torch
from torch import Tensor

from arvid.lm.model import Transformer, compile_for_inference
from arvid.sampling.logits import SamplerConfig, filter_logits, guide
from arvid.sampling.window import WindowedContext


def draw_by_uniforms(logits: Tensor, config: SamplerConfig, uniforms: Tensor) -> Tensor:
    """One code per stream (s) int64 from a context's rows of logits (b v), stream-major (under
    guidance each stream's prompt row, then its empty prompt's, guided as `draw_codes` guides
    them), by inverse-CDF sampling at `uniforms` (s) float in [0, 1): a fixed function of the two."""
    if config.guided:
        logits = guide(logits[0::2], logits[1::2], config.cfg_scale)
    logits = logits.float()
    if config.temperature == 0:
        return logits.argmax(-1)
    probs = filter_logits(logits / config.temperature, top_k=config.top_k, top_p=config.top_p).softmax(-1)
    cumulative = probs.cumsum(-1)
    targets = (uniforms.to(cumulative.dtype) * cumulative[:, -1])[:, None]
    return torch.searchsorted(cumulative, targets, right=True)[:, 0].clamp_max(probs.shape[-1] - 1)


class FusedDraws:
    """Draws latent frames into a `WindowedContext` by runs of `steps` tokens per call.

    Args:
        model: the context's LM; when its decode step is compiled (`Transformer.compile_decode`),
            the runs are compiled as well (one graph per row count), else they run eagerly.
        config: how tokens are drawn.
        video: the video codes' slice of the vocabulary; `offset` the first code's token id.
        steps: tokens per run (>= 1).
    Raises:
        ValueError: `steps` < 1.
    """

    def __init__(self, model: Transformer, config: SamplerConfig, video: slice, offset: int, steps: int) -> None:
        if steps < 1:
            raise ValueError(f"fused_steps must be >= 1, got {steps}")
        self.model, self.config, self.video, self.offset, self.steps = model, config, video, offset, steps
        self._compiled = compile_for_inference(self._run, model) if model.decode_is_compiled else self._run

    @torch.no_grad()
    def draw_frame(self, context: WindowedContext, generator: torch.Generator, *, final: bool = False) -> Tensor:
        """Draw one latent frame into `context` -> its token ids (s t); `final` as `WindowedContext.push`'s
        (the frame's last token is not fed: nothing is drawn after it).

        Raises:
            ValueError: a frame already in progress in `context`.
        """
        if context.current:
            raise ValueError(f"draw_frame starts a frame: {len(context.current)} tokens of one are drawn already")
        tokens = context.tokens_per_frame
        uniforms = torch.rand(tokens, context.streams, generator=generator, device=generator.device)
        context.claim_cache()  # the runs below decode on the model's cache directly
        drawn = 0
        while tokens - 1 - drawn >= self.steps:
            start = self.model.positions(context.length)
            codes, logits = self.run(context.logits, start, uniforms[drawn:drawn + self.steps], context.rows_per_stream)
            context.commit(codes, logits)
            drawn += self.steps
        while (frame := context.push(self._draw(context.logits, uniforms[drawn]), final=final)) is None:
            drawn += 1
        return frame

    @torch.no_grad()
    def run(self, logits: Tensor, start: Tensor, uniforms: Tensor, rows_per_stream: int) -> tuple[Tensor, Tensor]:
        """One run, compiled when the model's decode step is: k tokens per stream, each drawn from the
        logits (b v) before it at `uniforms` (k s) and fed at position `start` (1,) + i (in the model's
        static cache, after the cached tokens) -> (token ids (k s), the logits after the last (b v)).
        With temperature 0 the uniforms only set k."""
        # Contiguous: logits sliced from a prefill's (b n v) have a stride per prefill length, and a
        # compiled run guards on strides: each new one would compile the run again.
        return self._compiled(logits.contiguous(), start, uniforms, rows_per_stream)

    def _draw(self, logits: Tensor, uniforms: Tensor) -> Tensor:
        return draw_by_uniforms(logits[:, self.video], self.config, uniforms) + self.offset

    def _run(self, logits: Tensor, start: Tensor, uniforms: Tensor, rows_per_stream: int) -> tuple[Tensor, Tensor]:
        drawn = []
        for index in range(uniforms.shape[0]):
            codes = self._draw(logits, uniforms[index])
            rows = codes.repeat_interleave(rows_per_stream)[:, None]
            logits = self.model.decode_unchecked(rows, start + index)[:, -1]
            drawn.append(codes)
        return torch.stack(drawn), logits
