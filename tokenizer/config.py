"""`TokenizerConfig`: the architecture of a `VideoTokenizer`, saved as `config.json` beside its weights."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal


@dataclass(kw_only=True)
class TokenizerConfig:
    """Architecture of the causal 3D VQ tokenizer.

    The encoder first folds `patch_size x patch_size` pixel patches into channels (space-to-depth),
    then runs one level per entry of `channel_multipliers`; between consecutive levels it halves
    height and width, and also time where `time_downsample` says so. The decoder mirrors it.

    Derived (not settable): `spatial_factor = patch_size * 2 ** (levels - 1)`,
    `temporal_factor = 2 ** sum(time_downsample)`, `codebook_size`.
    """

    image_size: int = 64
    channels: int = 64
    channel_multipliers: tuple[int, ...] = (1, 2, 2)
    time_downsample: tuple[bool, ...] = (True, True)
    res_blocks: int = 1
    decoder_res_blocks: int = 2
    # Time extent of the convs in the per-level residual blocks. 3 is MAGVIT-v2's 3D block; 1 makes
    # them per-frame 2D blocks, leaving temporal mixing to the strided (up/down) convs, the input and
    # output convs and the two middle blocks: a third of the compute, and a short temporal
    # receptive field, so that long streams look like the clips the tokenizer was trained on.
    level_time_kernel: int = 3
    patch_size: int = 2
    norm_groups: int = 8
    quantizer: Literal["lfq", "fsq"] = "lfq"
    codebook_bits: int = 12  # LFQ only: 2 ** bits codes
    fsq_levels: tuple[int, ...] = (8, 8, 8, 5, 5, 5)  # FSQ only: prod(levels) codes

    spatial_factor: int = field(init=False)
    temporal_factor: int = field(init=False)
    codebook_size: int = field(init=False)

    def __post_init__(self) -> None:
        for name in ("channels", "norm_groups", "image_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if any(mult < 1 for mult in self.channel_multipliers):
            raise ValueError(f"channel_multipliers must all be positive, got {self.channel_multipliers}")
        levels = len(self.channel_multipliers)
        if levels < 1:
            raise ValueError("channel_multipliers needs at least one level")
        if len(self.time_downsample) != levels - 1:
            raise ValueError(
                f"time_downsample needs one entry per level transition ({levels - 1}), got {len(self.time_downsample)}"
            )
        if self.level_time_kernel not in (1, 3):
            raise ValueError(f"level_time_kernel must be 1 or 3, got {self.level_time_kernel}")
        if self.patch_size < 1 or self.patch_size & (self.patch_size - 1):
            raise ValueError(f"patch_size must be a power of two, got {self.patch_size}")
        for mult in self.channel_multipliers:
            if (self.channels * mult) % self.norm_groups:
                raise ValueError(f"channels * multiplier ({self.channels * mult}) must divide into "
                                 f"{self.norm_groups} norm groups")
        self.spatial_factor = self.patch_size * 2 ** (levels - 1)
        self.temporal_factor = 2 ** sum(self.time_downsample)
        if self.image_size % self.spatial_factor:
            raise ValueError(f"image_size {self.image_size} is not a multiple of the spatial factor {self.spatial_factor}")
        if self.quantizer == "lfq":
            if not 1 <= self.codebook_bits <= 20:
                raise ValueError(f"codebook_bits must be in [1, 20], got {self.codebook_bits}")
            self.codebook_size = 2**self.codebook_bits
        else:
            if any(level < 3 for level in self.fsq_levels):
                raise ValueError(f"fsq_levels must all be >= 3, got {self.fsq_levels}")
            self.codebook_size = math.prod(self.fsq_levels)

    def check_frame_count(self, frames: int) -> None:
        """Raise `ValueError` unless this tokenizer takes clips of `frames` frames (1 + t k, t the
        temporal factor)."""
        tf = self.temporal_factor
        if frames < 1 or (frames - 1) % tf:
            raise ValueError(f"expected 1 + {tf}k frames (1, {1 + tf}, {1 + 2 * tf}, ...), got {frames}")

    def unused_fields(self) -> tuple[str, ...]:
        """The field the quantizer does not read, left out of saved configs (`arvid.configs.to_dict`):
        an FSQ tokenizer's `codebook_bits` would misstate its code count."""
        return ("fsq_levels",) if self.quantizer == "lfq" else ("codebook_bits",)

    @property
    def latent_channels(self) -> int:
        """Channels of the encoder's output: one per code bit (LFQ) or per FSQ level."""
        return self.codebook_bits if self.quantizer == "lfq" else len(self.fsq_levels)
