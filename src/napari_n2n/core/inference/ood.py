"""Is an image like the data a model was trained on? Intensity statistics and an out-of-distribution warning.

A denoiser learns the intensities it was trained on. Applied to an image whose intensities are
far from those (another microscope, another exposure, another sample), it can make the image
worse without anything looking wrong. Every model records the robust intensity statistics of
its training input (:func:`measure`, stored as ``info["intensity"]`` in the model file), and
:func:`check_image` compares an image with them before it is denoised:

* the **median** (where the intensities sit) and
* the **spread**: the interquartile range / 1.349 (the standard deviation for Gaussian data;
  hot pixels and saturated spots do not move it).

The image is called far from the training data when its median lies more than
:data:`MAX_SHIFT` training spreads from the training median, or its spread is more than
:data:`MAX_RATIO` times larger or smaller. Both limits were chosen from measurements
(``benchmarks/ood.py``): the second noisy copy of a pair, other frames of the same stack and a
crop of the same image stay within them; a camera model applied to a fluorescence volume, or a
0–1 image to a 0–255 one, are far outside. Model files written before these statistics were
recorded are not checked.

Examples
--------
>>> train = IntensityStats(median=(1800.0,), spread=(400.0,))
>>> print(compare(train, IntensityStats(median=(12.0,), spread=(3.0,))))  # doctest: +ELLIPSIS
This image's median 12 and spread 3 are far from the training data's 1800 and 400...
>>> compare(train, IntensityStats(median=(1900.0,), spread=(380.0,))) is None
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..axes import AxisView

#: the median may move this many training spreads before the image counts as far
MAX_SHIFT = 5.0
#: the spread may grow or shrink by this factor before the image counts as far
MAX_RATIO = 6.0
#: key of the statistics in a model's ``info``
INFO_KEY = "intensity"


@dataclass(frozen=True)
class IntensityStats:
    """Per-channel median and spread (interquartile range / 1.349) of some data."""

    median: tuple[float, ...]
    spread: tuple[float, ...]

    def to_dict(self) -> dict:
        """The statistics as a plain dict (for a model's ``info``; :meth:`from_dict` reads it)."""
        return {"median": list(self.median), "spread": list(self.spread), "spread_is": "IQR/1.349"}

    @classmethod
    def from_dict(cls, d) -> IntensityStats | None:
        """The statistics in a dict, as :meth:`to_dict` wrote them.

        Parameters
        ----------
        d : dict or None
            The dict (from a model's ``info``).

        Returns
        -------
        IntensityStats or None
            ``None`` when ``d`` is missing or malformed (nothing to compare with).

        Examples
        --------
        >>> stats = IntensityStats(median=(100.0,), spread=(10.0,))
        >>> IntensityStats.from_dict(stats.to_dict()) == stats, IntensityStats.from_dict(None)
        (True, None)
        """
        try:
            median = tuple(float(v) for v in d["median"])
            spread = tuple(float(v) for v in d["spread"])
        except (KeyError, TypeError, ValueError):
            return None
        if not median or len(median) != len(spread) or not np.isfinite(median + spread).all():
            return None
        return cls(median, spread)


def _values(view: AxisView, *, max_values: int, seed: int) -> np.ndarray:
    """Up to about ``max_values`` values per channel of ``view``, ``(C, n)``, from random samples."""
    rng = np.random.default_rng(seed)
    voxels = int(np.prod(view.spatial_shape))
    n_read = max(1, min(view.n_samples, max_values // max(voxels, 1)))
    parts = []
    for n in sorted(rng.choice(view.n_samples, size=n_read, replace=False)):
        flat = view.read(int(n)).reshape(view.n_channels, -1)
        if flat.shape[1] > max_values:
            flat = flat[:, rng.choice(flat.shape[1], size=max_values, replace=False)]
        parts.append(flat)
    values = np.concatenate(parts, axis=1)
    return values


def measure(view: AxisView, *, max_values: int = 1_000_000, seed: int = 0) -> IntensityStats:
    """The per-channel statistics of some data (random samples when large).

    Non-finite values are ignored; a constant channel has spread 0.

    Parameters
    ----------
    view : AxisView
        The data, seen through its axes.
    max_values : int, optional
        At most this many values per channel are read.
    seed : int, optional
        Seeds the choice of samples.

    Returns
    -------
    IntensityStats
        Median and spread of each channel.
    """
    medians = []
    spreads = []
    for channel in _values(view, max_values=max_values, seed=seed):
        channel = channel[np.isfinite(channel)]
        if channel.size == 0:
            medians.append(0.0)
            spreads.append(0.0)
            continue
        q1, median, q3 = np.percentile(channel, (25, 50, 75))
        spread = (q3 - q1) / 1.349
        if not spread > 0:  # more than half the values equal: the outer percentiles say more
            lo, hi = np.percentile(channel, (0.5, 99.5))
            spread = (hi - lo) / 4.0
        medians.append(float(median))
        spreads.append(float(spread))
    return IntensityStats(tuple(medians), tuple(spreads))


def _fmt(value: float) -> str:
    """Three significant digits, without an exponent below a million: 1800, 12, 0.217."""
    rounded = float(f"{value:.3g}")
    return f"{rounded:.0f}" if 1000 <= abs(rounded) < 1e6 else f"{rounded:g}"


def compare(train: IntensityStats, image: IntensityStats) -> str | None:
    """A warning with the figures when an image is far from the training data.

    Channels are compared pairwise; a single-channel model applied to a multi-channel image is
    compared with each channel. The channel furthest away is reported.

    Parameters
    ----------
    train : IntensityStats
        The training data's statistics.
    image : IntensityStats
        The image's.

    Returns
    -------
    str or None
        The warning (see the module's docstring for "far"), else ``None``.

    Examples
    --------
    >>> train = IntensityStats(median=(100.0,), spread=(10.0,))
    >>> compare(train, IntensityStats(median=(105.0,), spread=(12.0,))) is None
    True
    """
    n = len(image.median)
    pairs = (
        [(c, c) for c in range(n)]
        if len(train.median) == n
        else [(0, c) for c in range(n)]
        if len(train.median) == 1
        else []
    )
    worst = None
    worst_score = 1.0
    for t, c in pairs:
        t_median = train.median[t]
        t_spread = train.spread[t]
        median = image.median[c]
        spread = image.spread[c]
        if not t_spread > 0:
            continue
        shift = abs(median - t_median) / t_spread / MAX_SHIFT
        ratio = max(spread, 1e-12) / t_spread
        scale = max(ratio, 1.0 / ratio) / MAX_RATIO
        score = max(shift, scale)
        if score > worst_score:
            worst = (t, c)
            worst_score = score
    if worst is None:
        return None
    t, c = worst
    channel = f" (channel {c})" if n > 1 else ""
    return (
        f"This image's median {_fmt(image.median[c])} and spread {_fmt(image.spread[c])}{channel} are far from "
        f"the training data's {_fmt(train.median[t])} and {_fmt(train.spread[t])}: the model was trained on "
        "different data and may denoise this image badly. Compare the result with the noisy image, or train a "
        "model on data like this."
    )


def training_stats(denoiser) -> IntensityStats | None:
    """The statistics a model recorded of its training data.

    Parameters
    ----------
    denoiser : Denoiser
        The model.

    Returns
    -------
    IntensityStats or None
        ``None`` for older model files.
    """
    info = getattr(denoiser, "info", None)
    return IntensityStats.from_dict(info.get(INFO_KEY)) if isinstance(info, dict) else None


def check_image(denoiser, image, *, axes: str | None = None) -> str | None:
    """The out-of-distribution warning for denoising an image with a model.

    Nothing is said when the model recorded no statistics, or when the image cannot be read as
    ``axes`` (the prediction itself then reports the problem).

    Parameters
    ----------
    denoiser : Denoiser
        The model.
    image : array-like
        The image to denoise.
    axes : str, optional
        Its axes, as for :meth:`~napari_n2n.core.inference.denoiser.Denoiser.predict`.

    Returns
    -------
    str or None
        The warning, or ``None``.
    """
    from ..errors import N2NError

    train = training_stats(denoiser)
    if train is None:
        return None
    try:
        resolved = denoiser.resolve_axes(image, axes)
        view = AxisView(image, resolved, denoiser.spatial_ndim if "Z" in resolved else 2)
        stats = measure(view)
    except (N2NError, ValueError, TypeError, IndexError):
        return None
    return compare(train, stats)
