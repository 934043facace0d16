"""Explicit axes: map an array with axes like ``"TZYX"`` or ``"CYX"`` to samples × channels × space.

Axis letters: ``S`` (samples), ``T`` (time), ``C`` (channels), ``Z``, ``Y``, ``X``. ``Y`` and
``X`` are required. ``Z`` is a spatial axis for a 3D model and a sample axis for a 2D model.
Arrays are never copied or transposed as a whole: :class:`AxisView` reads and writes
``(C, *spatial)`` blocks of one sample at a time, so it works on numpy arrays, memory maps and
dask/zarr arrays without loading them.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import InputError

AXIS_LETTERS = "STCZYX"


def validate_axes(axes: str, ndim: int | None = None) -> str:
    """Check and normalise an axes string.

    Parameters
    ----------
    axes : str
        Letters from ``STCZYX``, each at most once, with Y and X; any case.
    ndim : int, optional
        The array's number of dimensions, which ``axes`` must match.

    Returns
    -------
    str
        The axes in upper case.

    Raises
    ------
    InputError
        If the axes are not valid, saying why.

    Examples
    --------
    >>> validate_axes("tyx", 3)
    'TYX'
    """
    if not isinstance(axes, str) or not axes:
        raise InputError("Axes must be a non-empty string such as 'YX', 'ZYX', 'TYX' or 'CYX'.")
    axes = axes.strip().upper()
    bad = [a for a in axes if a not in AXIS_LETTERS]
    if bad:
        raise InputError(
            f"Unknown axis letter(s) {''.join(bad)!r} in axes {axes!r}. Use only {', '.join(AXIS_LETTERS)} "
            "(S samples, T time, C channels, Z, Y, X)."
        )
    if len(set(axes)) != len(axes):
        raise InputError(f"Axes {axes!r} repeat a letter; each axis may appear once.")
    if "Y" not in axes or "X" not in axes:
        raise InputError(f"Axes {axes!r} must contain Y and X.")
    if ndim is not None and len(axes) != ndim:
        raise InputError(
            f"Axes {axes!r} name {len(axes)} axes but the image has {ndim} dimensions. "
            f"Give one letter per dimension, e.g. {default_axes(ndim)!r}."
        )
    return axes


def default_axes(ndim: int) -> str:
    """The axes inferred for an array of ``ndim`` dimensions: 2 → YX, 3 → ZYX, 4 → TZYX, 5 → TCZYX.

    Parameters
    ----------
    ndim : int
        2 to 5.

    Returns
    -------
    str

    Raises
    ------
    InputError
        For other numbers of dimensions.
    """
    table = {2: "YX", 3: "ZYX", 4: "TZYX", 5: "TCZYX"}
    if ndim not in table:
        raise InputError(
            f"Cannot infer axes for a {ndim}-dimensional image; give them explicitly (e.g. 'TCZYX')."
        )
    return table[ndim]


class AxisView:
    """Samples × channels × space view of an array with named axes.

    Parameters
    ----------
    array : array-like
        numpy, memmap, dask or zarr array.
    axes : str
        One letter per dimension of ``array``.
    spatial_ndim : int
        2 (YX) or 3 (ZYX). With 2 and a ``Z`` axis, Z slices become samples.
    """

    def __init__(self, array, axes: str, spatial_ndim: int):
        axes = validate_axes(axes, np.ndim(array) if not hasattr(array, "ndim") else array.ndim)
        if spatial_ndim == 3 and "Z" not in axes:
            raise InputError(
                f"A 3D model needs a Z axis, but the axes are {axes!r}. Use a 2D model or give axes with Z."
            )
        self.array = array
        self.axes = axes
        self.spatial_ndim = spatial_ndim
        spatial_letters = "ZYX" if spatial_ndim == 3 else "YX"
        self.spatial_axes = [axes.index(a) for a in spatial_letters]
        self.channel_axis = axes.index("C") if "C" in axes else None
        self.sample_axes = [i for i, a in enumerate(axes) if a not in spatial_letters and a != "C"]
        shape = tuple(int(s) for s in array.shape)
        self.shape = shape
        self.spatial_shape = tuple(shape[i] for i in self.spatial_axes)
        self.sample_shape = tuple(shape[i] for i in self.sample_axes)
        self.n_samples = int(math.prod(self.sample_shape))
        self.n_channels = shape[self.channel_axis] if self.channel_axis is not None else 1
        # order in which a (C, *spatial) block's axes appear in the original array
        kept = ([self.channel_axis] if self.channel_axis is not None else []) + self.spatial_axes
        self._kept_sorted = sorted(kept)
        self._perm = [self._kept_sorted.index(i) for i in kept]

    def _index(self, n: int, spatial: tuple[slice, ...]) -> tuple:
        idx: list = [slice(None)] * len(self.shape)
        if self.sample_axes:
            for ax, i in zip(self.sample_axes, np.unravel_index(n, self.sample_shape)):
                idx[ax] = int(i)
        for ax, sl in zip(self.spatial_axes, spatial):
            idx[ax] = sl
        return tuple(idx)

    def where(self, n: int, spatial: tuple[slice, ...], kind: str = "tile") -> str:
        """Where a block lies, for messages: ``" (sample 3, tile Y 0-511, X 512-1023)"``.

        Parameters
        ----------
        n : int
            The sample.
        spatial : tuple of slice
            The block's extent per spatial axis; ``()``: the whole sample.
        kind : str
            What a block is called (``"tile"``, ``"patch"``).

        Returns
        -------
        str
            Starts with a space; empty for the whole of a single sample.
        """
        if not spatial:
            return f" (sample {n})" if self.n_samples > 1 else ""
        letters = "ZYX"[-self.spatial_ndim :]
        span = ", ".join(
            f"{a} {sl.start or 0}-{(sl.stop if sl.stop is not None else size) - 1}"
            for a, sl, size in zip(letters, spatial, self.spatial_shape)
        )
        sample = f"sample {n}, " if self.n_samples > 1 else ""
        return f" ({sample}{kind} {span})"

    def read(
        self, n: int, spatial: tuple[slice, ...] | None = None, dtype=np.float32
    ) -> np.ndarray:
        """Read sample ``n`` (optionally a spatial crop) as a ``(C, *spatial)`` array.

        Parameters
        ----------
        n : int
            The sample, ``0 <= n < n_samples``.
        spatial : tuple of slice, optional
            The crop per spatial axis (default: all).
        dtype : numpy dtype
            The block's dtype.

        Returns
        -------
        ndarray
            C-contiguous.
        """
        spatial = spatial or tuple(slice(None) for _ in self.spatial_axes)
        block = np.asarray(self.array[self._index(n, spatial)])
        block = np.transpose(block, self._perm)
        if self.channel_axis is None:
            block = block[None]
        return np.ascontiguousarray(block, dtype=dtype)

    def write(self, out, n: int, spatial: tuple[slice, ...], values: np.ndarray) -> None:
        """Write a ``(C, *spatial)`` block into ``out``.

        Parameters
        ----------
        out : array-like
            An array shaped like the input (numpy, memmap, zarr).
        n : int
            The sample.
        spatial : tuple of slice
            Where the block goes, per spatial axis.
        values : ndarray
            The ``(C, *spatial)`` block.
        """
        if self.channel_axis is None:
            values = values[0]
        out[self._index(n, spatial)] = np.transpose(values, np.argsort(self._perm))
