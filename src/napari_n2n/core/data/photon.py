"""A Noise2Noise pair from one photon-count image, by binomial splitting.

When an image counts photons (or electrons) and its noise is shot noise, each detected photon
can be sent at random to one of two images, with probability 1/2 each. The two halves are
then two *independent* Poisson images of the same scene, each with half the light: a true
Noise2Noise pair from a single acquisition (binomial thinning of a Poisson process).

A camera reports ``value = offset + gain × photons`` (plus read noise). :func:`photon_counts`
undoes that with the gain and offset that the user gives (from the camera's data sheet or
calibration), that :func:`~napari_n2n.core.data.paircheck.check_pair` measured on a pair, or that
:func:`estimate_photon_scale` finds in the image itself. It refuses values that are not whole
photon counts, since the halves of such data are not independent: read noise, a wrong gain or
processed data would correlate them.

Examples
--------
>>> import numpy as np
>>> counts = np.random.default_rng(0).poisson(20.0, size=(64, 64))
>>> a, b = binomial_split(counts, seed=0)
>>> bool(np.all(a + b == counts))
True
>>> half_a, half_b = photon_split(counts * 3.0 + 100.0, gain=3.0, offset=100.0, seed=0)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..checks import require_finite, require_numeric
from ..errors import InputError
from .noisestats import fit_mean_variance, local_mean, planes_of

__all__ = [
    "binomial_split",
    "photon_counts",
    "photon_split",
    "PhotonScale",
    "estimate_photon_scale",
    "photon_scale_for",
]

#: how far (in photons) a converted value may be from a whole number and still count as one
TOLERANCE = 0.1
#: the share of pixels that may miss that tolerance (isolated hot pixels, float rounding)
MAX_OFF_SHARE = 0.01


def binomial_split(
    counts, *, p: float = 0.5, seed: int | None = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Send each photon of ``counts`` to the first image with probability ``p``, else to the second.

    Parameters
    ----------
    counts : array-like of non-negative whole numbers
        Photon (or electron) counts.
    p : float
        Probability that a photon goes to the first image.
    seed : int or None
        Seed of the random generator.

    Returns
    -------
    (ndarray, ndarray)
        Two int64 count images that sum to ``counts``. For Poisson counts of mean ``λ`` they are
        independent Poisson images of means ``p·λ`` and ``(1 − p)·λ``.
    """
    c = np.asarray(require_numeric(counts, "the photon counts"))
    if not 0 < p < 1:
        raise InputError(f"The split probability p must be between 0 and 1, got {p}.")
    if c.dtype.kind == "f":
        if not np.all(np.isfinite(c)) or np.any(c != np.round(c)):
            raise InputError(
                "Photon counts must be whole numbers; convert the image with photon_counts() first."
            )
    c = c.astype(np.int64)
    if c.size and c.min() < 0:
        raise InputError("Photon counts cannot be negative; check the camera offset.")
    a = np.random.default_rng(seed).binomial(c, p)
    return a, c - a


def photon_counts(
    image,
    *,
    gain: float,
    offset: float = 0.0,
    tolerance: float = TOLERANCE,
    allow_rounding: bool = False,
) -> np.ndarray:
    """Convert camera values to photon counts, ``(image − offset) / gain``, refusing non-counts.

    Parameters
    ----------
    image : array-like
        The raw image (not background-subtracted, rescaled or filtered).
    gain : float
        Image units per photon (ADU per electron), > 0.
    offset : float
        The value of zero photons (camera baseline).
    tolerance : float
        How far from a whole number a converted value may be (photons).
    allow_rounding : bool
        Round values that are not whole numbers instead of refusing them. Only for data with
        little read noise: rounding does not make read noise Poissonian, and the halves then
        share part of their noise.

    Returns
    -------
    ndarray of int64

    Raises
    ------
    InputError
        A gain that is not positive; gain/offset that make counts negative; values that are not
        whole photon counts (unless ``allow_rounding``).
    """
    x = np.asarray(require_numeric(image))
    if not (np.isfinite(gain) and gain > 0):
        raise InputError(
            f"The gain (image units per photon) must be a positive number, got {gain}."
        )
    if not np.isfinite(offset):
        raise InputError(f"The offset must be a finite number, got {offset}.")
    require_finite(x)
    c = (x.astype(np.float64) - offset) / gain
    if c.size == 0:
        return c.astype(np.int64)
    rounded = np.round(c)
    off = float(np.mean(np.abs(c - rounded) > tolerance))
    if off > MAX_OFF_SHARE and not allow_rounding:
        raise InputError(
            f"This is not a photon-count image with gain {gain:g} and offset {offset:g}: after subtracting the "
            f"offset and dividing by the gain, {off:.0%} of the pixels are more than {tolerance:g} from a whole "
            "number of photons. The halves of a photon split are only independent for raw photon counts. What to "
            "do: give the exact gain and offset of your detector (photon-counting detectors, EMCCD in counting "
            "mode); for a camera with read noise use two acquisitions (Noise2Noise) or Neighbor2Neighbor, or "
            "allow rounding if the read noise is far below one photon."
        )
    negative = float(np.mean(c < -0.5 - tolerance))
    if negative > (MAX_OFF_SHARE if allow_rounding else 0.0):
        raise InputError(
            f"With offset {offset:g} and gain {gain:g}, {negative:.1%} of the pixels would hold fewer than zero "
            f"photons (lowest: {c.min():.1f}). The offset is too high (the image's lowest value is {x.min():g}) "
            "or the image was background-subtracted. Give the camera's offset (its value with no light), or "
            "leave it out to estimate it."
        )
    return np.maximum(rounded, 0).astype(np.int64)


