"""Tiled inference with overlap and seamless blending, for numpy and dask arrays.

The image is cut into overlapping tiles; every tile's prediction is weighted by a separable
window that falls off towards the tile border, and the weights are normalised *per axis*
(the sum over a tiling grid of a separable window factorises), so each output voxel is the
exact weighted average of the tiles that cover it. Nothing but the output and one batch of
tiles is held in memory: peak memory does not grow with the image beyond the output itself,
and an ``out`` array on disk (``numpy.memmap``, zarr) bounds even that.

:class:`PredictOptions` holds the tile size, the overlap between tiles, the tiles per forward
pass and the device. Every field may be left ``None`` ("automatic"); the defaults that then
apply depend on the network (2D or 3D) and the device, and this module is their one home:
:meth:`Denoiser.predict <napari_n2n.core.inference.denoiser.Denoiser.predict>`, test-time
augmentation, chunked output on disk and the cluster all read them from here.

Examples
--------
>>> opts = PredictOptions(tile=256, overlap=32)
>>> opts.tiles(2, "cpu"), opts.overlaps(2, "cpu"), opts.batch_for(2, "cpu")
((256, 256), (32, 32), 1)
>>> PredictOptions().tiles(3, "cuda")
(64, 128, 128)
>>> PredictOptions.of(opts, overlap=16, device=None)
PredictOptions(tile=256, overlap=16, batch_size=None, device=None)
"""

from __future__ import annotations

import dataclasses
import numbers
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..axes import AxisView
from ..checks import require_finite
from ..errors import InputError
from ..events import TileProgress
from .tiling import Tiling, read_tile

#: the smallest tile side the network is given
MIN_TILE = 8
#: the default tile: one side in 2D; (Z, Y, X) in 3D on a GPU and on the CPU
TILE_2D = 512
TILE_3D_GPU = (64, 128, 128)
TILE_3D_CPU = (48, 96, 96)
#: the default overlap between neighbouring tiles, pixels, in 2D and in 3D
OVERLAP_2D = 48
OVERLAP_3D = 16
#: the default tiles per forward pass: on the CPU, and on a GPU in 2D and in 3D
BATCH_CPU = 1
BATCH_GPU_2D = 16
BATCH_GPU_3D = 8


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


