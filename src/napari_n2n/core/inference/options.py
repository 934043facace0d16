"""How a prediction is tiled and where it runs: one frozen, self-checking options object.

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
from dataclasses import dataclass

from ..errors import InputError

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
        """The tile, one side per spatial axis, for a ``spatial_ndim``-D network on ``device_type``.

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
        """The overlap between tiles, pixels (the given one, else the default of the network's dimension)."""
        if self.overlap is not None:
            return self.overlap
        return OVERLAP_2D if spatial_ndim == 2 else OVERLAP_3D

    def overlaps(self, spatial_ndim: int, device_type: str) -> tuple[int, ...]:
        """The overlap along each spatial axis: at most half the tile along it."""
        overlap = self.overlap_for(spatial_ndim)
        return tuple(min(overlap, t // 2) for t in self.tiles(spatial_ndim, device_type))

    def batch_for(self, spatial_ndim: int, device_type: str) -> int:
        """Tiles per forward pass on ``device_type``."""
        if self.batch_size:
            return self.batch_size
        if device_type == "cpu":
            return BATCH_CPU
        return BATCH_GPU_2D if spatial_ndim == 2 else BATCH_GPU_3D
