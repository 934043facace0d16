"""Noise statistics shared by the pair check and the photon split.

Small numpy functions, each with one job: pick a subset of 2D planes from a stack, measure
how strongly a noise image is correlated between neighbouring pixels, and fit the
mean–variance line ``variance = slope * intensity + intercept`` that tells Poisson-like
(shot) noise from signal-independent noise. For shot noise the slope is the image units per
photon (the camera gain) and ``-intercept / slope`` the intensity of zero photons (the
camera offset, when there is no read noise). And, for two images of one scene: the
sub-pixel shift between them, a gain/offset fit that noise does not bias, and the tail
weight of their difference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "planes_of",
    "neighbour_correlation",
    "MeanVariance",
    "fit_mean_variance",
    "local_mean",
    "measure_shift",
    "shift_uncertainty",
    "overlap",
    "fit_gain_offset",
    "gain_offset_uncertainty",
    "excess_kurtosis",
]

#: smoothing (pixels) of the images before their cross-correlation
SHIFT_SMOOTH = 2.0
#: the smallest side (pixels) of an image that pair statistics are measured on
MIN_SIDE = 16


def planes_of(arr, max_planes: int = 8, max_side: int = 1024) -> list[np.ndarray]:
    """Up to ``max_planes`` 2D planes (the last two axes) spread evenly through a stack.

    A 2D image is one plane; for a stack or volume the planes are taken at evenly spaced
    indices of the flattened leading axes (so the first and the last plane are included). Each
    plane is cropped to its central ``max_side``×``max_side`` pixels (over a million samples,
    plenty for the statistics). Only those pixels are read, so dask, zarr and memory-mapped
    stacks are not loaded whole.

    Parameters
    ----------
    arr : array-like
        2 or more dimensions (numpy, dask, zarr).
    max_planes : int
        At most this many planes.
    max_side : int
        The crop's side, pixels.

    Returns
    -------
    list of ndarray
        float64 planes.
    """
    lead = tuple(int(s) for s in arr.shape[:-2])
    n = int(np.prod(lead)) if lead else 1
    pick = (
        np.arange(n) if n <= max_planes else np.linspace(0, n - 1, max_planes).round().astype(int)
    )
    h, w = (int(s) for s in arr.shape[-2:])
    y0 = max(0, (h - max_side) // 2)
    x0 = max(0, (w - max_side) // 2)
    crop = (slice(y0, y0 + max_side), slice(x0, x0 + max_side))
    return [
        np.asarray(
            arr[tuple(int(i) for i in np.unravel_index(int(k), lead)) + crop]
            if lead
            else arr[crop],
            dtype=np.float64,
        )
        for k in pick
    ]


def constant_value(planes: list[np.ndarray]) -> float | None:
    """The value of every pixel of ``planes`` if they are all one constant, else ``None``.

    Parameters
    ----------
    planes : list of ndarray
        2D planes (see :func:`planes_of`).

    Returns
    -------
    float or None
        The constant.

    Examples
    --------
    >>> constant_value([np.full((4, 4), 7.0)]), constant_value([np.eye(4)])
    (7.0, None)
    """
    first = float(planes[0].flat[0])
    return first if all(np.all(p == first) for p in planes) else None


def neighbour_correlation(noise_planes: list[np.ndarray]) -> tuple[float, float]:
    """Correlation coefficient of a noise image with itself shifted by one pixel, along Y and X.

    0 for white (pixel-independent) noise; Gaussian-blurred noise of width ``s`` pixels gives
    ``exp(-1 / (4 s²))`` (0.78 for ``s = 1``). The mean of each plane is removed first.

    Parameters
    ----------
    noise_planes : list of ndarray
        2D planes of noise (e.g. differences of two noisy copies), pooled.

    Returns
    -------
    along_y, along_x : float
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
    """Mean over a ``size``×``size`` window (edges reflected): the intensity a pixel's noise is binned by.

    Parameters
    ----------
    plane : ndarray
        A 2D plane.
    size : int
        The window's side, pixels.

    Returns
    -------
    ndarray
        float64, the plane's shape.
    """
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


