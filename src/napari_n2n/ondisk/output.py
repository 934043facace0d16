"""Denoise an image larger than memory into an OME-Zarr image on disk: chunk by chunk,
resumable, in this process or on a dask cluster.

The result is built in a hidden folder beside the output (``.NAME.partial.ome.zarr``) that
holds the zarr arrays and a ledger of the finished units (:class:`~napari_n2n.core.inference.chunked.Ledger`);
only when every unit and the pyramid are written is it renamed to the output's name, so a store
at the output path is always complete. An interrupted run (Ctrl-C, a killed job, a full disk)
leaves the hidden folder; run again with ``resume=True`` (``--resume``) to denoise only the
units the ledger does not list, or with ``overwrite=True`` to start over.

Examples
--------
>>> from napari_n2n.ondisk.output import predict_to_zarr
>>> predict_to_zarr("model.n2n", "big.ome.zarr", "denoised.ome.zarr")        # doctest: +SKIP
>>> predict_to_zarr("model.n2n", "big.ome.zarr", "denoised.ome.zarr", workers=4, resume=True)  # doctest: +SKIP
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Generator
from pathlib import Path

import numpy as np

from ..core.axes import AxisView, validate_axes
from ..core.errors import InputError, OutputError
from ..core.events import ChunkProgress
from ..core.files import Destination, split_suffix
from ..core.inference.chunked import (
    UNIT_VOXELS,
    Ledger,
    UnitGrid,
    model_digest,
    plan_units,
    predict_units_iter,
)
from ..io import ImageData, read_image
from ..io.omezarr import (
    OmeZarrFormat,
    create_image,
    default_chunks,
    n2n_attrs,
    ome_axes,
    update_n2n_attrs,
    write_pyramid,
)

LEDGER_NAME = "n2n-ledger.jsonl"
#: a copy of a model given as an object, for the workers of a cluster (removed with the ledger)
MODEL_NAME = "n2n-model.n2n"
#: chunks (Z, Y, X) of level 0 for a 2D and a 3D network
CHUNKS_2D, CHUNKS_3D = (1, 1024, 1024), (64, 256, 256)


def partial_path(output: str | os.PathLike) -> Path:
    """The hidden folder where the result for ``output`` is built: ``.NAME.partial.ome.zarr``."""
    output = Path(os.fspath(output))
    stem, suffix = split_suffix(output.name)
    return output.with_name(f".{stem}.partial{suffix}")


def _image(image, axes: str | None, what: str = "input") -> ImageData:
    if isinstance(image, ImageData):
        return image
    if isinstance(image, (str, os.PathLike)):
        return read_image(image, what)
    if not hasattr(image, "shape"):
        image = np.asarray(image)
    return ImageData(image, axes=axes)


def _settings(
    den, axes: str, out_axes: str, shape, units, halo: int, options: dict, dtype: str
) -> dict:
    return {
        "model": model_digest(den),
        "in_axes": axes,
        "axes": out_axes,
        "shape": list(shape),
        "units": list(units),
        "halo": halo,
        "dtype": dtype,
        **{k: (list(v) if isinstance(v, tuple) else v) for k, v in options.items()},
    }


def predict_to_zarr_iter(
    model,
    image,
    output: str | os.PathLike,
    *,
    axes: str | None = None,
    chunks: tuple[int, ...] | None = None,
    unit_voxels: int = UNIT_VOXELS,
    halo: int | None = None,
    tile=None,
    overlap: int | None = None,
    batch_size: int | None = None,
    device: str | None = None,
    dtype: str = "float32",
    resume: bool = False,
    overwrite: bool = False,
    client=None,
    threads: int | None = None,
    should_stop: Callable[[], bool] | None = None,
    max_units: int | None = None,
    overwrite_hint: str = "pass overwrite=True",
    resume_hint: str = "call again with resume=True",
) -> Generator[ChunkProgress, None, Path | None]:
    """Like :func:`predict_to_zarr`, yielding :class:`~napari_n2n.core.events.ChunkProgress`; returns
    the output's path, or ``None`` when stopped before the end (``should_stop``, ``max_units``)."""
    from ..core.inference.denoiser import Denoiser

    model_path = None if isinstance(model, Denoiser) else Path(os.fspath(model))
    den = model if isinstance(model, Denoiser) else Denoiser.load(model_path)
    source = _image(image, axes)
    data = source.data
    axes = validate_axes(axes, data.ndim) if axes else source.axes or den.resolve_axes(data, None)
    view = AxisView(data, axes, den.spatial_ndim)
    den._groups_for(
        view
    )  # refuses an image whose channels the model cannot take, before anything is written
    out_axes = ome_axes(axes)
    shape = tuple(int(data.shape[axes.index(a)]) for a in out_axes)
    options = dict(tile=tile, overlap=overlap, batch_size=batch_size, device=device)
    # at least the tiles' overlap (predict_iter's default where none is given)
    halo = max(
        int(halo or 0), overlap if overlap is not None else 48 if den.spatial_ndim == 2 else 16
    )
    chunks = (
        tuple(chunks)
        if chunks
        else default_chunks(
            shape, out_axes, spatial=CHUNKS_2D if den.spatial_ndim == 2 else CHUNKS_3D
        )
    )
    if len(chunks) != len(shape):
        raise InputError(f"Chunks {chunks} must give one size per axis of the output ({out_axes}).")
    units = plan_units(shape, out_axes, den.spatial_ndim, chunks=chunks, unit_voxels=unit_voxels)
    header = _settings(den, axes, out_axes, shape, units, halo, options, dtype)

    output = Path(os.path.expanduser(os.fspath(output)))
    if not output.name.lower().endswith(OmeZarrFormat.suffixes):
        raise InputError(
            f"Chunked prediction writes OME-Zarr: give an output ending in .ome.zarr (not {output.name})."
        )
    if resume and not overwrite and output.exists():
        done = n2n_attrs(output)
        if done.get("complete") and done.get("settings") == header:
            yield ChunkProgress("denoise", 1, 1, 1, 1.0)
            return output  # finished by an earlier run with this model and these settings
    dest = Destination(
        output,
        overwrite=overwrite,
        folder=True,
        what="output",
        overwrite_hint=overwrite_hint,
        inputs=[p for p in (source.source or None, model_path) if p],
    )
    partial = partial_path(dest.path)
    if partial.exists():
        if overwrite:
            shutil.rmtree(partial)
        elif not resume:
            raise OutputError(
                f"An unfinished result of an earlier run is in {partial}. To finish it, {resume_hint}; "
                f"to start over, {overwrite_hint}."
            )
    if not partial.exists():
        dest.require_space(
            int(np.prod(shape)) * (np.dtype(data.dtype).itemsize if dtype == "input" else 4)
        )
        create_image(
            partial,
            shape,
            data.dtype if dtype == "input" else np.float32,
            out_axes,
            pixel_size=source.pixel_size,
            unit=source.unit,
            translation=source.translation,
            chunks=chunks,
            attrs={"complete": False, "settings": header, "source": source.source},
        )
    ledger = Ledger(partial / LEDGER_NAME, header, hint=f"to start over, {overwrite_hint}")
    grid = UnitGrid(shape, out_axes, units, in_axes=axes, halo=halo, spatial_ndim=den.spatial_ndim)

    import zarr

    level0 = zarr.open_array(str(partial / "0"), mode="r+")
    if client is not None:
        from .cluster import predict_units_on_cluster

        if model_path is None:
            model_path = partial / MODEL_NAME
            if not model_path.exists():
                den.save(model_path)
        result = yield from predict_units_on_cluster(
            client,
            model_path,
            source.source or data,
            partial / "0",
            grid,
            ledger=ledger,
            dtype=dtype,
            threads=threads,
            should_stop=should_stop,
            max_units=max_units,
            resume_hint=resume_hint,
            **options,
        )
    else:
        result = yield from predict_units_iter(
            den,
            data,
            level0,
            grid,
            ledger=ledger,
            dtype=dtype,
            should_stop=should_stop,
            max_units=max_units,
            resume_hint=resume_hint,
            **options,
        )
    if len(ledger.done) < len(grid):
        return None
    del result
    group = zarr.open_group(str(partial), mode="r+")
    for done, total in write_pyramid(group, out_axes, should_stop=should_stop):
        yield ChunkProgress("pyramid", done, total, 0, done / total)
    if should_stop is not None and should_stop():
        return None
    update_n2n_attrs(partial, complete=True, finished=time.strftime("%Y-%m-%d %H:%M:%S"))
    for name in (LEDGER_NAME, MODEL_NAME):
        (partial / name).unlink(missing_ok=True)
    return dest.commit(partial)


