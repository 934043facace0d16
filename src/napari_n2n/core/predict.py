"""Tiled inference with overlap and seamless blending, for numpy and dask arrays.

The image is cut into overlapping tiles; every tile's prediction is weighted by a separable
window that falls off towards the tile border, and the weights are normalised *per axis*
(the sum over a tiling grid of a separable window factorises), so each output voxel is the
exact weighted average of the tiles that cover it. Nothing but the output and one batch of
tiles is held in memory: peak memory does not grow with the image beyond the output itself,
and an ``out`` array on disk (``numpy.memmap``, zarr) bounds even that.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

import numpy as np

from .axes import AxisView
from .events import TileProgress


def tile_starts(size: int, tile: int, overlap: int) -> list[int]:
    """Start positions of tiles of length ``tile`` covering ``size`` with at least ``overlap``."""
    if tile >= size:
        return [0]
    stride = max(1, tile - overlap)
    n = math.ceil((size - tile) / stride) + 1
    return sorted({round(i * (size - tile) / (n - 1)) for i in range(n)})


def axis_weights(size: int, tile: int, starts: list[int], overlap: int) -> list[np.ndarray]:
    """Per-tile 1D blending weights along one axis, normalised to sum to 1 at every position."""
    tile = min(tile, size)
    j = np.arange(tile, dtype=np.float64)
    ramp = max(overlap, 1)
    window = np.clip((np.minimum(j, tile - 1 - j) + 0.5) / ramp, 1e-3, 1.0)
    window = np.sin(window * np.pi / 2) ** 2  # smooth (C1) fall-off
    total = np.zeros(size)
    for s in starts:
        total[s : s + tile] += window
    return [(window / total[s : s + tile]).astype(np.float32) for s in starts]


def predict_view(
    run_model,
    view: AxisView,
    out,
    *,
    tile: tuple[int, ...],
    overlap: tuple[int, ...],
    batch_size: int = 4,
) -> Iterator[TileProgress]:
    """Predict every sample of ``view`` tile by tile into ``out`` (same shape as the input).

    ``run_model`` maps a ``(B, C, *tile)`` float32 array in the input's units to the same
    shape. ``out`` must start at zero (``np.zeros``); tiles add their weighted predictions.
    Yields a :class:`TileProgress` after each batch.
    """
    shape = view.spatial_shape
    tile = tuple(min(t, s) for t, s in zip(tile, shape))
    starts = [tile_starts(s, t, o) for s, t, o in zip(shape, tile, overlap)]
    weights = [axis_weights(s, t, st, o) for s, t, st, o in zip(shape, tile, starts, overlap)]
    grid = list(itertools.product(*[list(enumerate(st)) for st in starts]))
    total = len(grid) * view.n_samples
    out_view = AxisView(out, view.axes, view.spatial_ndim)
    done = 0
    for n in range(view.n_samples):
        for i in range(0, len(grid), batch_size):
            chunk = grid[i : i + batch_size]
            slices = [tuple(slice(s, s + t) for (_, s), t in zip(cell, tile)) for cell in chunk]
            blocks = np.stack([view.read(n, sl) for sl in slices])
            preds = run_model(blocks)
            for cell, sl, pred in zip(chunk, slices, preds):
                w = weights[0][cell[0][0]]
                for ax in range(1, len(cell)):
                    w = np.multiply.outer(w, weights[ax][cell[ax][0]])
                out_view.write(out, n, sl, out_view.read(n, sl) + pred * w)
            done += len(chunk)
            yield TileProgress(done=done, total=total, sample=n, n_samples=view.n_samples)

