"""Defect pixels of a sensor (hot, dead, stuck): found in a pair, or given as a map, and filled.

Noise2Noise learns what two acquisitions share. A hot pixel is bright in both, at the same place,
so the network learns it as part of the image and keeps it. Those pixels are filled from their
neighbours before training, and before prediction with the same model:

* a *defect map* the user gives (an image the shape of a frame; non-zero marks a defect), or
* the pixels that are isolated outliers (see :mod:`.outliers`) at the same place in both images
  of the pair: impulse noise is independent in A and B and almost never lands twice on one
  pixel, a sensor's defects always do.

A filled pixel takes the median of the pixels around it in its YX plane that are not defects
themselves (a 5×5 window; 7×7 where a cluster leaves fewer than three).
"""

from __future__ import annotations

import numpy as np

from .outliers import far_from_median

#: the shared outliers above which the positions are not a sensor's defects but the image's own
#: sharp structures (a noise-free image, or one pixel wide lines): none are filled then
MAX_SHARE = 0.02


def outlier_mask(image: np.ndarray) -> np.ndarray:
    """Which pixels of ``image`` (``(..., Y, X)``) are isolated outliers of their 3×3 neighbourhood.

    Parameters
    ----------
    image : ndarray
        Any real dtype; the last two axes are Y and X.

    Returns
    -------
    ndarray
        bool, the shape of ``image``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> frame = rng.normal(100, 5, (32, 32))
    >>> frame[10, 12] = 4000
    >>> np.argwhere(outlier_mask(frame)).tolist()
    [[10, 12]]
    """
    from scipy.ndimage import median_filter

    planes = np.asarray(image, dtype=np.float32).reshape(-1, *image.shape[-2:])
    out = np.zeros(planes.shape, dtype=bool)
    if min(planes.shape[-2:]) < 3:
        return out.reshape(image.shape)
    for k, plane in enumerate(planes):
        out[k] = far_from_median(plane - median_filter(plane, size=3, mode="nearest"))
    return out.reshape(image.shape)


def shared_defects(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The pixels that are isolated outliers at the same place in ``a`` and in ``b``.

    Parameters
    ----------
    a, b : ndarray
        The two noisy images of a pair, of one shape (``(..., Y, X)``).

    Returns
    -------
    ndarray
        bool, the shape of ``a``; all False when more than :data:`MAX_SHARE` of the pixels
        would be marked (those are the image's own sharp structures, not defects).
    """
    mask = outlier_mask(a) & outlier_mask(b)
    if mask.mean() > MAX_SHARE:
        return np.zeros_like(mask)
    return mask


def fill(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``image`` with the pixels of ``mask`` replaced by the median of their non-defect neighbours.

    Parameters
    ----------
    image : ndarray
        ``(..., Y, X)``.
    mask : ndarray
        bool, the shape of ``image``, or of its last two axes (the same defects in every plane).

    Returns
    -------
    ndarray
        A copy of ``image``'s dtype (integers rounded), or ``image`` itself when nothing is marked.

    Examples
    --------
    >>> frame = np.full((5, 5), 10.0)
    >>> frame[2, 2] = 999.0
    >>> marks = np.zeros((5, 5), bool)
    >>> marks[2, 2] = True
    >>> float(fill(frame, marks)[2, 2])
    10.0
    """
    mask = np.broadcast_to(np.asarray(mask, dtype=bool), image.shape)
    if not mask.any():
        return image
    out = np.array(image, dtype=np.float32)
    h, w = image.shape[-2:]
    planes = out.reshape(-1, h, w)
    marks = mask.reshape(-1, h, w)
    for plane, marked in zip(planes, marks):
        ys, xs = np.nonzero(marked)
        values = np.empty(ys.size, dtype=np.float32)
        for i, (y, x) in enumerate(zip(ys, xs)):
            values[i] = _neighbour_median(plane, marked, y, x)
        plane[ys, xs] = values
    if np.issubdtype(image.dtype, np.integer):
        info = np.iinfo(image.dtype)
        return np.clip(np.rint(out), info.min, info.max).astype(image.dtype)
    return out.astype(image.dtype, copy=False)


def _neighbour_median(plane: np.ndarray, marked: np.ndarray, y: int, x: int) -> float:
    for radius in (2, 3, 6):
        window = (
            slice(max(0, y - radius), y + radius + 1),
            slice(max(0, x - radius), x + radius + 1),
        )
        good = plane[window][~marked[window]]
        if good.size >= 3:
            return float(np.median(good))
    return float(np.median(plane[~marked])) if (~marked).any() else float(plane[y, x])


def yx_last(image: np.ndarray, axes: str) -> np.ndarray:
    """A view of ``image`` (axes ``axes``) with Y and X last: the planes defects are found in."""
    return np.transpose(image, _yx_order(axes))


def fill_frames(image: np.ndarray, mask: np.ndarray, axes: str) -> np.ndarray:
    """:func:`fill` for an image of any axes: ``mask`` is ``(Y, X)`` or :func:`yx_last`'s shape."""
    filled = fill(yx_last(image, axes), mask)
    return np.transpose(filled, np.argsort(_yx_order(axes)))


def _yx_order(axes: str) -> list[int]:
    return [i for i, a in enumerate(axes) if a not in "YX"] + [axes.index("Y"), axes.index("X")]


def read_map(data, frame_shape: tuple[int, int], source: str) -> np.ndarray:
    """A defect map given by the user, as a bool ``(Y, X)`` array; raise :class:`InputError` if it does not fit.

    Parameters
    ----------
    data : array-like
        The map's pixels: non-zero marks a defect. A map with leading axes of size 1 is squeezed.
    frame_shape : tuple of int
        The ``(Y, X)`` of the images it applies to.
    source : str
        The map's name, for the error.
    """
    from ..errors import InputError

    marks = np.squeeze(np.asarray(data)) != 0
    if marks.shape != tuple(frame_shape):
        raise InputError(
            f"The defect map {source} is {marks.shape[-2:] if marks.ndim >= 2 else marks.shape} "
            f"but the images' frames are {tuple(frame_shape)}: give a map of one frame's size "
            "(non-zero marks a defect pixel)."
        )
    return marks
