"""arvid.metrics: video quality metrics that need no pretrained weights (PSNR, SSIM, detail ratio for
sharpness, codebook use, flat-patch code perplexity)."""

from arvid.metrics.reconstruction import codebook_usage, detail_ratio, flat_cells, flat_patch_code_perplexity, psnr, ssim

__all__ = ["codebook_usage", "detail_ratio", "flat_cells", "flat_patch_code_perplexity", "psnr", "ssim"]
