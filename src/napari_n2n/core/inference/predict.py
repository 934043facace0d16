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

from ..axes import AxisView
from ..checks import require_finite
from ..events import TileProgress


def tile_starts(size: int, tile: int, overlap: int, align: int = 1) -> list[int]:
    """Start positions of tiles of length ``tile`` covering ``size`` with at least ``overlap``.

    Every start but the last (``size - tile``) is a multiple of ``align``: a U-Net that pools
    ``depth`` times by 2 gives the same output for a pixel only if its tile starts at the same
    position modulo ``2**depth``, so tiles at aligned places make the prediction of a pixel
    (away from the tile borders) independent of where the tiles of the image are, which is
    what lets a large image be predicted in blocks (:mod:`napari_n2n.core.inference.chunked`) with the
    result of one prediction of the whole.
    """
    if tile >= size:
        return [0]
    stride = max(1, tile - overlap - (align - 1))  # snapping may widen a gap by up to align - 1
    n = math.ceil((size - tile) / stride) + 1
    last = size - tile
    return sorted({min(last, align * round(i * last / (n - 1) / align)) for i in range(n)} | {last})


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


class Tiling:
    """The tiles covering a view's spatial shape: tile size, batches of tiles, their slices and weights."""

    def __init__(
        self,
        spatial_shape: tuple[int, ...],
        tile: tuple[int, ...],
        overlap: tuple[int, ...],
        batch_size: int,
        align: int = 1,
    ):
        self.tile = tuple(min(t, s) for t, s in zip(tile, spatial_shape))
        starts = [tile_starts(s, t, o, align) for s, t, o in zip(spatial_shape, self.tile, overlap)]
        self.weights = [
            axis_weights(s, t, st, o)
            for s, t, st, o in zip(spatial_shape, self.tile, starts, overlap)
        ]
        grid = list(itertools.product(*[list(enumerate(st)) for st in starts]))
        self.n_tiles = len(grid)
        #: batches of tiles, each a list of ``(index per axis, slices)``
        self.batches = [
            [
                (
                    tuple(i for i, _ in cell),
                    tuple(slice(s, s + t) for (_, s), t in zip(cell, self.tile)),
                )
                for cell in grid[k : k + batch_size]
            ]
            for k in range(0, len(grid), batch_size)
        ]

    def weight(self, index: tuple[int, ...], outer=np.multiply.outer, weights=None):
        """The blending weights of the tile at ``index`` (per-axis windows multiplied out)."""
        weights = weights or self.weights
        w = weights[0][index[0]]
        for ax in range(1, len(index)):
            w = outer(w, weights[ax][index[ax]])
        return w


def require_finite_blocks(view: AxisView, n: int, blocks: np.ndarray, slices: list) -> None:
    """Raise :class:`~napari_n2n.core.errors.InputError` naming the first tile of ``blocks`` that holds NaN or Inf.

    Lazy inputs (dask, zarr) are checked here, tile by tile as they are read; numpy inputs were
    checked whole before.
    """
    if not np.isfinite(blocks).all():
        k = next(j for j, b in enumerate(blocks) if not np.isfinite(b).all())
        require_finite(blocks[k], "the image", where=view.where(n, slices[k]))


def predict_view(
    run_model,
    view: AxisView,
    out,
    *,
    tile: tuple[int, ...],
    overlap: tuple[int, ...],
    batch_size: int = 4,
    align: int = 1,
) -> Iterator[TileProgress]:
    """Predict every sample of ``view`` tile by tile into ``out`` (same shape as the input).

    ``run_model`` maps a ``(B, C, *tile)`` float32 array in the input's units to the same
    shape. ``out`` must start at zero (``np.zeros``); tiles add their weighted predictions.
    Tiles start at multiples of ``align`` (see :func:`tile_starts`). Yields a
    :class:`TileProgress` after each batch.
    """
    tiling = Tiling(view.spatial_shape, tile, overlap, batch_size, align)
    total = tiling.n_tiles * view.n_samples
    out_view = AxisView(out, view.axes, view.spatial_ndim)
    done = 0
    for n in range(view.n_samples):
        for batch in tiling.batches:
            blocks = np.stack([view.read(n, sl) for _, sl in batch])
            require_finite_blocks(view, n, blocks, [sl for _, sl in batch])
            preds = run_model(blocks)
            for (index, sl), pred in zip(batch, preds):
                out_view.write(out, n, sl, out_view.read(n, sl) + pred * tiling.weight(index))
            done += len(batch)
            yield TileProgress(done=done, total=total, sample=n, n_samples=view.n_samples)


def predict_view_on_device(
    run_model,
    view: AxisView,
    out,
    *,
    tile: tuple[int, ...],
    overlap: tuple[int, ...],
    batch_size: int,
    device,
    align: int = 1,
) -> Iterator[TileProgress]:
    """Like :func:`predict_view`, with the blending done on ``device`` (a GPU's path).

    ``run_model`` maps a ``(B, C, *tile)`` float32 tensor on ``device`` (image units) to the same.
    Each sample is accumulated in a tensor on the device and copied to ``out`` once; the next
    batch of tiles is read (and put in pinned memory) on a helper thread while the device
    computes the current one, so the host does not hold the device up. ``out`` need not be zero.
    """
    from concurrent.futures import ThreadPoolExecutor

    import torch

    tiling = Tiling(view.spatial_shape, tile, overlap, batch_size, align)
    weights = [[torch.from_numpy(w).to(device) for w in axis] for axis in tiling.weights]
    total = tiling.n_tiles * view.n_samples
    out_view = AxisView(out, view.axes, view.spatial_ndim)
    pin = torch.device(device).type == "cuda"
    acc = torch.zeros((view.n_channels, *view.spatial_shape), dtype=torch.float32, device=device)
    whole = tuple(slice(0, s) for s in view.spatial_shape)

    def outer(a, b):
        return a[..., None] * b

    def read(n, batch):
        blocks = np.stack([view.read(n, sl) for _, sl in batch])
        require_finite_blocks(view, n, blocks, [sl for _, sl in batch])
        blocks = torch.from_numpy(blocks)
        return blocks.pin_memory() if pin else blocks

    done = 0
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="n2n-tiles") as pool:
        for n in range(view.n_samples):
            acc.zero_()
            pending = pool.submit(read, n, tiling.batches[0])
            for i, batch in enumerate(tiling.batches):
                blocks = pending.result()
                if i + 1 < len(tiling.batches):
                    pending = pool.submit(read, n, tiling.batches[i + 1])
                preds = run_model(blocks.to(device, non_blocking=True))
                for (index, sl), pred in zip(batch, preds):
                    acc[(slice(None), *sl)] += pred * tiling.weight(
                        index, outer=outer, weights=weights
                    )
                done += len(batch)
                yield TileProgress(done=done, total=total, sample=n, n_samples=view.n_samples)
            out_view.write(out, n, whole, acc.cpu().numpy())
