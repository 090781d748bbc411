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


def _gaussian_blur(images: Tensor, size: int, sigma: float) -> Tensor:
    """Valid-region Gaussian filter of (n 1 h w) float64 images -> (n 1 h-size+1 w-size+1).

    Two 1-D passes, which is the 2-D Gaussian exactly (to 1e-15): 4 times as fast as one 2-D
    conv in float64 on the CPU (144x176 frames), where there is no fast float64 conv."""
    coords = torch.arange(size, dtype=torch.float64, device=images.device) - (size - 1) / 2
    g = torch.exp(-coords.pow(2) / (2 * sigma**2))
    g = g / g.sum()
    return F.conv2d(F.conv2d(images, g.view(1, 1, size, 1)), g.view(1, 1, 1, size))


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
    c1, c2 = 0.01**2, 0.03**2
    mu_x, mu_y = _gaussian_blur(x, window, sigma), _gaussian_blur(y, window, sigma)
    var_x = _gaussian_blur(x * x, window, sigma) - mu_x.pow(2)
    var_y = _gaussian_blur(y * y, window, sigma) - mu_y.pow(2)
    cov = _gaussian_blur(x * y, window, sigma) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x.pow(2) + mu_y.pow(2) + c1) * (var_x + var_y + c2))
    return rearrange(ssim_map.flatten(1).mean(1), "(b n) -> b n", b=batch).mean(1)


def detail_ratio(reconstruction: Tensor, target: Tensor) -> Tensor:
    """Sharpness of each video against its target: the energy of the reconstruction's spatial
    detail over the target's, -> (b,). Detail is the pixel-to-pixel differences along x and y, over
    all frames and channels; 1 keeps the target's detail, a blurred reconstruction reads below 1
    (a sinusoid filtered by H reads |H(f)|^2, tested), and noise or ringing reads above 1, so it is
    read beside PSNR, never alone. Both float (b c t h w) in [-1, 1] or both uint8 (t h w c).
    NaN for a flat target (no detail to compare against).

    Raises:
        ValueError: the videos differ in shape.
    """
    x, y = _unit_scale(reconstruction), _unit_scale(target)
    if x.shape != y.shape:
        raise ValueError(f"videos differ in shape: {tuple(x.shape)} vs {tuple(y.shape)}")

    def energy(video: Tensor) -> Tensor:
        dx, dy = video.diff(dim=-1), video.diff(dim=-2)
        return dx.pow(2).flatten(1).sum(1) + dy.pow(2).flatten(1).sum(1)

    reference = energy(y)
    return torch.where(reference > 0, energy(x) / reference, torch.nan)


class CodebookUsage(NamedTuple):
    """`usage`: fraction of the codebook's entries that occur; `perplexity`: exp of the entropy of
    the empirical code distribution (codebook_size for uniform use, 1 for a single code)."""

    usage: float
    perplexity: float
    distinct: int


def _code_entropy(codes: Tensor) -> float:
    """Entropy in nats of the empirical distribution of non-empty integer codes (any shape)."""
    counts = torch.bincount(codes.flatten().long()).double()
    probs = counts[counts > 0] / counts.sum()
    return -(probs * probs.log()).sum().item()


def codebook_usage(codes: Tensor, codebook_size: int) -> CodebookUsage:
    """Usage and perplexity of integer codes (any shape) from a codebook of `codebook_size` entries."""
    distinct = len(codes.flatten().unique())
    return CodebookUsage(distinct / codebook_size, math.exp(_code_entropy(codes)), distinct)


def flat_cells(frames: Tensor, codes: Tensor, *, spatial_factor: int, temporal_factor: int) -> tuple[Tensor, Tensor]:
    """The latent cells of one clip whose whole pixel box is a single colour: -> (colours, codes),
    both (n,), colours packed as 0xRRGGBB.

    Args:
        frames: uint8 (t h w c) with t = 1 + temporal_factor * k; latent frame 0 covers frame 0
            alone (the causal anchor), latent frame i >= 1 frames 1 + (i - 1) * tf ... i * tf.
        codes: integer (t' h' w') with t' = 1 + k, h' = h / spatial_factor, w' = w / spatial_factor.

    Raises:
        ValueError: the shapes do not match the factors.
    """
    t, h, w, _ = frames.shape
    expected = ((t - 1) // temporal_factor + 1, h // spatial_factor, w // spatial_factor)
    if (t - 1) % temporal_factor or tuple(codes.shape) != expected:
        raise ValueError(f"frames {tuple(frames.shape)} and codes {tuple(codes.shape)} do not match factors "
                         f"{temporal_factor} (time) and {spatial_factor} (space); expected codes {expected}")
    # The anchor frame is repeated so that every latent frame owns `temporal_factor` frames.
    padded = torch.cat([frames[:1].expand(temporal_factor - 1, -1, -1, -1), frames]).long()
    colour = (padded[..., 0] << 16) | (padded[..., 1] << 8) | padded[..., 2]
    boxes = rearrange(colour, "(t a) (h p) (w q) -> t h w (a p q)", a=temporal_factor, p=spatial_factor,
                      q=spatial_factor)
    flat = (boxes == boxes[..., :1]).all(-1)
    return boxes[..., 0][flat], codes.to(boxes.device)[flat].long()


def flat_patch_code_perplexity(colours: Tensor, codes: Tensor) -> float | None:
    """How many codes a tokenizer spends on one flat colour: exp of the entropy of the code given
    the colour, over flat cells (n,) from `flat_cells`. 1.0 when each flat colour always gets one
    code; None when there is no flat cell (natural video rarely has one).

    A language model over the codes must predict every one of them: a tokenizer that spreads a
    plain background over hundreds of codes (the codes then carry where the object and the walls
    are, or noise) makes the easiest part of a video the hardest to predict.
    """
    if len(codes) == 0:
        return None
    # The entropy of the code given the colour: each colour's entropy, weighted by its cell count.
    entropy = sum(int(same.sum()) * _code_entropy(codes[same]) for same in (colours == value for value in colours.unique()))
    return math.exp(entropy / len(codes))
