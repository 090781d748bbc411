"""A small 3D convolutional discriminator for the tokenizer's optional adversarial loss.

It judges whole clips (b 3 t h w) and returns a map of real/fake logits (b 1 t'' h'' w''), a
PatchGAN over space-time as in MAGVIT's 3D discriminator. It need not be causal: it never runs
at inference.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn


class Discriminator3d(nn.Module):
    """Video (b 3 t h w) in [-1, 1] -> patch logits (b 1 t'' h'' w'')."""

    def __init__(self, *, channels: int = 32, levels: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv3d(3, channels, 3, padding=1)]
        width = channels
        for _ in range(levels):
            # Halve space every level and time too, so clips of 9 to 17 frames end with a few cells.
            layers += [nn.LeakyReLU(0.2), nn.Conv3d(width, width * 2, 4, stride=2, padding=1), nn.GroupNorm(8, width * 2)]
            width *= 2
        layers += [nn.LeakyReLU(0.2), nn.Conv3d(width, 1, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, video: Tensor) -> Tensor:
        # Frames shorter than the stride stack are replicated up to the minimum it needs.
        if video.shape[2] < 8:
            video = F.pad(video, (0, 0, 0, 0, 0, 8 - video.shape[2]), mode="replicate")
        return self.net(video)
