"""Denoise an image larger than memory into an OME-Zarr image on disk.

Chunk by chunk, resumable, in this process or on a dask cluster. The result is built in a
hidden folder beside the output (``.NAME.partial.ome.zarr``) that holds the zarr arrays and a
ledger of the finished units (:class:`~napari_n2n.core.inference.chunked.Ledger`); only when
every unit and the pyramid are written is it renamed to the output's name, so a store at the
output path is always complete. An interrupted run (Ctrl-C, a killed job, a full disk)
leaves the hidden folder; run again with ``resume=True`` (``--resume``) to denoise only the
units the ledger does not list, or with ``overwrite=True`` to start over.

Examples
--------
>>> from napari_n2n.ondisk.output import predict_to_zarr
>>> predict_to_zarr("model.n2n", "big.ome.zarr", "denoised.ome.zarr")        # doctest: +SKIP
>>> predict_to_zarr("model.n2n", "big.ome.zarr", "denoised.ome.zarr", workers=4, resume=True)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.axes import AxisView, validate_axes
from ..core.errors import InputError, OutputStateError
from ..core.events import ChunkProgress
from ..core.files import Destination, split_suffix
from ..core.inference.chunked import (
    UnitGrid,
    model_digest,
    plan_units,
    predict_units_iter,
)
from ..core.inference.ledger import Ledger
from ..core.inference.predict import PredictOptions
from ..io import ImageData, read_image
from ..io.omezarr import (
    OmeZarrFormat,
    create_image,
    n2n_attrs,
    ome_axes,
    update_n2n_attrs,
    write_pyramid,
)
from .chunking import Chunking, check_chunks
from .lock import WriterLock

LEDGER_NAME = "n2n-ledger.jsonl"
#: a copy of a model given as an object, for the workers of a cluster (removed with the ledger)
MODEL_NAME = "n2n-model.n2n"


def lock_path(output: str | os.PathLike) -> Path:
    """The lock file of an output while a run writes it: ``.NAME.partial.ome.zarr.lock``.

    Parameters
    ----------
    output : str or PathLike
        The output's path.

    Returns
    -------
    Path
        The lock file beside it (see :mod:`napari_n2n.ondisk.lock`).
    """
    partial = partial_path(output)
    return partial.with_name(partial.name + ".lock")


def partial_path(output: str | os.PathLike) -> Path:
    """The hidden folder where the result for an output is built: ``.NAME.partial.ome.zarr``.

    Parameters
    ----------
    output : str or PathLike
        The output's path.

    Returns
    -------
    Path
        The hidden folder beside it.
    """
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


#: the keywords of :class:`PredictOptions` and :class:`Chunking`, accepted one by one
_OPTION_FIELDS = {f.name for f in dataclasses.fields(PredictOptions)}
_CHUNKING_FIELDS = {f.name for f in dataclasses.fields(Chunking)}


def _option_objects(
    where: str, options: PredictOptions | None, chunking: Chunking | None, keywords: dict
) -> tuple[PredictOptions, Chunking]:
    """``options`` and ``chunking`` with the keywords given one by one put in (those win)."""
    unknown = sorted(set(keywords) - _OPTION_FIELDS - _CHUNKING_FIELDS)
    if unknown:
        raise TypeError(f"{where}() got an unexpected keyword argument {unknown[0]!r}")
    options = PredictOptions.of(
        options, **{k: v for k, v in keywords.items() if k in _OPTION_FIELDS}
    )
    given = {k: v for k, v in keywords.items() if k in _CHUNKING_FIELDS and v is not None}
    chunking = dataclasses.replace(chunking or Chunking(), **given)
    return options, chunking


def _settings(
    den, axes: str, out_axes: str, shape, units, halo: int, options: PredictOptions, dtype: str
) -> dict:
    return {
        "model": model_digest(den),
        "in_axes": axes,
        "axes": out_axes,
        "shape": list(shape),
        "units": list(units),
        "halo": halo,
        "dtype": dtype,
        **options.to_dict(),
    }


@dataclass(frozen=True)
class _Plan:
    """How a run cuts its output.

    The output's axes, shape and chunks, the units of work, and the settings its ledger records.
    """

    out_axes: str
    shape: tuple[int, ...]
    chunks: tuple[int, ...]
    grid: UnitGrid
    header: dict


def _plan(
    den, source: ImageData, axes: str | None, options, chunking: Chunking, dtype: str
) -> _Plan:
    """The plan of denoising ``source`` with ``den``; refuses an image the model cannot take."""
    data = source.data
    axes = validate_axes(axes, data.ndim) if axes else source.axes or den.resolve_axes(data, None)
    # an image whose channels the model cannot take is refused before anything is written
    den.check_channels(AxisView(data, axes, den.spatial_ndim))
    out_axes = ome_axes(axes)
    shape = tuple(int(data.shape[axes.index(a)]) for a in out_axes)
    halo = chunking.halo_for(options, den.spatial_ndim)
    chunks = chunking.chunks_for(shape, out_axes, den.spatial_ndim)
    units = plan_units(
        shape, out_axes, den.spatial_ndim, chunks=chunks, unit_voxels=chunking.unit_voxels
    )
    return _Plan(
        out_axes=out_axes,
        shape=shape,
        chunks=chunks,
        grid=UnitGrid(
            shape, out_axes, units, in_axes=axes, halo=halo, spatial_ndim=den.spatial_ndim
        ),
        header=_settings(den, axes, out_axes, shape, units, halo, options, dtype),
    )


def _partial(
    dest: Destination, plan: _Plan, source: ImageData, dtype: str, *, overwrite: bool, resume: bool
) -> Path:
    """The hidden folder the result is built in.

    An unfinished one is resumed (or removed, with ``overwrite``), else a new, empty image made.
    """
    partial = partial_path(dest.path)
    if partial.exists():
        if overwrite:
            shutil.rmtree(partial)
        elif not resume:
            raise OutputStateError(
                partial,
                "unfinished",
                f"An unfinished result of an earlier run is in {partial}.",
                "To finish it, {resume}; to start over, {overwrite}.",
            )
        else:
            check_chunks(partial, plan.chunks)
    if not partial.exists():
        data = source.data
        itemsize = np.dtype(data.dtype).itemsize if dtype == "input" else 4
        dest.require_space(int(np.prod(plan.shape)) * itemsize)
        create_image(
            partial,
            plan.shape,
            data.dtype if dtype == "input" else np.float32,
            plan.out_axes,
            pixel_size=source.pixel_size,
            unit=source.unit,
            translation=source.translation,
            frame_interval=source.frame_interval,
            chunks=plan.chunks,
            attrs={"complete": False, "settings": plan.header, "source": source.source},
        )
    return partial


def _destination(output: Path, overwrite: bool, inputs: list) -> Destination:
    """The output folder, checked (not one of the inputs, in a folder that can be written, ...).

    An existing output is refused here with a structured error (``kind="exists"``), whose
    advice the command line and the widget word for their own controls.
    """
    # every check but "it exists" is the Destination's; a commit still refuses a folder that
    # appears after this check (another run), since the Destination notes what is there now
    dest = Destination(output, overwrite=True, folder=True, what="output", inputs=inputs)
    if not overwrite and dest.path.exists():
        raise OutputStateError(
            dest.given,
            "exists",
            f"Cannot write the output {dest.given}: the folder already exists.",
            "To replace it, {overwrite}; or choose another name.",
        )
    return dest


def predict_to_zarr_iter(  # noqa: PLR0913  the public keywords besides the two option objects
    model,
    image,
    output: str | os.PathLike,
    *,
    axes: str | None = None,
    options: PredictOptions | None = None,
    chunking: Chunking | None = None,
    dtype: str = "float32",
    resume: bool = False,
    overwrite: bool = False,
    client=None,
    threads: int | None = None,
    should_stop: Callable[[], bool] | None = None,
    max_units: int | None = None,
    **keywords,
) -> Generator[ChunkProgress, None, Path | None]:
    """Like :func:`predict_to_zarr`, yielding progress; runs in this process or on a given client.

    Parameters
    ----------
    model : Denoiser or path
        The model, or its ``.n2n`` file.
    image : path, ImageData or array
        The noisy image.
    output : str or PathLike
        An ``.ome.zarr`` folder to create.
    axes : str, optional
        The input's axes.
    options : PredictOptions, optional
        Tile, overlap, batch size and device.
    chunking : Chunking, optional
        The output's chunks, the size of a unit of work and the halo.
    dtype : {"float32", "input"}
        Output values.
    resume : bool
        Finish an interrupted run, skipping the units it wrote.
    overwrite : bool
        Replace an existing output, or discard an interrupted run.
    client : distributed.Client, optional
        Run the units on this client's cluster.
    threads : int, optional
        torch threads per cluster worker.
    should_stop : callable, optional
        Returning True stops before the next batch of tiles.
    max_units : int, optional
        Stop after that many units (a test's simulated crash).
    **keywords
        The fields of ``options`` and ``chunking`` one by one.

    Yields
    ------
    ChunkProgress
        Of the denoising, then of the pyramid.

    Returns
    -------
    Path or None
        The output's path, or ``None`` when stopped before the end, as ``StopIteration.value``.

    Raises
    ------
    OutputStateError, InputError, OutputError
        As for :func:`predict_to_zarr`.
    """
    from ..core.inference.denoiser import Denoiser

    options, chunking = _option_objects("predict_to_zarr_iter", options, chunking, keywords)
    model_path = None if isinstance(model, Denoiser) else Path(os.fspath(model))
    den = model if isinstance(model, Denoiser) else Denoiser.load(model_path)
    source = _image(image, axes)
    plan = _plan(den, source, axes, options, chunking, dtype)

    output = Path(os.path.expanduser(os.fspath(output)))
    if not output.name.lower().endswith(OmeZarrFormat.suffixes):
        raise InputError(
            f"Chunked prediction writes OME-Zarr: give an output ending in .ome.zarr (not {output.name})."
        )
    if resume and not overwrite and _finished(output, plan):
        yield ChunkProgress("denoise", 1, 1, 1, 1.0)
        return output  # finished by an earlier run with this model and these settings
    dest = _destination(
        output, overwrite, inputs=[p for p in (source.source or None, model_path) if p]
    )
    with WriterLock(lock_path(output), what=str(output)):
        if not overwrite and output.exists():  # another run finished it since the checks
            if resume and _finished(output, plan):
                yield ChunkProgress("denoise", 1, 1, 1, 1.0)
                return output
            raise OutputStateError(
                output,
                "exists",
                f"Another run finished {output} while this one was starting; nothing was written.",
                "To replace it, {overwrite}.",
            )
        return (
            yield from _denoise_into(
                den,
                model_path,
                source,
                plan,
                dest,
                dtype=dtype,
                options=options,
                flags={"overwrite": overwrite, "resume": resume},
                client=client,
                threads=threads,
                should_stop=should_stop,
                max_units=max_units,
            )
        )


def _finished(output: Path, plan: _Plan) -> bool:
    """Whether ``output`` is a finished result of this model with these settings."""
    if not output.exists():
        return False
    done = n2n_attrs(output)
    return bool(done.get("complete")) and done.get("settings") == plan.header


def _denoise_into(  # noqa: PLR0913  the run's parts, all needed (the caller's keywords, unpacked)
    den,
    model_path,
    source: ImageData,
    plan: _Plan,
    dest: Destination,
    *,
    dtype: str,
    options: PredictOptions,
    flags: dict,
    client,
    threads,
    should_stop,
    max_units,
):
    """Denoise into the hidden folder (a new one, or an unfinished one resumed), then commit it."""
    data = source.data
    partial = _partial(dest, plan, source, dtype, **flags)
    ledger = Ledger(partial / LEDGER_NAME, plan.header)
    grid = plan.grid

    import zarr

    level0 = zarr.open_array(str(partial / "0"), mode="r+")
    if client is not None:
        from .cluster import UnitSpec, predict_units_on_cluster

        if model_path is None:
            model_path = partial / MODEL_NAME
            if not model_path.exists():
                den.save(model_path)
        spec = UnitSpec(
            model=model_path,
            output=partial / "0",
            grid=grid,
            options=options,
            dtype=dtype,
            threads=threads,
        )
        result = yield from predict_units_on_cluster(
            client,
            spec,
            source.source or data,
            ledger=ledger,
            should_stop=should_stop,
            max_units=max_units,
        )
    else:
        result = yield from predict_units_iter(
            den,
            data,
            level0,
            grid,
            options=options,
            ledger=ledger,
            dtype=dtype,
            should_stop=should_stop,
            max_units=max_units,
        )
    if len(ledger.done) < len(grid):
        return None
    del result
    group = zarr.open_group(str(partial), mode="r+")
    for done, total in write_pyramid(group, plan.out_axes, should_stop=should_stop):
        yield ChunkProgress("pyramid", done, total, 0, done / total)
    if should_stop is not None and should_stop():
        return None
    update_n2n_attrs(partial, complete=True, finished=time.strftime("%Y-%m-%d %H:%M:%S"))
    for name in (LEDGER_NAME, MODEL_NAME):
        (partial / name).unlink(missing_ok=True)
    return dest.commit(partial)


def predict_to_zarr(  # noqa: PLR0913  the public keywords besides the two option objects
    model,
    image,
    output: str | os.PathLike,
    *,
    axes: str | None = None,
    options: PredictOptions | None = None,
    chunking: Chunking | None = None,
    dtype: str = "float32",
    resume: bool = False,
    overwrite: bool = False,
    client=None,
    workers: int | None = None,
    scheduler: str | None = None,
    threads: int | None = None,
    **keywords,
) -> Path:
    """Denoise an image into an OME-Zarr image on disk, unit by unit.

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
    options : PredictOptions, optional
        Tile, overlap, batch size and device, as for :meth:`Denoiser.predict
        <napari_n2n.core.inference.denoiser.Denoiser.predict>`; also accepted one by one as the
        keywords ``tile``, ``overlap``, ``batch_size``, ``device``.
    chunking : Chunking, optional
        The output's chunks, the size of a unit of work and the halo read around it (see
        :class:`Chunking`); also accepted one by one as the keywords ``chunks``,
        ``unit_voxels``, ``halo``.
    dtype : {"float32", "input"}
        Output values: float32, or rounded and clipped to the input's type.
    resume : bool
        Finish an interrupted run (same model and settings), skipping the units it wrote.
    overwrite : bool
        Replace an existing output, or discard an interrupted run and start over.
    client : distributed.Client, optional
        Run the units on this client's dask cluster.
    workers : int, optional
        Run the units on a local cluster of that many worker processes.
    scheduler : str, optional
        Run the units on the cluster of a running scheduler (``"tcp://host:8786"``).
    threads : int, optional
        torch threads per cluster worker (default: its cores shared among its task threads).
    **keywords
        The fields of ``options`` and ``chunking`` one by one; a keyword wins over its field.

    Returns
    -------
    Path
        The output's path.

    Raises
    ------
    OutputStateError
        An output that exists, an unfinished run without ``resume``/``overwrite``, a resume
        with another model or other settings, a write that failed (a full disk: what is written
        stays recorded). Its ``kind`` says which; its advice is worded for a caller of this
        function (:meth:`~napari_n2n.core.errors.OutputStateError.worded` rewords it).
    InputError, OutputError
        Bad input, an output that cannot be written there, or both ``workers`` and
        ``scheduler``.
    """
    from ..core.progress import drain
    from .cluster import cluster_client

    options, chunking = _option_objects("predict_to_zarr", options, chunking, keywords)
    with cluster_client(client=client, workers=workers, scheduler=scheduler) as (cl, local_threads):
        path = drain(
            predict_to_zarr_iter(
                model,
                image,
                output,
                axes=axes,
                options=options,
                chunking=chunking,
                dtype=dtype,
                resume=resume,
                overwrite=overwrite,
                client=cl,
                threads=threads or local_threads,
            )
        )
    return path