def fit_mean_variance(
    intensity: np.ndarray, noise_sq: np.ndarray, *, n_bins: int = 16, min_count: int = 50
) -> MeanVariance:
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
    means = []
    variances = []
    counts = []
    sems = []
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
    m = np.array(means)
    y = np.array(variances)
    w = 1.0 / np.square(np.maximum(sems, floor))
    design = np.stack([m, np.ones_like(m)], axis=1)
    cov = np.linalg.pinv(design.T @ (design * w[:, None]))
    slope, intercept = cov @ (design.T @ (w * y))
    # scale the covariance by the reduced chi-square when the line fits worse than the error bars say
    resid = y - design @ np.array([slope, intercept])
    dof = max(len(m) - 2, 1)
    chi2 = float(np.sum(w * resid**2) / dof)
    stderr = float(np.sqrt(cov[0, 0] * max(chi2, 1.0)))
    return MeanVariance(
        tuple(means), tuple(variances), tuple(counts), float(slope), float(intercept), stderr
    )


# ---- pair measurements ----------------------------------------------------------------------------
def _correlation_peak(fa: np.ndarray, pb: np.ndarray, w: np.ndarray) -> np.ndarray:
    import warnings

    from scipy.ndimage import gaussian_filter
    from skimage.registration import phase_cross_correlation

    fb = gaussian_filter((pb - pb.mean()) * w, SHIFT_SMOOTH)
    with warnings.catch_warnings():  # its error estimate, unused here, fails on flat images
        warnings.filterwarnings("ignore", message="Could not determine RMS error")
        s, _, _ = phase_cross_correlation(fa, fb, upsample_factor=100, normalization=None)
    return -np.asarray(s, dtype=np.float64)


