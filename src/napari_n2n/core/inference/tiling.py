"""Where the tiles of a prediction go: the image's reflected border, tile starts, blending weights.

An image is extended beyond its border by reflection (:data:`BORDER_MODE`, :func:`border_width`
pixels on each side: the border exported Zoo packages declare, so bioimageio.core's prediction
of a package equals napari-n2n's own), then covered by overlapping tiles at multiples of the
network's stride (:func:`tile_starts`), each weighted by a window that falls off towards its
border (:func:`axis_weights`). :class:`Tiling` holds the plan, :func:`read_tile` reads a tile,
the reflected border included; :mod:`napari_n2n.core.inference.predict` runs it.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from ..axes import AxisView

#: how an image is extended beyond its border before it is tiled: by reflection (numpy's and
#: torch's "reflect", the edge pixel not repeated), as the network's convolutions pad. Exported Zoo
#: packages declare the same (their input's ``pad`` and output halo), so bioimageio.core's
#: prediction of a package equals napari-n2n's own, border pixels included
BORDER_MODE = "reflect"
#: pixels of reflected border on each side of the image, in 2D and in 3D (at least half the
#: network's stride, see :func:`border_width`)
BORDER = {2: 32, 3: 8}


def border_width(spatial_ndim: int, depth: int) -> int:
    """Pixels of reflected border around the image on each side (:data:`BORDER`, at least ``2**depth / 2``).

    Parameters
    ----------
    spatial_ndim : int
        2 or 3: the network's dimension.
    depth : int
        The U-Net's down-sampling levels.

    Returns
    -------
    int

    Examples
    --------
    >>> border_width(2, 4), border_width(3, 3), border_width(3, 5)
    (32, 8, 16)
    """
    return max(BORDER[spatial_ndim], 2**depth // 2)


def reflect_index(index: np.ndarray, size: int) -> np.ndarray:
    """Positions along an axis of length ``size`` mapped into it by reflection (:data:`BORDER_MODE`).

    The same as ``numpy.pad(..., mode="reflect")`` for any width, repeated reflections included.

    Parameters
    ----------
    index : numpy.ndarray
        Integer positions, any of them outside ``[0, size)``.
    size : int
        The axis' length.

    Returns
    -------
    numpy.ndarray
        Positions inside ``[0, size)``.

    Examples
    --------
    >>> reflect_index(np.arange(-3, 7), 5).tolist()
    [3, 2, 1, 0, 1, 2, 3, 4, 3, 2]
    """
    if size == 1:
        return np.zeros_like(index)
    period = 2 * (size - 1)
    m = np.mod(index, period)
    return np.where(m >= size, period - m, m)


def tile_starts(size: int, tile: int, overlap: int, align: int = 1) -> list[int]:
    """Start positions of tiles of length ``tile`` covering ``size`` with at least ``overlap``.

    Every start but the last (``size - tile``) is a multiple of ``align``: a U-Net that pools
    ``depth`` times by 2 gives the same output for a pixel only if its tile starts at the same
    position modulo ``2**depth``, so tiles at aligned places make the prediction of a pixel
    (away from the tile borders) independent of where the tiles of the image are, which is
    what lets a large image be predicted in blocks (:mod:`napari_n2n.core.inference.chunked`) with the
    result of one prediction of the whole.

    Parameters
    ----------
    size : int
        The image's length along the axis.
    tile : int
        The tile's length.
    overlap : int
        The least overlap between neighbouring tiles.
    align : int, optional
        Starts are multiples of it (``2**depth`` for a U-Net), but the last.

    Returns
    -------
    list of int
        The starts, ascending.

    Examples
    --------
    >>> tile_starts(1000, 512, 48)
    [0, 244, 488]
    >>> tile_starts(800, 256, 48, align=16)
    [0, 176, 368, 544]
    """
    if tile >= size:
        return [0]
    stride = max(1, tile - overlap - (align - 1))  # snapping may widen a gap by up to align - 1
    n = math.ceil((size - tile) / stride) + 1
    last = size - tile
    return sorted({min(last, align * round(i * last / (n - 1) / align)) for i in range(n)} | {last})


def axis_weights(size: int, tile: int, starts: list[int], overlap: int) -> list[np.ndarray]:
    """Per-tile 1D blending weights along one axis, normalised to sum to 1 at every position.

    Parameters
    ----------
    size : int
        The image's length along the axis.
    tile : int
        The tile's length.
    starts : list of int
        The tiles' starts (:func:`tile_starts`).
    overlap : int
        The overlap, over which a tile's weight falls off smoothly.

    Returns
    -------
    list of numpy.ndarray
        One float32 window of the tile's length per start.
    """
    tile = min(tile, size)
    j = np.arange(tile, dtype=np.float64)
    ramp = max(overlap, 1)
    window = np.clip((np.minimum(j, tile - 1 - j) + 0.5) / ramp, 1e-3, 1.0)
    window = np.sin(window * np.pi / 2) ** 2  # smooth (C1) fall-off
    total = np.zeros(size)
    for s in starts:
        total[s : s + tile] += window
    return [(window / total[s : s + tile]).astype(np.float32) for s in starts]


class Tiling:
    """The tiles covering a view's spatial shape: their size, batches, slices and weights.

    With a ``border``, the tiles cover the image extended by that many pixels on each side
    (by reflection, :data:`BORDER_MODE`): their slices are in that extended frame (they may
    start below 0 or end beyond the image; :func:`read_tile` reads them) and only the part
    inside the image is kept (:meth:`crop`). An extended axis that is at most one tile plus
    the border long is one tile, so an image that fits a tile is still predicted in one pass.

    Parameters
    ----------
    spatial_shape : tuple of int
        The image's spatial shape.
    tile : tuple of int
        The tile, one side per spatial axis (capped at the image).
    overlap : tuple of int
        The overlap along each spatial axis.
    batch_size : int
        Tiles per batch.
    align : int, optional
        Tiles start at multiples of it in the extended frame (see :func:`tile_starts`).
    border : tuple of int, optional
        Pixels the image is extended by on each side, one per spatial axis (default none).
    """

    def __init__(
        self,
        spatial_shape: tuple[int, ...],
        tile: tuple[int, ...],
        overlap: tuple[int, ...],
        batch_size: int,
        align: int = 1,
        border: tuple[int, ...] | None = None,
    ):
        self.shape = tuple(spatial_shape)
        self.border = tuple(border) if border else (0,) * len(spatial_shape)
        frame = [s + 2 * b for s, b in zip(spatial_shape, self.border)]
        self.tile = tuple(f if f <= t + 2 * b else t for t, f, b in zip(tile, frame, self.border))
        starts = [tile_starts(f, t, o, align) for f, t, o in zip(frame, self.tile, overlap)]
        self.weights = [
            axis_weights(f, t, st, o) for f, t, st, o in zip(frame, self.tile, starts, overlap)
        ]
        grid = list(itertools.product(*[list(enumerate(st)) for st in starts]))
        # a tile that lies in the border only (tiles smaller than the border) adds nothing
        grid = [
            cell
            for cell in grid
            if all(
                s - b < size and s - b + t > 0
                for (_, s), t, b, size in zip(cell, self.tile, self.border, self.shape)
            )
        ]
        self.n_tiles = len(grid)
        #: batches of tiles, each a list of ``(index per axis, slices)`` (image coordinates,
        #: reaching into the border)
        self.batches = [
            [
                (
                    tuple(i for i, _ in cell),
                    tuple(
                        slice(s - b, s - b + t)
                        for (_, s), t, b in zip(cell, self.tile, self.border)
                    ),
                )
                for cell in grid[k : k + batch_size]
            ]
            for k in range(0, len(grid), batch_size)
        ]

    def crop(self, slices: tuple[slice, ...]) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
        """The part of a tile inside the image: ``(slices in the image, slices in the tile)``.

        Parameters
        ----------
        slices : tuple of slice
            The tile, as :attr:`batches` gives it.

        Returns
        -------
        tuple
            Either part is empty along an axis where the tile lies in the border only.
        """
        inside = tuple(
            slice(min(max(sl.start, 0), s), max(min(sl.stop, s), 0))
            for sl, s in zip(slices, self.shape)
        )
        local = tuple(slice(i.start - sl.start, i.stop - sl.start) for i, sl in zip(inside, slices))
        return inside, local

    def weight(self, index: tuple[int, ...], outer=np.multiply.outer, weights=None):
        """The blending weights of a tile: its per-axis windows multiplied out.

        Parameters
        ----------
        index : tuple of int
            The tile's index along each axis.
        outer : callable, optional
            The outer product (numpy's, or one for tensors).
        weights : list, optional
            Per-axis windows to use instead of :attr:`weights` (e.g. copies on a device).

        Returns
        -------
        array-like
            The weights, the tile's shape.
        """
        weights = weights or self.weights
        w = weights[0][index[0]]
        for ax in range(1, len(index)):
            w = outer(w, weights[ax][index[ax]])
        return w


def read_tile(view: AxisView, n: int, slices: tuple[slice, ...]) -> np.ndarray:
    """Read one ``(C, *tile)`` tile, the image extended by reflection where the tile leaves it.

    Only the tile's own extent (and, at the border, the pixels it reflects) is read, so lazy
    inputs (dask, zarr) stay lazy.

    Parameters
    ----------
    view : AxisView
        The input.
    n : int
        The sample.
    slices : tuple of slice
        The tile, one slice per spatial axis; it may start below 0 or end beyond the image.

    Returns
    -------
    numpy.ndarray
    """
    shape = view.spatial_shape
    if all(0 <= sl.start and sl.stop <= s for sl, s in zip(slices, shape)):
        return view.read(n, slices)
    index = [reflect_index(np.arange(sl.start, sl.stop), s) for sl, s in zip(slices, shape)]
    box = tuple(slice(int(i.min()), int(i.max()) + 1) for i in index)
    block = view.read(n, box)
    return block[(slice(None), *np.ix_(*[i - b.start for i, b in zip(index, box)]))]


def network_frame(spatial_ndim: int, depth: int) -> dict:
    """``align`` and ``border`` of a U-Net's tiling: tiles at multiples of ``2**depth``, the reflected border.

    Parameters
    ----------
    spatial_ndim : int
        2 or 3: the network's dimension.
    depth : int
        The U-Net's down-sampling levels.

    Returns
    -------
    dict
        Keywords of :class:`Tiling` (and of the prediction functions that build one).

    Examples
    --------
    >>> network_frame(2, 4)
    {'align': 16, 'border': (32, 32)}
    """
    return {"align": 2**depth, "border": (border_width(spatial_ndim, depth),) * spatial_ndim}
