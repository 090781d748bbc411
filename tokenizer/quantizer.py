"""The tokenizer's quantizer: lookup-free quantization (MAGVIT-v2) or FSQ, from vector-quantize-pytorch.

Einops legend: b batch, d latent channels, t latent frames, h, w latent height and width.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn
from vector_quantize_pytorch import FSQ, LFQ

from arvid.tokenizer.config import TokenizerConfig
from arvid.tokenizer.layers import FrameGroupNorm


class QuantizerOutput(NamedTuple):
    """`codes` (b d t h w) quantized latents with straight-through gradients; `indices` (b t h w)
    integer codes; the raw (unweighted) quantizer terms, zero outside training: the mean entropy
    of each latent's code distribution, the entropy of the batch's average code distribution, and
    the commitment error. `losses.quantizer_loss` weighs them."""

    codes: Tensor
    indices: Tensor
    per_sample_entropy: Tensor
    batch_entropy: Tensor
    commitment: Tensor


class Quantizer(nn.Module):
    """Latents (b d t h w) -> codes and indices; indices (b t h w) -> codes (b d t h w)."""

    def __init__(self, config: TokenizerConfig) -> None:
        super().__init__()
        self.kind = config.quantizer
        dim = config.latent_channels
        if self.kind == "lfq":
            # Per-frame GroupNorm without affine first, as in the design: LFQ reads only signs,
            # and centred, unit-scale inputs keep the entropy terms well conditioned.
            self.norm = FrameGroupNorm(1, dim, affine=False)
            # Weights 1 here: the library reports the raw terms and `losses.py` weighs them.
            self.lfq = LFQ(dim=dim, codebook_size=config.codebook_size, entropy_loss_weight=1.0,
                           commitment_loss_weight=1.0, channel_first=True)
        else:
            self.norm = nn.Identity()
            self.fsq = FSQ(levels=list(config.fsq_levels), dim=dim, channel_first=True)

    def forward(self, latents: Tensor) -> QuantizerOutput:
        latents = self.norm(latents)
        if self.kind == "lfq":
            (codes, indices, _), terms = self.lfq(latents, return_loss_breakdown=True)
            return QuantizerOutput(codes, indices, terms.per_sample_entropy, terms.batch_entropy, terms.commitment)
        codes, indices = self.fsq(latents)
        zero = latents.new_zeros(())
        return QuantizerOutput(codes, indices.long(), zero, zero, zero)

    def indices_to_codes(self, indices: Tensor) -> Tensor:
        """(b t h w) integer codes -> (b d t h w) float codes."""
        if self.kind == "lfq":
            return self.lfq.indices_to_codes(indices)
        return self.fsq.indices_to_codes(indices)

    def codes_to_indices(self, codes: Tensor) -> Tensor:
        """(b d t h w) quantized codes -> (b t h w) integer codes; inverse of `indices_to_codes`."""
        if self.kind == "lfq":
            bits = (codes > 0).long()
            weights = 2 ** torch.arange(bits.shape[1] - 1, -1, -1, device=codes.device)
            return (bits * weights[:, None, None, None]).sum(1)  # no einsum: CUDA has no int64 matmul
        return self.fsq.codes_to_indices(codes.movedim(1, -1)).long()