def predict_to_zarr(
    model,
    image,
    output: str | os.PathLike,
    *,
    axes: str | None = None,
    chunks: tuple[int, ...] | None = None,
    unit_voxels: int = UNIT_VOXELS,
    halo: int | None = None,
    tile=None,
    overlap: int | None = None,
    batch_size: int | None = None,
    device: str | None = None,
    dtype: str = "float32",
    resume: bool = False,
    overwrite: bool = False,
    client=None,
    workers: int | None = None,
    scheduler: str | None = None,
    threads: int | None = None,
) -> Path:
    """Denoise ``image`` into the OME-Zarr image ``output``, unit by unit; return the output's path.

    Parameters
    ----------
    model : Denoiser or path
        The model, or its ``.n2n`` file (a cluster's workers load the file, once each).
    image : path, ImageData or array
        The noisy image: a file (OME-Zarr, TIFF, NIfTI, .npy; read lazily where the format
        allows), or an array (numpy, zarr, dask) with ``axes``.
    output : path
        An ``.ome.zarr`` folder to create. It gets the input's axes (in OME order), pixel sizes
        and translation, and a pyramid.
    axes : str, optional
        The input's axes (default: what the file says, else the model's).
    chunks : tuple, optional
        Chunks of the output, one size per output axis (default: 1×1024×1024 per sample for a 2D
        model, 64×256×256 for a 3D one, every channel together).
    unit_voxels : int
        Units of work are whole chunks grown to about this many voxels.
    halo : int, optional
        Context read around each unit (default: the tile overlap; 48 in 2D, 16 in 3D).
    tile, overlap, batch_size, device
        As for :meth:`Denoiser.predict <napari_n2n.core.inference.denoiser.Denoiser.predict>`.
    dtype : {"float32", "input"}
        Output values: float32, or rounded and clipped to the input's type.
    resume : bool
        Finish an interrupted run (same model and settings), skipping the units it wrote.
    overwrite : bool
        Replace an existing output, or discard an interrupted run and start over.
    client, workers, scheduler : optional
        Run the units on a dask cluster: a ``distributed.Client``; or ``workers`` local worker
        processes; or the address of a running scheduler (``"tcp://host:8786"``).
    threads : int, optional
        torch threads per cluster worker (default: its cores shared among its task threads).

    Raises
    ------
    InputError, OutputError
        Bad input, an output that exists, an unfinished run without ``resume``/``overwrite``, a
        resume with another model, a write that failed (a full disk: what is written stays
        recorded).
    """
    from ..core.progress import drain
    from .cluster import cluster_client

    with cluster_client(client=client, workers=workers, scheduler=scheduler) as (cl, local_threads):
        path = drain(
            predict_to_zarr_iter(
                model,
                image,
                output,
                axes=axes,
                chunks=chunks,
                unit_voxels=unit_voxels,
                halo=halo,
                tile=tile,
                overlap=overlap,
                batch_size=batch_size,
                device=device,
                dtype=dtype,
                resume=resume,
                overwrite=overwrite,
                client=cl,
                threads=threads or local_threads,
            )
        )
    return path
