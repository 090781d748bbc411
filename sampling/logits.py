"""Turning next-token logits into a token: guidance, temperature, top-k, top-p, seeded sampling.

Einops legend: b rows, v vocabulary (here: the video codes only).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import Tensor


@dataclass(frozen=True, kw_only=True)
class SamplerConfig:
    """How tokens are drawn. `cfg_scale` 1 turns classifier-free guidance off; `temperature` 0 is
    greedy; `top_k` / `top_p` None keep every token; `window_frames` None uses the model's.

    `first_window_temperature`, when set, replaces `temperature` for the latent frames drawn before
    the context first slides (indices 0, the anchor, to `window_frames`): there the motion must
    come from the text alone, and a colder draw keeps to the prompt's direction; later frames
    continue a motion the window already shows, where a cold draw tends to repeat the last frame
    and stall the object.

    `first_window_candidates` > 1 draws that many first windows and keeps the one whose motion
    agrees most with the others' (`arvid.sampling.first_window`); the others cost time, not memory."""

    temperature: float = 1.0
    first_window_temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    cfg_scale: float = 1.0
    window_frames: int | None = None
    first_window_candidates: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if self.first_window_temperature is not None and self.first_window_temperature < 0:
            raise ValueError(f"first_window_temperature must be >= 0, got {self.first_window_temperature}")
        if self.top_k is not None and self.top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {self.top_k}")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.cfg_scale < 0:
            raise ValueError(f"cfg_scale must be >= 0, got {self.cfg_scale}")
        if self.first_window_candidates < 1:
            raise ValueError(f"first_window_candidates must be >= 1, got {self.first_window_candidates}")

    @property
    def guided(self) -> bool:
        """Whether classifier-free guidance is on (a scale other than 1)."""
        return self.cfg_scale != 1.0

    def first_window(self) -> SamplerConfig:
        """The config that draws the first window's frames (`first_window_temperature` applied)."""
        if self.first_window_temperature is None:
            return self
        return replace(self, temperature=self.first_window_temperature)


def guide(conditional: Tensor, unconditional: Tensor, scale: float) -> Tensor:
    """Classifier-free guidance: unconditional + scale * (conditional - unconditional), in float32."""
    conditional, unconditional = conditional.float(), unconditional.float()
    return unconditional + scale * (conditional - unconditional)


def filter_logits(logits: Tensor, *, top_k: int | None, top_p: float | None) -> Tensor:
    """Set to -inf every logit (b v) outside the top `top_k` and outside the smallest set whose
    probability reaches `top_p` (the most likely token always stays)."""
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        cumulative = sorted_logits.softmax(-1).cumsum(-1)
        # Drop a token when the tokens before it already reach top_p.
        drop_sorted = (cumulative - sorted_logits.softmax(-1)) >= top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def sample(logits: Tensor, config: SamplerConfig, generator: torch.Generator) -> Tensor:
    """One token index per row of `logits` (b v) -> (b) int64."""
    if config.temperature == 0:
        return logits.argmax(-1)
    logits = filter_logits(logits.float() / config.temperature, top_k=config.top_k, top_p=config.top_p)
    return torch.multinomial(logits.softmax(-1), 1, generator=generator).squeeze(-1)


def draw_code(logits: Tensor, config: SamplerConfig, generator: torch.Generator) -> Tensor:
    """One video code () int64 from a context's last logits (b v): row 0 the prompt's, and under
    guidance row 1 the empty prompt's, guided by `config.cfg_scale`, then drawn by `sample`."""
    if config.guided:
        logits = guide(logits[:1], logits[1:], config.cfg_scale)
    return sample(logits, config, generator)[0]
