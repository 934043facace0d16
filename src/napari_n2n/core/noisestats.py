"""Noise statistics shared by the pair check and the photon split.

Small numpy functions, each with one job: pick a subset of 2D planes from a stack, measure
how strongly a noise image is correlated between neighbouring pixels, and fit the
mean–variance line ``variance = slope * intensity + intercept`` that tells Poisson-like
(shot) noise from signal-independent noise. For shot noise the slope is the image units per
photon (the camera gain) and ``-intercept / slope`` the intensity of zero photons (the
camera offset, when there is no read noise).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["planes_of", "neighbour_correlation", "MeanVariance", "fit_mean_variance", "local_mean"]


def planes_of(arr, max_planes: int = 8) -> list[np.ndarray]:
    """Up to ``max_planes`` 2D planes (the last two axes) spread evenly through a stack.

    A 2D image is one plane; for a stack or volume the planes are taken at evenly spaced
    indices of the flattened leading axes (so the first and the last plane are included).
    Only those planes are read, so dask, zarr and memory-mapped stacks are not loaded whole.
    """
    lead = tuple(int(s) for s in arr.shape[:-2])
    n = int(np.prod(lead)) if lead else 1
    pick = np.arange(n) if n <= max_planes else np.linspace(0, n - 1, max_planes).round().astype(int)
    return [np.asarray(arr[np.unravel_index(int(i), lead)] if lead else arr, dtype=np.float64) for i in pick]


def neighbour_correlation(noise_planes: list[np.ndarray]) -> tuple[float, float]:
    """Correlation coefficient of a noise image with itself shifted by one pixel, along Y and X.

    0 for white (pixel-independent) noise; Gaussian-blurred noise of width ``s`` pixels gives
    ``exp(-1 / (4 s²))`` (0.78 for ``s = 1``). The mean of each plane is removed first.
    """
    out = []
    for axis in (0, 1):
        num = den_a = den_b = 0.0
        for d in noise_planes:
            d = d - d.mean()
            n = d.shape[axis]
            x = np.take(d, np.arange(n - 1), axis=axis)
            y = np.take(d, np.arange(1, n), axis=axis)
            num += float(np.sum(x * y))
            den_a += float(np.sum(x * x))
            den_b += float(np.sum(y * y))
        out.append(num / np.sqrt(den_a * den_b) if den_a > 0 and den_b > 0 else 0.0)
    return out[0], out[1]


def local_mean(plane: np.ndarray, size: int = 3) -> np.ndarray:
    """Mean over a ``size``×``size`` window (edges reflected): the intensity a pixel's noise is binned by."""
    from scipy.ndimage import uniform_filter

    return uniform_filter(np.asarray(plane, dtype=np.float64), size=size, mode="reflect")


@dataclass(frozen=True)
class MeanVariance:
    """The noise variance against intensity, binned, and the straight line fitted to it.

    Attributes
    ----------
    means, variances : tuple of float
        Mean intensity and mean noise variance of each intensity bin (image units).
    counts : tuple of int
        Pixels in each bin.
    slope, intercept : float
        ``variance ≈ slope * intensity + intercept`` (weighted least squares).
    slope_stderr : float
        Standard error of ``slope``.
    """

    means: tuple[float, ...]
    variances: tuple[float, ...]
    counts: tuple[int, ...]
    slope: float
    intercept: float
    slope_stderr: float

    @property
    def relative_rise(self) -> float:
        """How much the fitted variance rises from the darkest to the brightest bin, relative to its mean.

        About 0 for signal-independent noise; above 1 when the brightest pixels are much noisier
        than the darkest ones (shot noise on an image with dark and bright parts).
        """
        if not self.means:
            return 0.0
        span = max(self.means) - min(self.means)
        mean_var = float(np.average(self.variances, weights=self.counts))
        return float(self.slope * span / mean_var) if mean_var > 0 else 0.0

    @property
    def grows_with_intensity(self) -> bool:
        """True when the variance rises with intensity clearly (above 5 standard errors, by over 30 %)."""
        return self.slope > 5 * self.slope_stderr and self.relative_rise > 0.3

    @property
    def zero_signal_level(self) -> float:
        """The intensity where the fitted variance is zero, ``-intercept / slope`` (nan without a positive slope).

        For pure shot noise this is the camera offset (the value of zero photons).
        """
        return float(-self.intercept / self.slope) if self.slope > 0 else float("nan")


def fit_mean_variance(intensity: np.ndarray, noise_sq: np.ndarray, *, n_bins: int = 16,
                      min_count: int = 50) -> MeanVariance:
    """Bin per-pixel noise powers by intensity and fit a straight line to the bin means.

    Parameters
    ----------
    intensity : ndarray
        The intensity each sample belongs to (e.g. a local mean of the image), any shape.
    noise_sq : ndarray
        One unbiased noise-variance sample per entry of ``intensity``, e.g. ``(A - B)**2 / 2``
        for two noisy copies of one scene.
    n_bins : int
        Bins of equal population (intensity quantiles).
    min_count : int
        Bins with fewer samples are dropped.

    Returns
    -------
    MeanVariance
    """
    x = np.asarray(intensity, dtype=np.float64).ravel()
    v = np.asarray(noise_sq, dtype=np.float64).ravel()
    edges = np.unique(np.quantile(x, np.linspace(0, 1, n_bins + 1)))
    idx = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, max(len(edges) - 2, 0))
    means, variances, counts, sems = [], [], [], []
    for k in range(max(len(edges) - 1, 1)):
        sel = idx == k
        n = int(sel.sum())
        if n < min_count:
            continue
        means.append(float(x[sel].mean()))
        variances.append(float(v[sel].mean()))
        counts.append(n)
        sems.append(float(v[sel].std() / np.sqrt(n)))
    if len(means) < 2 or np.ptp(means) <= 0:
        var = float(v.mean()) if v.size else 0.0
        return MeanVariance(tuple(means), tuple(variances), tuple(counts), 0.0, var, float("inf"))
    # a bin of constant noise power (e.g. all-zero photon counts) must not get infinite weight
    floor = 1e-3 * max(float(np.mean(variances)), 1e-30)
    m, y, w = np.array(means), np.array(variances), 1.0 / np.square(np.maximum(sems, floor))
    design = np.stack([m, np.ones_like(m)], axis=1)
    cov = np.linalg.pinv(design.T @ (design * w[:, None]))
    slope, intercept = cov @ (design.T @ (w * y))
    # scale the covariance by the reduced chi-square when the line fits worse than the error bars say
    resid = y - design @ np.array([slope, intercept])
    dof = max(len(m) - 2, 1)
    chi2 = float(np.sum(w * resid**2) / dof)
    stderr = float(np.sqrt(cov[0, 0] * max(chi2, 1.0)))
    return MeanVariance(tuple(means), tuple(variances), tuple(counts), float(slope), float(intercept), stderr)
