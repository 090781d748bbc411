"""Reconstruction metrics, checked against known answers and scikit-image before they are trusted."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from arvid.metrics import codebook_usage, detail_ratio, flat_cells, flat_patch_code_perplexity, psnr, ssim

skimage_metrics = pytest.importorskip("skimage.metrics")


def noisy_pair(seed: int = 0):
    rng = np.random.default_rng(seed)
    clean = rng.integers(0, 256, (3, 40, 50, 3), dtype=np.uint8)
    noisy = np.clip(clean.astype(int) + rng.integers(-30, 30, clean.shape), 0, 255).astype(np.uint8)
    return clean, noisy


def test_psnr_known_answers():
    video = torch.zeros(1, 3, 2, 8, 8)
    assert psnr(video, video).item() == math.inf
    # Every value off by 0.1 on [0, 1]: MSE 0.01, PSNR 20 dB. Video range [-1, 1], so 0.2 there.
    assert psnr(video + 0.2, video).item() == pytest.approx(20.0)


def test_psnr_matches_scikit_image():
    clean, noisy = noisy_pair()
    expected = skimage_metrics.peak_signal_noise_ratio(clean, noisy)
    assert psnr(torch.from_numpy(noisy), torch.from_numpy(clean)).item() == pytest.approx(expected, abs=1e-9)


def test_ssim_matches_scikit_image():
    clean, noisy = noisy_pair()
    expected = np.mean([skimage_metrics.structural_similarity(
        clean[i], noisy[i], channel_axis=2, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
        data_range=255) for i in range(len(clean))])
    assert ssim(torch.from_numpy(noisy), torch.from_numpy(clean)).item() == pytest.approx(expected, abs=1e-9)
    assert ssim(torch.from_numpy(clean), torch.from_numpy(clean)).item() == pytest.approx(1.0)


def test_codebook_usage_known_answers():
    uniform = codebook_usage(torch.arange(8).repeat(3), 8)
    assert uniform.usage == 1.0 and uniform.perplexity == pytest.approx(8.0)
    single = codebook_usage(torch.zeros(10, dtype=torch.long), 16)
    assert single.usage == 1 / 16 and single.perplexity == pytest.approx(1.0)


def _flat_video(frames: int = 9) -> torch.Tensor:
    """uint8 (t 16 16 3), all navy: with factors 8 (space) and 4 (time), 3 x 2 x 2 flat cells."""
    video = torch.zeros(frames, 16, 16, 3, dtype=torch.uint8)
    video[..., 2] = 128
    return video


def test_flat_patch_code_perplexity_known_answers():
    factors = {"spatial_factor": 8, "temporal_factor": 4}
    video = _flat_video()
    one_code = flat_patch_code_perplexity(*flat_cells(video, torch.zeros(3, 2, 2, dtype=torch.long), **factors))
    assert one_code == pytest.approx(1.0)
    # Two codes, six cells each: perplexity 2.
    codes = torch.zeros(3, 2, 2, dtype=torch.long)
    codes[:, 0] = 7
    assert flat_patch_code_perplexity(*flat_cells(video, codes, **factors)) == pytest.approx(2.0)
    # Two colours each with its own single code: still 1 (the code given the colour is certain).
    two_colours = video.clone()
    two_colours[:, :8, :, 0] = 255
    assert flat_patch_code_perplexity(*flat_cells(two_colours, codes, **factors)) == pytest.approx(1.0)


def test_flat_cells_follow_the_causal_time_layout():
    factors = {"spatial_factor": 8, "temporal_factor": 4}
    video = _flat_video()
    # One pixel changed in frame 4 spoils latent frame 1's top-left cell only (frames 1-4).
    video[4, 0, 0, 0] = 9
    colours, codes = flat_cells(video, torch.arange(12).view(3, 2, 2), **factors)
    assert sorted(codes.tolist()) == [0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11]
    assert set(colours.tolist()) == {128}
    # No flat cell at all: no answer, rather than a misleading 1.
    noise = torch.randint(0, 256, (9, 16, 16, 3), dtype=torch.uint8)
    assert flat_patch_code_perplexity(*flat_cells(noise, torch.zeros(3, 2, 2, dtype=torch.long), **factors)) is None
    with pytest.raises(ValueError, match="expected codes"):
        flat_cells(video, torch.zeros(2, 2, 2, dtype=torch.long), **factors)


def _circular_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """`image` (h w) convolved along x with a sampled, normalised Gaussian, circularly."""
    offsets = np.arange(-12, 13)
    kernel = np.exp(-offsets**2 / (2 * sigma**2))
    kernel /= kernel.sum()
    return sum(weight * np.roll(image, offset, axis=1) for offset, weight in zip(offsets, kernel, strict=True))


def test_detail_ratio_of_a_filtered_sinusoid_is_the_filters_squared_gain():
    width, cycles, sigma = 64, 5, 1.3
    x = np.arange(width)
    target = np.tile(0.5 + 0.4 * np.sin(2 * np.pi * cycles * x / width + 0.3), (16, 1))
    blurred = _circular_blur(target, sigma)
    # A symmetric kernel scales a sinusoid by its real gain at that frequency: H(f) = sum_k g_k cos(2 pi f k).
    offsets = np.arange(-12, 13)
    kernel = np.exp(-offsets**2 / (2 * sigma**2))
    gain = (kernel / kernel.sum() * np.cos(2 * np.pi * cycles * offsets / width)).sum()

    def video(image):  # (h w) in [0, 1] -> (1 3 2 h w) in [-1, 1]
        return torch.from_numpy(image * 2 - 1).expand(1, 3, 2, *image.shape)

    assert detail_ratio(video(blurred), video(target)).item() == pytest.approx(gain**2, rel=1e-9)
    assert detail_ratio(video(target), video(target)).item() == pytest.approx(1.0)


def test_detail_ratio_falls_with_blur_and_rises_with_noise():
    rng = np.random.default_rng(0)
    image = _circular_blur(rng.uniform(0, 1, (32, 32)), 0.7)

    def frames(img):  # (h w) in [0, 1] -> uint8 (2 h w 3), grey
        return torch.from_numpy(np.rint(np.clip(img, 0, 1) * 255).astype(np.uint8)).expand(2, 3, *img.shape).permute(0, 2, 3, 1)

    target = frames(image)
    ratios = [detail_ratio(frames(_circular_blur(image, sigma)), target).item() for sigma in (0.5, 1.0, 2.0)]
    assert 1 > ratios[0] > ratios[1] > ratios[2] > 0, ratios
    assert detail_ratio(frames(image + rng.normal(0, 0.05, image.shape)), target).item() > 1
    assert math.isnan(detail_ratio(target, torch.zeros_like(target)).item())  # a flat target has no detail
