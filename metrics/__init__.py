"""arvid.metrics: video quality metrics that need no pretrained weights (PSNR, SSIM, codebook use)."""

from arvid.metrics.reconstruction import codebook_usage, psnr, ssim

__all__ = ["codebook_usage", "psnr", "ssim"]