@dataclass(frozen=True)
class PredictOptions:
    """Tiling and device of a prediction; ``None`` fields take the defaults of this module.

    Parameters
    ----------
    tile : int or tuple of int, optional
        Tile side in pixels, one size for every spatial axis or one per axis (``(Z, Y, X)``);
        each at least 8. Smaller tiles use less memory. Default: 512 in 2D; 64×128×128 on a
        GPU and 48×96×96 on the CPU in 3D.
    overlap : int, optional
        Overlap between neighbouring tiles, blended smoothly (at most half a tile is used).
        Default: 48 in 2D, 16 in 3D.
    batch_size : int, optional
        Tiles per forward pass. Default: 1 on the CPU; on a GPU 16 in 2D, 8 in 3D.
    device : str, optional
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``. Default: the model's
        training choice.

    Raises
    ------
    InputError
        If a size is not a whole number, a tile side is below 8, the overlap is negative or
        the batch size below 1.

    Examples
    --------
    >>> options = PredictOptions(tile=256)
    >>> options.tiles(2, "cpu"), options.overlaps(2, "cpu"), options.batch_for(2, "cpu")
    ((256, 256), (48, 48), 1)
    >>> PredictOptions.of(options, tile=None, batch_size=4)
    PredictOptions(tile=256, overlap=None, batch_size=4, device=None)
    """

    tile: int | tuple[int, ...] | None = None
    overlap: int | None = None
    batch_size: int | None = None
    device: str | None = None

    def __post_init__(self):
        tile = self.tile
        if tile is not None:
            # kept as plain ints, and a list (from JSON, say) as a tuple: hashable and comparable
            tile = int(tile) if _is_int(tile) else tuple(int(t) if _is_int(t) else t for t in tile)
            object.__setattr__(self, "tile", tile)
        sides = (tile,) if _is_int(tile) else tile or ()
        if tile is not None and (
            not sides or not all(_is_int(t) for t in sides) or min(sides) < MIN_TILE
        ):
            raise InputError(
                f"Tile must be one size or one size per spatial axis, each at least {MIN_TILE}; "
                f"got {tile}."
            )
        if self.overlap is not None and not (_is_int(self.overlap) and self.overlap >= 0):
            raise InputError(
                f"The tile overlap must be a whole number of pixels from 0; got {self.overlap!r}."
            )
        if self.batch_size is not None and not (_is_int(self.batch_size) and self.batch_size >= 1):
            raise InputError(
                f"The batch size must be a whole number from 1; got {self.batch_size!r}."
            )
        if self.device is not None and not isinstance(self.device, str):
            raise InputError(f"The device must be a name such as 'cpu'; got {self.device!r}.")

    @classmethod
    def of(cls, options: PredictOptions | None = None, **keywords) -> PredictOptions:
        """``options`` (default: all automatic) with the ``keywords`` that are not ``None`` put in.

        This is how the keyword API (``predict(image, tile=256)``) becomes an options object: a
        keyword given explicitly wins over the same field of ``options``.

        Parameters
        ----------
        options : PredictOptions, optional
            The options to start from.
        **keywords
            ``tile``, ``overlap``, ``batch_size``, ``device``; ``None`` leaves the field as it is.

        Returns
        -------
        PredictOptions
            ``options`` itself when no keyword is given, else a new object.
        """
        base = options if options is not None else cls()
        given = {k: v for k, v in keywords.items() if v is not None}
        return dataclasses.replace(base, **given) if given else base

    def to_dict(self) -> dict:
        """The fields as plain JSON values (a tile tuple becomes a list), e.g. for a ledger's header."""
        return {
            f.name: list(v) if isinstance(v, tuple) else v
            for f in dataclasses.fields(self)
            for v in [getattr(self, f.name)]
        }

    # ---- the defaults, resolved for a network and a device ---------------------------------------
    def tiles(self, spatial_ndim: int, device_type: str) -> tuple[int, ...]:
        """The tile, one side per spatial axis, for a network on a device.

        Parameters
        ----------
        spatial_ndim : int
            2 or 3: the network's dimension.
        device_type : str
            ``"cpu"``, ``"cuda"`` or ``"mps"``.

        Returns
        -------
        tuple of int
            One side per spatial axis.

        Raises
        ------
        InputError
            If the tile gives neither one size nor one per spatial axis.
        """
        tile = self.tile
        if tile is None:
            if spatial_ndim == 2:
                tile = TILE_2D
            else:
                tile = TILE_3D_GPU if device_type != "cpu" else TILE_3D_CPU
        tile = (tile,) * spatial_ndim if _is_int(tile) else tuple(tile)
        if len(tile) != spatial_ndim or min(tile) < MIN_TILE:
            raise InputError(
                f"Tile must be one size or {spatial_ndim} sizes, each at least {MIN_TILE}; "
                f"got {tile}."
            )
        return tile

    def overlap_for(self, spatial_ndim: int) -> int:
        """The overlap between tiles, pixels: the given one, else the default of the dimension.

        Parameters
        ----------
        spatial_ndim : int
            2 or 3: the network's dimension.

        Returns
        -------
        int
            The overlap, before it is capped at half a tile (see :meth:`overlaps`).
        """
        if self.overlap is not None:
            return self.overlap
        return OVERLAP_2D if spatial_ndim == 2 else OVERLAP_3D

    def overlaps(self, spatial_ndim: int, device_type: str) -> tuple[int, ...]:
        """The overlap along each spatial axis: at most half the tile along it.

        Parameters
        ----------
        spatial_ndim : int
            2 or 3: the network's dimension.
        device_type : str
            ``"cpu"``, ``"cuda"`` or ``"mps"``.

        Returns
        -------
        tuple of int
            One overlap per spatial axis.
        """
        overlap = self.overlap_for(spatial_ndim)
        return tuple(min(overlap, t // 2) for t in self.tiles(spatial_ndim, device_type))

    def batch_for(self, spatial_ndim: int, device_type: str) -> int:
        """Tiles per forward pass.

        Parameters
        ----------
        spatial_ndim : int
            2 or 3: the network's dimension.
        device_type : str
            ``"cpu"``, ``"cuda"`` or ``"mps"``.

        Returns
        -------
        int
            The given batch size, else the default of the device and dimension.
        """
        if self.batch_size:
            return self.batch_size
        if device_type == "cpu":
            return BATCH_CPU
        return BATCH_GPU_2D if spatial_ndim == 2 else BATCH_GPU_3D


def require_finite_blocks(view: AxisView, n: int, blocks: np.ndarray, slices: list) -> None:
    """Check that a batch of tiles holds no NaN or Inf.

    Lazy inputs (dask, zarr) are checked here, tile by tile as they are read; numpy inputs were
    checked whole before.

    Parameters
    ----------
    view : AxisView
        The input.
    n : int
        The sample.
    blocks : numpy.ndarray
        The tiles read.
    slices : list
        Their slices, to name the tile.

    Raises
    ------
    InputError
        Naming the first tile that holds NaN or Inf.
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
    border: tuple[int, ...] | None = None,
) -> Iterator[TileProgress]:
    """Predict every sample of a view tile by tile into an output array.

    ``out`` must start at zero (``np.zeros``); tiles add their weighted predictions.

    Parameters
    ----------
    run_model : callable
        Maps a ``(B, C, *tile)`` float32 batch in the input's units to the same shape.
    view : AxisView
        The input.
    out : array-like
        The output, the input's shape.
    tile : tuple of int
        The tile, one side per spatial axis.
    overlap : tuple of int
        The overlap along each spatial axis.
    batch_size : int
        Tiles per call of ``run_model``.
    align : int, optional
        Tiles start at multiples of it (see :func:`tile_starts`).
    border : tuple of int, optional
        Pixels the image is extended by reflection on each side (see :class:`Tiling`).

    Yields
    ------
    TileProgress
        After each batch.
    """
    tiling = Tiling(view.spatial_shape, tile, overlap, batch_size, align, border)
    total = tiling.n_tiles * view.n_samples
    out_view = AxisView(out, view.axes, view.spatial_ndim)
    done = 0
    for n in range(view.n_samples):
        for batch in tiling.batches:
            blocks = np.stack([read_tile(view, n, sl) for _, sl in batch])
            require_finite_blocks(view, n, blocks, [tiling.crop(sl)[0] for _, sl in batch])
            preds = run_model(blocks)
            for (index, sl), pred in zip(batch, preds):
                inside, local = tiling.crop(sl)
                kept = (pred * tiling.weight(index))[(slice(None), *local)]
                out_view.write(out, n, inside, out_view.read(n, inside) + kept)
            done += len(batch)
            yield TileProgress(done=done, total=total, sample=n, n_samples=view.n_samples)


def predict_view_on_device(  # noqa: PLR0913  predict_view's keywords and the device
    run_model,
    view: AxisView,
    out,
    *,
    tile: tuple[int, ...],
    overlap: tuple[int, ...],
    batch_size: int,
    device,
    align: int = 1,
    border: tuple[int, ...] | None = None,
) -> Iterator[TileProgress]:
    """Like :func:`predict_view`, with the blending done on a device (a GPU's path).

    Each sample is accumulated in a tensor on the device and copied to ``out`` once; the next
    batch of tiles is read (and put in pinned memory) on a helper thread while the device
    computes the current one, so the host does not hold the device up. ``out`` need not be zero.

    Parameters
    ----------
    run_model : callable
        Maps a ``(B, C, *tile)`` float32 tensor on ``device`` (image units) to the same shape.
    view : AxisView
        The input.
    out : array-like
        The output, the input's shape.
    tile : tuple of int
        The tile, one side per spatial axis.
    overlap : tuple of int
        The overlap along each spatial axis.
    batch_size : int
        Tiles per call of ``run_model``.
    device : torch.device
        Where the model runs and the tiles are blended.
    align : int, optional
        Tiles start at multiples of it (see :func:`tile_starts`).
    border : tuple of int, optional
        Pixels the image is extended by reflection on each side (see :class:`Tiling`).

    Yields
    ------
    TileProgress
        After each batch.
    """
    from concurrent.futures import ThreadPoolExecutor

    import torch

    tiling = Tiling(view.spatial_shape, tile, overlap, batch_size, align, border)
    weights = [[torch.from_numpy(w).to(device) for w in axis] for axis in tiling.weights]
    total = tiling.n_tiles * view.n_samples
    out_view = AxisView(out, view.axes, view.spatial_ndim)
    pin = torch.device(device).type == "cuda"
    acc = torch.zeros((view.n_channels, *view.spatial_shape), dtype=torch.float32, device=device)
    whole = tuple(slice(0, s) for s in view.spatial_shape)

    def outer(a, b):
        return a[..., None] * b

    def read(n, batch):
        blocks = np.stack([read_tile(view, n, sl) for _, sl in batch])
        require_finite_blocks(view, n, blocks, [tiling.crop(sl)[0] for _, sl in batch])
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
                    inside, local = tiling.crop(sl)
                    weight = tiling.weight(index, outer=outer, weights=weights)
                    acc[(slice(None), *inside)] += (pred * weight)[(slice(None), *local)]
                done += len(batch)
                yield TileProgress(done=done, total=total, sample=n, n_samples=view.n_samples)
            out_view.write(out, n, whole, acc.cpu().numpy())
