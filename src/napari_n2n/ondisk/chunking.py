"""How an OME-Zarr output is cut: its chunks, the units of work, the context around each.

A resumed run keeps the chunks its unfinished result was made with (:func:`check_chunks`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..core.errors import InputError, OutputStateError
from ..core.inference.chunked import UNIT_VOXELS
from ..core.inference.predict import PredictOptions
from ..io.omezarr import default_chunks

#: chunks (Z, Y, X) of level 0 for a 2D and a 3D network
CHUNKS_2D = (1, 1024, 1024)
CHUNKS_3D = (64, 256, 256)


@dataclass(frozen=True)
class Chunking:
    """How an OME-Zarr output is cut: its chunks, the units of work, the context around each.

    Parameters
    ----------
    chunks : tuple of int, optional
        Chunks of the output, one size per output axis (default: 1×1024×1024 per sample for a
        2D model, 64×256×256 for a 3D one, every channel together).
    unit_voxels : int
        Units of work are whole chunks grown to about this many voxels.
    halo : int, optional
        Context read around each unit, pixels; at least the tiles' overlap (the default).

    Raises
    ------
    InputError
        If a chunk size or ``unit_voxels`` is below 1, or the halo is negative.
    """

    chunks: tuple[int, ...] | None = None
    unit_voxels: int = UNIT_VOXELS
    halo: int | None = None

    def __post_init__(self):
        if self.chunks is not None:
            chunks = tuple(int(c) for c in self.chunks)
            if chunks and min(chunks) < 1:
                raise InputError(f"Every chunk size must be a whole number from 1; got {chunks}.")
            # no chunks given (an empty tuple) means the default chunks
            object.__setattr__(self, "chunks", chunks or None)
        if int(self.unit_voxels) < 1:
            raise InputError(f"unit_voxels must be at least 1; got {self.unit_voxels}.")
        if self.halo is not None and int(self.halo) < 0:
            raise InputError(f"The halo must be 0 pixels or more; got {self.halo}.")

    def halo_for(self, options: PredictOptions, spatial_ndim: int) -> int:
        """The halo: the one given, but at least the tiles' overlap.

        Parameters
        ----------
        options : PredictOptions
            The prediction's tiling.
        spatial_ndim : int
            2 or 3: the network's dimension.

        Returns
        -------
        int
            Pixels read around each unit.
        """
        return max(int(self.halo or 0), options.overlap_for(spatial_ndim))

    def chunks_for(self, shape: tuple[int, ...], out_axes: str, spatial_ndim: int):
        """The output's chunks: the given ones, else one sample's plane or block of the default size.

        Parameters
        ----------
        shape : tuple of int
            The output's shape.
        out_axes : str
            The output's axes.
        spatial_ndim : int
            2 or 3: the network's dimension.

        Returns
        -------
        tuple of int
            One chunk size per output axis.

        Raises
        ------
        InputError
            If the chunks do not give one size per output axis.
        """
        chunks = self.chunks or default_chunks(
            shape, out_axes, spatial=CHUNKS_2D if spatial_ndim == 2 else CHUNKS_3D
        )
        if len(chunks) != len(shape):
            raise InputError(
                f"Chunks {chunks} must give one size per axis of the output ({out_axes})."
            )
        return chunks


def check_chunks(partial: Path, chunks: tuple[int, ...]) -> None:
    """Refuse to resume an unfinished result whose chunks are not the ones asked for now.

    Its arrays were made with their chunks: a resume writes into them, so other chunks
    would be silently ignored.

    Parameters
    ----------
    partial : Path
        The unfinished result (see :func:`~napari_n2n.ondisk.output.partial_path`).
    chunks : tuple of int
        The chunks asked for now.

    Raises
    ------
    OutputStateError
        ``kind="mismatch"``, naming both chunk sizes, if they differ.
    """
    import zarr

    try:
        made = tuple(int(c) for c in zarr.open_array(str(partial / "0"), mode="r").chunks)
    except Exception:  # a damaged array: the ledger and the writes report it
        return
    if made != tuple(chunks):
        raise OutputStateError(
            partial,
            "mismatch",
            f"The unfinished result in {partial} was started with chunks {made}, not {tuple(chunks)}: "
            "a resume keeps the chunks it was started with.",
            f"Resume with chunks {made} (or without choosing chunks), or to start over with the "
            "new chunks, {overwrite}.",
        )
