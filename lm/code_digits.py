"""`CodeDigits`: structure the LM's video-code input embeddings by the digits of each code.

A tokenizer code is not an arbitrary symbol: FSQ writes it in mixed radix, one digit per latent
channel (digit i = the level of channel i, least significant first), and LFQ's code is one bit
per channel. Codes that share a digit share a value of that channel. A plain embedding table
learns each of the 4,096 codes on its own, from however often it occurs; with the digits, every
code's input embedding also gets the sum of its digits' embeddings, so what the LM learns about
one channel's level carries over to every code with that level.

Inputs only: an earlier version also added per-digit terms to the logits; its 8,000-step run
lowered the loss, but guidance overshot with it (see `configs/lm/tiny.yaml`). Each token looks up
its k digit rows, as `GridPositions` looks up its cell; export folds the sums into Llama's plain
embedding table (`Transformer.input_embedding`).

Einops legend: v video codes, k digits per code, d model width.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def tokenizer_code_levels(quantizer: str, fsq_levels: tuple[int, ...] | None,
                          codebook_bits: int | None) -> tuple[int, ...]:
    """The digits of a tokenizer's codes, least significant first, from its config fields: FSQ's
    levels, or one binary digit per LFQ bit (LFQ numbers the bits the other way round, which only
    renames the digits). Only the field of `quantizer` is read."""
    return tuple(fsq_levels) if quantizer == "fsq" else (2,) * codebook_bits


def code_digits(levels: tuple[int, ...]) -> Tensor:
    """(v k) int64: the mixed-radix digits of codes 0..prod(levels)-1, least significant first
    (FSQ's `codes_to_indices` basis in vector-quantize-pytorch: 1, levels[0], levels[0]*levels[1], ...)."""
    codes = torch.arange(math.prod(levels))
    basis = torch.tensor([math.prod(levels[:index]) for index in range(len(levels))])
    return codes[:, None] // basis % torch.tensor(levels)


class CodeDigits(nn.Module):
    """Learned per-digit input embeddings for the video codes, which come last in the vocabulary."""

    def __init__(self, levels: tuple[int, ...], *, video_offset: int, dim: int) -> None:
        super().__init__()
        self.video_offset = video_offset
        offsets = torch.tensor([sum(levels[:index]) for index in range(len(levels))])
        # (v k): each code's row in `input` for each of its digits; derived, so not saved.
        self.register_buffer("rows", code_digits(levels) + offsets, persistent=False)
        self.input = nn.Parameter(torch.randn(sum(levels), dim) * 0.02)  # Llama's initializer_range

    def forward(self, tokens: Tensor) -> Tensor:
        """Token ids (any shape) -> the sum of their digits' embeddings (..., d); zeros for
        tokens that are not video codes."""
        codes = tokens - self.video_offset
        inside = codes >= 0
        digits = self.input[self.rows[codes.clamp(min=0)]].sum(-2)  # (..., k, d) -> (..., d)
        return digits * inside[..., None].to(digits.dtype)
