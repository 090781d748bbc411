"""Reconstruction metrics: PSNR and SSIM per video, and codebook usage of a tokenizer.

Videos are float tensors (b c t h w) in [-1, 1] or uint8 (t h w c); both are compared on the
[0, 1] scale, so PSNR here matches what image libraries report for uint8 frames.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor


def _unit_scale(video: Tensor) -> Tensor:
    """(b c t h w) in [-1, 1] -> same in [0, 1]; uint8 (t h w c) -> (1 c t h w) in [0, 1]."""
    if video.dtype == torch.uint8:
        return rearrange(video.double() / 255.0, "t h w c -> 1 c t h w")
    return (video.double().clamp(-1, 1) + 1.0) / 2.0


def psnr(reconstruction: Tensor, target: Tensor) -> Tensor:
    """Peak signal-to-noise ratio in dB of each video over all its frames: -> (b,).

    Both float (b c t h w) in [-1, 1] or both uint8 (t h w c). Identical videos give inf.
    """
    x, y = _unit_scale(reconstruction), _unit_scale(target)
    if x.shape != y.shape:
        raise ValueError(f"videos differ in shape: {tuple(x.shape)} vs {tuple(y.shape)}")
    mse = (x - y).pow(2).flatten(1).mean(1)
    return 10.0 * torch.log10(1.0 / mse)


def _gaussian_window(size: int, sigma: float, device: torch.device) -> Tensor:
    coords = torch.arange(size, dtype=torch.float64, device=device) - (size - 1) / 2
    g = torch.exp(-coords.pow(2) / (2 * sigma**2))
    g = g / g.sum()
    return g[:, None] * g[None, :]


def ssim(reconstruction: Tensor, target: Tensor, *, window: int = 11, sigma: float = 1.5) -> Tensor:
    """Structural similarity (Wang et al. 2004) of each video: -> (b,).

    Gaussian window 11 / sigma 1.5 and K1 = 0.01, K2 = 0.03 as in the paper, computed per frame
    and channel over the valid region, then averaged over frames, channels and positions.
    Frames smaller than the window use a window of the smaller side.
    """
    x, y = _unit_scale(reconstruction), _unit_scale(target)
    if x.shape != y.shape:
        raise ValueError(f"videos differ in shape: {tuple(x.shape)} vs {tuple(y.shape)}")
    batch, channels = x.shape[:2]
    x = rearrange(x, "b c t h w -> (b t c) 1 h w")
    y = rearrange(y, "b c t h w -> (b t c) 1 h w")
    window = min(window, x.shape[-1], x.shape[-2])
    kernel = _gaussian_window(window, sigma, x.device)[None, None]
    c1, c2 = 0.01**2, 0.03**2
    mu_x, mu_y = F.conv2d(x, kernel), F.conv2d(y, kernel)
    var_x = F.conv2d(x * x, kernel) - mu_x.pow(2)
    var_y = F.conv2d(y * y, kernel) - mu_y.pow(2)
    cov = F.conv2d(x * y, kernel) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x.pow(2) + mu_y.pow(2) + c1) * (var_x + var_y + c2))
    return rearrange(ssim_map.flatten(1).mean(1), "(b n) -> b n", b=batch).mean(1)


class CodebookUsage(NamedTuple):
    """`usage`: fraction of the codebook's entries that occur; `perplexity`: exp of the entropy of
    the empirical code distribution (codebook_size for uniform use, 1 for a single code)."""

    usage: float
    perplexity: float
    distinct: int


def codebook_usage(codes: Tensor, codebook_size: int) -> CodebookUsage:
    """Usage and perplexity of integer codes (any shape) from a codebook of `codebook_size` entries."""
    counts = torch.bincount(codes.flatten().long(), minlength=codebook_size).double()
    probs = counts / counts.sum()
    entropy = -(probs[probs > 0] * probs[probs > 0].log()).sum().item()
    distinct = int((counts > 0).sum())
    return CodebookUsage(distinct / codebook_size, math.exp(entropy), distinct)