def photon_split(
    image,
    *,
    gain: float | None = None,
    offset: float | None = None,
    seed: int | None = 0,
    tolerance: float = TOLERANCE,
    allow_rounding: bool = False,
    dtype=np.float32,
) -> tuple[np.ndarray, np.ndarray]:
    """Split one photon-count image into a Noise2Noise pair, in the image's own units.

    Each half is converted back to the image's units *at the full image's brightness*,
    ``offset + 2·gain·half_counts``: both halves show the scene at the same intensity as the
    input (with the noise of half the light), their mean is the input image, and a denoiser
    trained on them applies to the input and to each half alike.

    Parameters
    ----------
    image : array-like
        The raw photon-count image (any shape).
    gain, offset : float, optional
        Image units per photon and the value of zero photons. Left out: estimated from the
        image with :func:`estimate_photon_scale` (which needs whole photon counts on a regular
        grid of values, e.g. a photon-counting detector).
    seed : int or None
        Seed of the random split.
    tolerance, allow_rounding
        See :func:`photon_counts`.
    dtype : numpy dtype
        Output dtype (float32).

    Returns
    -------
    (ndarray, ndarray)
        The two halves, each of the input's shape.
    """
    gain, offset, _ = photon_scale_for(
        image, gain=gain, offset=offset, allow_rounding=allow_rounding
    )
    counts = photon_counts(
        image, gain=gain, offset=offset, tolerance=tolerance, allow_rounding=allow_rounding
    )
    a, b = binomial_split(counts, seed=seed)
    return (offset + 2.0 * gain * a).astype(dtype), (offset + 2.0 * gain * b).astype(dtype)


def photon_scale_for(
    image, *, gain: float | None, offset: float | None, allow_rounding: bool = False
) -> tuple[float, float, str]:
    """The photon scale to use: the given values, or those :func:`estimate_photon_scale` finds.

    Parameters
    ----------
    image : array-like
        The raw photon-count image.
    gain, offset : float or None
        Given values; ``None`` is estimated from the image.
    allow_rounding : bool
        Accept an approximate estimate (values not on a grid of whole photon counts).

    Returns
    -------
    gain, offset : float
    how : str
        ``"given"``, or ``"estimated: ..."`` with how.

    Raises
    ------
    InputError
        When an estimate is needed but the image's values are not whole photon counts at the
        estimated scale (unless ``allow_rounding``).
    """
    if gain is not None and offset is not None:
        return float(gain), float(offset), "given"
    scale = estimate_photon_scale(image)
    if not scale.exact and not allow_rounding:
        raise InputError(
            f"Could not find the photon scale of this image: {scale.note} What to do: give the camera's gain "
            "(image units per photon) and offset (value with no light), e.g. from the pair check of two "
            "acquisitions or the camera's data sheet."
        )
    return (
        scale.gain if gain is None else float(gain),
        scale.offset if offset is None else float(offset),
        f"estimated: {scale.note}",
    )