def _prepared(pa: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``pa`` windowed and smoothed for :func:`_correlation_peak`, and the window."""
    from scipy.ndimage import gaussian_filter
    from skimage.filters import window

    w = window("hann", pa.shape)
    return gaussian_filter((pa - pa.mean()) * w, SHIFT_SMOOTH), w


def _refined(pa: np.ndarray, pb: np.ndarray, estimate: np.ndarray) -> np.ndarray | None:
    """``estimate`` corrected on the overlap of A and B moved back by it (``None``: too little overlap)."""
    from scipy.ndimage import fourier_shift

    whole = np.round(estimate).astype(int)
    part_a, part_b = overlap(pa, pb, int(whole[0]), int(whole[1]))
    if min(part_a.shape) < MIN_SIDE:
        return None
    frac = estimate - whole
    # the sub-pixel rest by a Fourier shift of the overlap (its wrapped edge is windowed out)
    back = np.real(np.fft.ifftn(fourier_shift(np.fft.fftn(part_b), -frac)))
    fa, w = _prepared(part_a)
    return whole + frac + _correlation_peak(fa, back, w)


def measure_shift(pa: np.ndarray, pb: np.ndarray) -> tuple[float, float]:
    """Sub-pixel displacement of ``pb`` relative to ``pa`` by windowed, smoothed cross-correlation.

    Plain cross-correlation (not phase-normalised) of Hann-windowed images smoothed over
    ``SHIFT_SMOOTH`` pixels: the smoothing removes most of the noise that would otherwise move
    the correlation peak (on scikit-image's ``moon`` with noise σ 25 the error falls from
    ±0.47 px to ±0.12 px). The window pulls the peak towards zero (2.28 px measured for 2.3),
    so the estimate is corrected twice on the overlap of the two images once B is moved back
    by it: the whole pixels by cropping (a circular shift of the whole plane left a bias of
    0.02-0.06 px: 3 px measured as 2.94-2.98), the rest by a Fourier shift; a whole 3 px
    shift of camera then measures 3.00 px.

    Parameters
    ----------
    pa, pb : ndarray
        Two 2D planes of one shape.

    Returns
    -------
    dy, dx : float
        The displacement, pixels (0 for a constant plane, which has none to measure).
    """
    if np.ptp(pa) == 0 or np.ptp(pb) == 0:
        return 0.0, 0.0
    fa, w = _prepared(pa)
    estimate = _correlation_peak(fa, pb, w)
    for _ in range(2):
        refined = _refined(pa, pb, estimate)
        if refined is None:
            break
        estimate = refined
    return float(estimate[0]), float(estimate[1])


def shift_uncertainty(pa: np.ndarray, pb: np.ndarray) -> float:
    """Standard error (px) of the shift measured on a whole plane, from the spread over its four quadrants.

    Parameters
    ----------
    pa, pb : ndarray
        Two 2D planes of one shape, as for :func:`measure_shift`.

    Returns
    -------
    float
        0 for planes too small to split.
    """
    h = pa.shape[0] // 2
    w = pa.shape[1] // 2
    if min(h, w) < MIN_SIDE:
        return 0.0
    quads = [(slice(y, y + h), slice(x, x + w)) for y in (0, h) for x in (0, w)]
    s = np.array([measure_shift(pa[q], pb[q]) for q in quads])
    # four quadrants: the whole plane's estimate is about twice as precise as one quadrant's
    return float(np.hypot(*s.std(axis=0, ddof=1)) / 2)


def overlap(pa: np.ndarray, pb: np.ndarray, dy: int, dx: int) -> tuple[np.ndarray, np.ndarray]:
    """The parts of ``pa`` and ``pb`` that show the same pixels once ``pb`` is moved back by (dy, dx).

    Parameters
    ----------
    pa, pb : ndarray
        Two 2D planes of one shape.
    dy, dx : int
        The displacement of ``pb``, whole pixels.

    Returns
    -------
    part_a, part_b : ndarray
        Views of one shape.
    """
    h, w = pa.shape
    ya, yb = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xa, xb = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    return pa[ya, xa], pb[yb, xb]


def fit_gain_offset(
    pairs: list[tuple[np.ndarray, np.ndarray]], lag: int = 4
) -> tuple[float, float]:
    """Fit ``B ≈ gain·A + offset`` without the attenuation that noise in A causes in a plain regression.

    Both images are smoothed over 3×3 pixels and A at a pixel ``lag`` away serves as the
    instrument: its noise is independent of the noise at the pixel itself (for noise that is
    independent between pixels), while the scene is still similar there. The slope is
    ``cov(B, A_lag) / cov(A, A_lag)``.

    Parameters
    ----------
    pairs : list of (ndarray, ndarray)
        Planes of A and of B, aligned, pooled in the fit.
    lag : int
        The instrument's distance, pixels.

    Returns
    -------
    gain, offset : float
    """
    num = den = 0.0
    sum_a = sum_b = n = 0.0
    for pa, pb in pairs:
        sa = local_mean(pa)
        sb = local_mean(pb)
        sa, sb = sa - pa.mean(), sb - pb.mean()
        for axis in (0, 1):
            m = sa.shape[axis] - lag
            if m <= 0:
                continue
            here_a, here_b = (
                np.take(sa, np.arange(m), axis=axis),
                np.take(sb, np.arange(m), axis=axis),
            )
            there_a = np.take(sa, np.arange(lag, lag + m), axis=axis)
            num += float(np.sum(here_b * there_a))
            den += float(np.sum(here_a * there_a))
        sum_a += float(pa.sum())
        sum_b += float(pb.sum())
        n += pa.size
    gain = num / den if den > 0 else 1.0
    if not np.isfinite(gain) or gain <= 0:
        gain = 1.0
    return float(gain), float(sum_b / n - gain * sum_a / n)


def gain_offset_uncertainty(pairs: list[tuple[np.ndarray, np.ndarray]]) -> tuple[float, float]:
    """Standard errors of the gain and offset, from the spread of the fits over image quadrants.

    Parameters
    ----------
    pairs : list of (ndarray, ndarray)
        As for :func:`fit_gain_offset`.

    Returns
    -------
    gain_stderr, offset_stderr : float
        0 for planes too small to split.
    """
    h = pairs[0][0].shape[0] // 2
    w = pairs[0][0].shape[1] // 2
    if min(h, w) < MIN_SIDE // 2:
        return 0.0, 0.0
    fits = []
    for y in (0, h):
        for x in (0, w):
            q = (slice(y, y + h), slice(x, x + w))
            fits.append(fit_gain_offset([(pa[q], pb[q]) for pa, pb in pairs]))
    err = np.std(np.array(fits), axis=0, ddof=1) / 2
    return float(err[0]), float(err[1])


def excess_kurtosis(d: np.ndarray, intensity: np.ndarray, n_bins: int = 8) -> float:
    """Median over intensity bins of the excess kurtosis of the noise (robust to dark, few-photon bins).

    Parameters
    ----------
    d : ndarray
        Noise samples (e.g. ``A - B``).
    intensity : ndarray
        The intensity of each sample, same shape.
    n_bins : int
        Intensity bins (quantiles); bins of fewer than 50 samples are skipped.

    Returns
    -------
    float
        0 for Gaussian noise; large for impulse noise.
    """
    edges = np.unique(np.quantile(intensity, np.linspace(0, 1, n_bins + 1)))
    idx = np.clip(np.searchsorted(edges, intensity, side="right") - 1, 0, max(len(edges) - 2, 0))
    values = []
    for k in range(max(len(edges) - 1, 1)):
        x = d[idx == k]
        if x.size < 50:
            continue
        x = x - x.mean()
        var = float(np.mean(x**2))
        if var > 0:
            values.append(float(np.mean(x**4)) / var**2 - 3.0)
    return float(np.median(values)) if values else 0.0
