"""Fréchet distance between two Gaussians fitted to feature sets: the formula behind FID and FVD.

Features are float64 `(n, d)`: one row per image or video, one column per network feature.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg


def gaussian_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean `(d,)` and covariance `(d, d)` of `(n, d)` features, both float64.

    The covariance is the unbiased one (divides by n - 1), as in the FID (pytorch-fid) and
    FVD (StyleGAN-V) reference code, so distances match theirs for the same features.

    Raises ValueError unless `features` is a finite 2-d array with at least 2 rows.
    """
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2:
        raise ValueError(f"features must be (n, d), got shape {features.shape}")
    if features.shape[0] < 2:
        raise ValueError(f"a covariance needs at least 2 feature rows, got {features.shape[0]}")
    if not np.isfinite(features).all():
        raise ValueError("features contain NaN or inf")
    return features.mean(axis=0), np.cov(features, rowvar=False).reshape(features.shape[1], features.shape[1])


def frechet_distance(mean1: np.ndarray, cov1: np.ndarray, mean2: np.ndarray, cov2: np.ndarray, *, eps: float = 1e-6) -> float:
    """||mean1 - mean2||^2 + Tr(cov1 + cov2 - 2 sqrt(cov1 cov2)) for means `(d,)`, covariances `(d, d)`.

    This is the squared 2-Wasserstein distance between the two Gaussians (Dowson & Landau 1982),
    the quantity FID (Heusel et al. 2017) and FVD (Unterthiner et al. 2018) report.

    `eps` is added to both diagonals only when the square root of the product fails to be finite
    (a singular product, e.g. fewer samples than features), as pytorch-fid does.

    Raises ValueError on mismatched shapes, or when the square root has a large imaginary part
    (the covariances are not positive semi-definite).
    """
    mean1, mean2 = np.atleast_1d(np.asarray(mean1, np.float64)), np.atleast_1d(np.asarray(mean2, np.float64))
    cov1, cov2 = np.atleast_2d(np.asarray(cov1, np.float64)), np.atleast_2d(np.asarray(cov2, np.float64))
    dim = mean1.shape[0]
    if mean1.shape != (dim,) or mean2.shape != (dim,) or cov1.shape != (dim, dim) or cov2.shape != (dim, dim):
        raise ValueError(
            f"expected means (d,) and covariances (d, d) with one d, got means {mean1.shape}, {mean2.shape} "
            f"and covariances {cov1.shape}, {cov2.shape}"
        )
    diff = mean1 - mean2
    covmean = scipy.linalg.sqrtm(cov1 @ cov2)
    if not np.isfinite(covmean).all():
        # A singular product has no well-defined principal square root and sqrtm returns inf/nan.
        # Shifting both covariances by eps * I makes them positive definite; the change to the
        # distance is O(eps * d), far below the sampling noise of any real FID/FVD.
        offset = eps * np.eye(dim)
        covmean = scipy.linalg.sqrtm((cov1 + offset) @ (cov2 + offset))
    if np.iscomplexobj(covmean):
        # cov1 @ cov2 is similar to a PSD matrix, so its eigenvalues are real and >= 0; rounding
        # leaves imaginary parts near machine precision, which are dropped. 1e-3 is pytorch-fid's bound.
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            largest = np.max(np.abs(covmean.imag))
            raise ValueError(f"sqrt(cov1 @ cov2) has an imaginary component of {largest:.3g}; are both covariances PSD?")
        covmean = covmean.real
    return float(diff @ diff + np.trace(cov1) + np.trace(cov2) - 2.0 * np.trace(covmean))


def frechet_distance_from_features(features1: np.ndarray, features2: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to `(n1, d)` and `(n2, d)` features.

    Raises ValueError when either set is not a finite 2-d array of at least 2 rows, or the
    feature widths differ.
    """
    mean1, cov1 = gaussian_statistics(features1)
    mean2, cov2 = gaussian_statistics(features2)
    if mean1.shape != mean2.shape:
        raise ValueError(f"feature widths differ: {mean1.shape[0]} vs {mean2.shape[0]}")
    return frechet_distance(mean1, cov1, mean2, cov2)
