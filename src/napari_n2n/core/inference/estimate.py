"""How good is a denoised image, without a clean image? The PSNR estimated from a noisy target.

With two noisy copies ``A = x + n_A`` and ``B = x + n_B`` of a scene ``x`` whose noises are
independent and zero-mean, a prediction ``f(A)`` made without seeing ``B`` obeys

    E[(f(A) − B)²] = E[(f(A) − x)²] + E[n_B²]

(the cross term vanishes: ``n_B`` is independent of ``f(A)`` and of mean zero). The error
against the *unseen clean image* is therefore the error against the noisy target minus the
target's noise variance, which ``(A − B)²/2`` measures on the same pixels (its mean is
``(E[n_A²] + E[n_B²]) / 2``; for noise of equal level in A and B, ``E[n_B²]``). This holds
pixel by pixel, so it also holds for noise whose variance depends on intensity (Poisson,
Poisson–Gaussian) when both terms are averaged over the same region.

The estimate is held-out: it needs pixels the network did not train on (the validation
band, or another image). With both directions ``f(A)`` vs ``B`` and ``f(B)`` vs ``A``
added, the two noise-power terms cancel exactly and only their cross term ``mean(n_A·n_B)``
is left as sampling error.

PSNR needs the intensity range of the clean image, which is unknown. :func:`data_range_of`
takes it from an estimate of the clean image: the range between its 0.1th and 99.9th
percentiles. :func:`pair_data_range` uses the pair's mean smoothed by a Gaussian of one
pixel (a fifth of the noise of one image is left), which does not depend on a model: the
trainer fixes it once per run, so the estimated PSNR of successive validations compare (a
range taken from the prediction of a barely trained model, nearly constant, is far too
small). Give the same ``data_range`` to :func:`napari_n2n.core.metrics.psnr` to compare with
the true PSNR.

Examples
--------
A "denoiser" that removes half of the noise (σ = 20) has a true MSE of 20² / 4 = 100:

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> clean = rng.uniform(0, 255, (64, 64))
>>> a, b = (clean + rng.normal(0, 20, clean.shape) for _ in range(2))
>>> acc = NoisyTargetMSE()
>>> acc.add((a + clean) / 2, b, a)
>>> acc.add((b + clean) / 2, a, b)  # symmetric: more precise
>>> est = acc.estimate(data_range=255.0)
>>> round(est.mse), round(est.mse_stderr)
(100, 4)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..metrics import psnr_from_mse

__all__ = [
    "NoisyTargetMSE",
    "EstimatedQuality",
    "estimate_psnr",
    "clean_mse",
    "data_range_of",
    "pair_data_range",
]


def clean_mse(noisy_target_mse: float, noise_variance: float) -> float:
    """The mean squared error against the clean image: ``noisy_target_mse − noise_variance``.

    A result below zero (possible when the model is almost perfect and the region small) is
    returned as is; :func:`estimate_psnr` reports it as unmeasurable.

    Parameters
    ----------
    noisy_target_mse : float
        The prediction's mean squared error against the noisy target.
    noise_variance : float
        The target's noise variance, in the same (image) units and on the same pixels.

    Returns
    -------
    float
        The estimated mean squared error against the clean image.

    Examples
    --------
    >>> clean_mse(500.0, 400.0)
    100.0
    """
    return float(noisy_target_mse) - float(noise_variance)


def _psnr(mse: float, data_range: float) -> float:
    return psnr_from_mse(mse, data_range) if mse > 0 else math.inf


@dataclass(frozen=True)
class EstimatedQuality:
    """The estimated error of a prediction against the (unknown) clean image.

    Attributes
    ----------
    mse : float
        Estimated mean squared error against the clean image (image units squared).
    mse_stderr : float
        Its standard error (sampling noise of the region, from the per-pixel spread).
    noise_variance : float
        The target's noise variance on the region (image units squared).
    noisy_target_mse : float
        The measured error against the noisy target.
    data_range : float
        The intensity range the PSNR is relative to.
    n : int
        Pixels (times directions) averaged.
    """

    mse: float
    mse_stderr: float
    noise_variance: float
    noisy_target_mse: float
    data_range: float
    n: int

    @property
    def psnr(self) -> float:
        """Estimated PSNR (dB) against the clean image; ``inf`` if the estimated error is not positive."""
        return _psnr(self.mse, self.data_range)

    @property
    def psnr_stderr(self) -> float:
        """Standard error of :attr:`psnr` in dB (first order: ``10/ln 10 · stderr(mse) / mse``)."""
        return 10.0 / math.log(10.0) * self.mse_stderr / self.mse if self.mse > 0 else math.inf

    @property
    def noisy_psnr(self) -> float:
        """PSNR of the noisy input itself (its error is the noise variance): the starting point."""
        return _psnr(self.noise_variance, self.data_range)

    def describe(self) -> str:
        """E.g. ``"estimated PSNR 28.4 ± 0.2 dB (noisy input 20.2 dB)"``."""
        if not math.isfinite(self.psnr):
            return "estimated PSNR: not measurable (the error is below the sampling noise of the region)"
        return (
            f"estimated PSNR {self.psnr:.1f} ± {self.psnr_stderr:.1f} dB "
            f"(noisy input {self.noisy_psnr:.1f} dB)"
        )

    def to_dict(self) -> dict:
        """The fields and the PSNRs as a plain dict (JSON-ready, e.g. for a model's history)."""
        return {
            "psnr": self.psnr,
            "psnr_stderr": self.psnr_stderr,
            "mse": self.mse,
            "mse_stderr": self.mse_stderr,
            "noise_variance": self.noise_variance,
            "noisy_target_mse": self.noisy_target_mse,
            "data_range": self.data_range,
            "n": self.n,
        }


class NoisyTargetMSE:
    """Accumulates, batch by batch, what the clean-image error estimate needs.

    Call :meth:`add` with predictions, their noisy targets and the inputs they were predicted
    from (the held-out pixels only), then :meth:`estimate`. ``scale`` converts the arrays'
    units to image units (e.g. the normalisation's scale), so the result is in image units.
    """

    def __init__(self):
        self.n = 0
        self._sum_err = 0.0  # Σ (f − target)²
        self._sum_noise = 0.0  # Σ (input − target)² / 2
        self._sum_d = 0.0  # Σ of their per-pixel difference, and of its square (for the error bar)
        self._sum_d2 = 0.0

    def add(self, prediction, target, input, *, scale: float | np.ndarray = 1.0) -> None:
        """Add pixels of one direction.

        Parameters
        ----------
        prediction : array-like
            ``f(input)``, predicted without training on these pixels.
        target : array-like
            The other noisy copy.
        input : array-like
            The noisy copy ``prediction`` was predicted from.
        scale : float or array-like, optional
            Multiplies every difference to bring it to image units: a number, or an array that
            broadcasts against the arrays (e.g. per channel).

        Raises
        ------
        InputError
            If the three arrays differ in shape.
        """
        f, t, x = (np.asarray(v, dtype=np.float64) for v in (prediction, target, input))
        if not (f.shape == t.shape == x.shape):
            raise InputError(
                f"prediction, target and input must have one shape; got {f.shape}, {t.shape}, {x.shape}."
            )
        s = np.asarray(scale, dtype=np.float64)
        err = np.square((f - t) * s)
        noise = np.square((x - t) * s) / 2.0
        d = err - noise
        self.n += d.size
        self._sum_err += float(err.sum())
        self._sum_noise += float(noise.sum())
        self._sum_d += float(d.sum())
        self._sum_d2 += float(np.square(d).sum())

    def estimate(self, *, data_range: float) -> EstimatedQuality:
        """The estimate from everything added so far.

        Parameters
        ----------
        data_range : float
            The intensity range the PSNR is relative to (image units).

        Returns
        -------
        EstimatedQuality
            The estimated error, its standard error and the PSNRs.

        Raises
        ------
        InputError
            If nothing was added, or ``data_range`` is not positive.
        """
        if self.n == 0:
            raise InputError("No pixels were added: nothing to estimate the error from.")
        if not data_range > 0:
            raise InputError(f"The data range must be positive, got {data_range}.")
        mean_d = self._sum_d / self.n
        var_d = max(self._sum_d2 / self.n - mean_d**2, 0.0)
        return EstimatedQuality(
            mse=mean_d,
            mse_stderr=math.sqrt(var_d / self.n),
            noise_variance=self._sum_noise / self.n,
            noisy_target_mse=self._sum_err / self.n,
            data_range=float(data_range),
            n=self.n,
        )


def estimate_psnr(
    prediction, target, input, *, data_range: float | None = None, prediction_of_target=None
) -> EstimatedQuality:
    """Estimate the quality of a prediction against the clean image, from a noisy target.

    Parameters
    ----------
    prediction : array-like
        The denoised ``input``, predicted by a model that did not train on these pixels.
    target, input : array-like
        The two noisy copies (``target`` is the one the prediction is compared with).
    data_range : float, optional
        Intensity range for the PSNR; default :func:`data_range_of` ``(prediction)``.
    prediction_of_target : array-like, optional
        ``f(target)``: adds the other direction (more precise: the noise terms cancel).

    Returns
    -------
    EstimatedQuality
        The estimated error against the clean image, its standard error and the PSNRs.

    Raises
    ------
    InputError
        If the arrays differ in shape, or the data range is not positive.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> clean = rng.uniform(0, 255, (64, 64))
    >>> a, b = (clean + rng.normal(0, 20, clean.shape) for _ in range(2))
    >>> est = estimate_psnr((a + clean) / 2, b, a, data_range=255.0)
    >>> round(est.psnr)
    28
    """
    acc = NoisyTargetMSE()
    acc.add(prediction, target, input)
    if prediction_of_target is not None:
        acc.add(prediction_of_target, input, target)
    return acc.estimate(data_range=data_range_of(prediction) if data_range is None else data_range)


def data_range_of(estimate_of_clean, *, percentiles: tuple[float, float] = (0.1, 99.9)) -> float:
    """The intensity range of an estimate of the clean image, between two percentiles.

    Use a denoised image, or the mean of a pair smoothed over 3×3 pixels; a noisy image would
    give the noise's range. The percentiles keep a few extreme pixels from setting the scale.

    Parameters
    ----------
    estimate_of_clean : array-like
        A denoised image.
    percentiles : tuple of float, optional
        The low and high percentiles.

    Returns
    -------
    float
        Their difference, or 1.0 for a constant image.

    Raises
    ------
    InputError
        If the image is empty.
    """
    x = np.asarray(estimate_of_clean, dtype=np.float64)
    if x.size == 0:
        raise InputError("Cannot take the range of an empty image.")
    lo, hi = np.percentile(x, percentiles)
    r = float(hi - lo)
    return r if r > 0 else 1.0


def pair_data_range(a, b, *, sigma: float = 1.0, yx: tuple[int, int] = (-2, -1)) -> float:
    """The intensity range of the scene of a pair.

    :func:`data_range_of` the pair's mean smoothed in Y and X (each patch on its own, for
    stacks of patches).

    Parameters
    ----------
    a, b : array-like
        The two noisy copies.
    sigma : float, optional
        The Gaussian smoothing, pixels.
    yx : tuple of int, optional
        The Y and X axes.

    Returns
    -------
    float
        The range between the 0.1th and 99.9th percentiles.
    """
    from scipy.ndimage import gaussian_filter

    m = 0.5 * (np.asarray(a, dtype=np.float64) + np.asarray(b, dtype=np.float64))
    sig = [0.0] * m.ndim
    sig[yx[0]] = sig[yx[1]] = float(sigma)
    return data_range_of(gaussian_filter(m, sig, mode="reflect"))