@dataclass(frozen=True)
class PhotonScale:
    """The photon scale of an image: ``value = offset + gain × photons``.

    Attributes
    ----------
    gain : float
        Image units per photon.
    offset : float
        The value of zero photons.
    exact : bool
        True when the image's values lie on a regular grid of this step (whole photon counts);
        False when only the mean–variance relation gave the scale (approximate).
    note : str
        How the scale was found, in plain words.
    """

    gain: float
    offset: float
    exact: bool
    note: str


def _value_step(values: np.ndarray) -> float | None:
    """The step of the regular grid the values lie on (``None`` when they do not lie on one)."""
    u = np.unique(values)
    if len(u) < 3:
        return None
    span = float(u[-1] - u[0])
    diffs = np.diff(u)
    diffs = diffs[diffs > 1e-6 * span]
    if diffs.size == 0:
        return None
    step = float(np.min(diffs))
    k = (values - u[0]) / step
    on_grid = np.mean(np.abs(k - np.round(k)) <= 0.01)
    return step if on_grid >= 1 - MAX_OFF_SHARE else None


def estimate_photon_scale(image, *, max_values: int = 2_000_000) -> PhotonScale:
    """Estimate the gain and offset of a photon-count image from the image alone.

    The noise variance rises with intensity as ``gain × (intensity − offset)`` for shot
    noise: the line fitted to the local variance (from the finest diagonal wavelet band, over
    2×2 blocks, which the scene barely enters) against the local mean gives the gain and the
    offset. When the values also lie on a regular grid whose step agrees with that gain (within
    30 %), the step is the exact gain and the offset is snapped to the grid.

    Parameters
    ----------
    image : array-like
        A raw image, 2D or a stack (a few planes are used).
    max_values : int
        At most this many pixels are looked at for the grid of values.

    Returns
    -------
    PhotonScale
    """
    arr = np.asarray(image) if not hasattr(image, "shape") else image
    if arr.ndim < 2 or min(arr.shape[-2:]) < 8:
        raise InputError(
            f"Cannot estimate the photon scale of an image of shape {tuple(arr.shape)}; "
            "it needs at least 8×8 pixels."
        )
    planes = planes_of(arr, 4)
    levels = []
    powers = []
    for p in planes:
        h = (p.shape[0] // 2) * 2
        w = (p.shape[1] // 2) * 2
        x = p[:h, :w]
        hh = (x[0::2, 0::2] - x[0::2, 1::2] - x[1::2, 0::2] + x[1::2, 1::2]) / 2.0
        mean = (x[0::2, 0::2] + x[0::2, 1::2] + x[1::2, 0::2] + x[1::2, 1::2]) / 4.0
        levels.append(local_mean(mean).ravel())
        powers.append((hh**2).ravel())
    mv = fit_mean_variance(np.concatenate(levels), np.concatenate(powers))
    values = np.concatenate([p.ravel() for p in planes])
    if values.size > max_values:
        values = np.random.default_rng(0).choice(values, size=max_values, replace=False)
    step = _value_step(values)
    if mv.slope <= 0 or not mv.grows_with_intensity:
        if (
            step is not None
            and float(values.min()) >= 0
            and np.allclose(values / step, np.round(values / step))
        ):
            return PhotonScale(
                step,
                0.0,
                True,
                "the noise does not clearly grow with intensity; the values are "
                f"whole multiples of {step:g}, taken as photon counts with no offset.",
            )
        raise InputError(
            "The noise of this image does not grow with intensity, so it does not look like photon shot noise "
            "and its photon scale cannot be estimated. Give the camera's gain and offset, or use two "
            "acquisitions (Noise2Noise) or Neighbor2Neighbor."
        )
    gain = mv.slope
    offset = min(mv.zero_signal_level, float(values.min()))
    if step is not None and abs(step / gain - 1) < 0.3:
        grid0 = float(values.min())
        snapped = grid0 + step * np.round((offset - grid0) / step)
        offset = min(snapped, grid0)
        return PhotonScale(
            step,
            float(offset),
            True,
            f"values on a grid of step {step:g} (the noise says {gain:.3g} per photon).",
        )
    return PhotonScale(
        float(gain),
        float(offset),
        False,
        f"the noise says about {gain:.3g} image units per photon and {offset:.4g} for zero photons, "
        "but the values are not whole photon counts at that scale (read noise, or processed data).",
    )
