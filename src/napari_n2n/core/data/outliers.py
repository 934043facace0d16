"""Isolated outliers (hot and dead pixels, impulse noise): found, so they set neither the scale nor the loss silently.

A pixel is an *isolated outlier* when it differs from the median of its 3×3 neighbourhood (in
Y and X) by more than :data:`THRESHOLD` times the robust spread of those differences. Noise of
any usual kind (Gaussian, Poisson, their mix) almost never does: the differences are about
as wide as the noise, so 12 times their spread is reached by about one pixel in 10^30 for
Gaussian noise. An impulse of a hot pixel or of salt-and-pepper noise does; so may a bright
structure one pixel wide on a noise-free image, which is why only the *normalisation* leaves
them out (of a few percentiles, where that matters little) and the user only gets a note.
"""

from __future__ import annotations

import numpy as np

#: how many robust spreads from the local median make a pixel an outlier
THRESHOLD = 12.0
#: the share of outliers above which training notes that the L1 loss suits the data better
NOTE_FRACTION = 1e-3
_CHUNK = 1 << 18  # positions whose neighbourhoods are gathered at once (bounds the memory)
_DY = np.array([-1, -1, -1, 0, 0, 0, 1, 1, 1])
_DX = np.array([-1, 0, 1, -1, 0, 1, -1, 0, 1])


def outlier_note(share: float, *, loss: str, mode: str) -> str | None:
    """What a training run with ``share`` of isolated outliers in its data should tell the user.

    Parameters
    ----------
    share : float
        The share of the data's values that are isolated outliers (0–1).
    loss : str
        The run's loss (``"l2"``, ``"l1"``, ...): only L2 is moved by impulses.
    mode : str
        The run's pairing mode; single-image (``"nb2nb"``) runs get no note.

    Returns
    -------
    str or None
        The note, or ``None`` when there is nothing to say.
    """
    if share <= NOTE_FRACTION or loss != "l2" or mode == "nb2nb":
        return None
    return (
        f"about {100 * share:.1f} % of the pixels are isolated outliers (hot or dead pixels, impulse noise): for "
        "impulse noise the L1 loss ('l1') suits better than L2; hot pixels at the same places in both images "
        "are learnt as part of the image: correct them before training"
    )


def sample(block: np.ndarray, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Values of ``block`` (``(C, ..., Y, X)``) at ``size`` random positions (all when fewer), and which are outliers.

    Each value is compared with the median of its 3×3 neighbourhood in its YX plane (edges
    repeated); the spread of those differences is measured per channel.

    Parameters
    ----------
    block : ndarray
        ``(C, ..., Y, X)``.
    size : int
        How many positions to read.
    rng : numpy.random.Generator
        Where the positions are drawn from.

    Returns
    -------
    values : ndarray
        float32, ``(C, N)``.
    outlier : ndarray
        bool, ``(C, N)``: which values are isolated outliers.
    """
    block = np.asarray(block, dtype=np.float32)
    c = block.shape[0]
    h = block.shape[-2]
    w = block.shape[-1]
    planes = block.reshape(c, -1, h, w)
    per_channel = planes[0].size
    flat = (
        np.arange(per_channel)
        if size >= per_channel
        else np.sort(rng.choice(per_channel, size, replace=False))
    )
    p, y, x = np.unravel_index(flat, planes.shape[1:])
    values = planes[:, p, y, x]
    residual = np.empty_like(values)
    for start in range(0, flat.size, _CHUNK):  # 9 neighbours of a chunk at a time: bounded memory
        sl = slice(start, start + _CHUNK)
        ys = np.clip(y[sl, None] + _DY, 0, h - 1)
        xs = np.clip(x[sl, None] + _DX, 0, w - 1)
        neighbours = planes[:, p[sl, None], ys, xs]  # (C, n, 9)
        residual[:, sl] = values[:, sl] - np.partition(neighbours, 4, axis=-1)[..., 4]
    outlier = np.zeros(values.shape, dtype=bool)
    if min(h, w) < 3:
        return values, outlier
    for k in range(c):
        outlier[k] = far_from_median(residual[k])
    return values, outlier


def far_from_median(residual: np.ndarray) -> np.ndarray:
    """Which of ``residual`` (values minus their neighbourhood's median) mark isolated outliers.

    A residual is one when it lies more than :data:`THRESHOLD` robust spreads (1.4826 × the
    median absolute deviation; the mean deviation for quantised or noise-free data) from the
    residuals' median.

    Parameters
    ----------
    residual : ndarray
        The residuals of one channel, any shape.

    Returns
    -------
    ndarray
        bool, the shape of ``residual``.
    """
    r = residual - np.median(residual)
    spread = 1.4826 * np.median(np.abs(r))
    if spread == 0:  # quantised or noise-free data: the mean deviation instead
        spread = float(np.mean(np.abs(r)))
    if spread > 0:
        return np.abs(r) > THRESHOLD * spread
    return np.zeros(residual.shape, dtype=bool)
