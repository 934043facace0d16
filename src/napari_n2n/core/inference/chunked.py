"""Out-of-core prediction: the unit of work is a block of output chunks, written once.

A large image is predicted unit by unit. A unit is a box of whole chunks of the output array
(one chunk, or several along the spatial axes so the halo costs little). For each unit the
input is read with a *halo* of ``halo`` pixels around it along the axes the network convolves
(clipped at the image border, where the network pads by reflection itself, as in one
in-memory prediction), denoised with the ordinary tiler (:meth:`Denoiser.predict_iter
<napari_n2n.core.inference.denoiser.Denoiser.predict_iter>`), cropped back to the unit and written with
one assignment. Units never share a chunk, so they can be written in any order or in parallel
(:mod:`napari_n2n.ondisk.cluster`), and memory holds one unit whatever the image size.

A :class:`~napari_n2n.core.inference.ledger.Ledger` beside the data records the units that are written, after each write; a run
that resumes skips them. It records what a run *did*, not what the store happens to hold (zarr
does not store chunks equal to the fill value, so "the chunk exists" says nothing), and its
header names the model (:func:`model_digest`) and the settings, so a resume with another model
or other settings is refused instead of mixing two results.

The result equals one in-memory :meth:`~napari_n2n.core.inference.denoiser.Denoiser.predict` to the
precision of tiled prediction itself: tiles sit at other places in a unit than in the whole
image, which changes a pixel by about as much as two tile layouts of the whole image differ
(docs/large-data.md gives the figures).
"""

from __future__ import annotations

import errno
import hashlib
import itertools
import json
import math
import time
from collections.abc import Callable, Iterator

import numpy as np

from ..axes import validate_axes
from ..errors import InputError, OutputStateError
from ..events import ChunkProgress, TileProgress
from ..files import reason
from ..progress import drain, relay
from .ledger import Ledger
from .predict import PredictOptions

#: a unit of work holds about this many output voxels (64 MB of float32), unless given
UNIT_VOXELS = 1 << 24


def model_digest(denoiser) -> str:
    """A sha256 of what decides a denoiser's output: its weights, normalisation, network and axes.

    Parameters
    ----------
    denoiser : Denoiser
        The model.

    Returns
    -------
    str
        The hex digest.
    """
    h = hashlib.sha256()
    mf = denoiser.model_file()
    h.update(
        json.dumps(
            [mf.unet, mf.channel_groups, mf.normalization, mf.axes], sort_keys=True, default=str
        ).encode()
    )
    for model in denoiser.models:
        for name, tensor in sorted(model.state_dict().items()):
            h.update(name.encode())
            h.update(tensor.detach().cpu().float().contiguous().numpy().tobytes())
    return h.hexdigest()


def spatial_letters(spatial_ndim: int) -> str:
    """The axes a network of ``spatial_ndim`` dimensions convolves: ``"YX"`` or ``"ZYX"``."""
    return "ZYX" if spatial_ndim == 3 else "YX"


def plan_units(
    shape: tuple[int, ...],
    axes: str,
    spatial_ndim: int,
    *,
    chunks: tuple[int, ...] | None = None,
    unit_voxels: int = UNIT_VOXELS,
) -> tuple[int, ...]:
    """The shape of a unit of work: whole chunks, grown along the spatial axes.

    The shortest spatial side grows first, by whole chunks, until a unit holds about
    ``unit_voxels`` voxels. Every channel is in each unit (the network sees the channels
    together); sample axes (T, S, and Z for a 2D network) keep their chunk size.

    Parameters
    ----------
    shape : tuple of int
        The output array's shape.
    axes : str
        Its axes.
    spatial_ndim : int
        2 or 3: the axes the network convolves (YX or ZYX).
    chunks : tuple of int, optional
        The output's chunks (default: one chunk, the whole array).
    unit_voxels : int, optional
        About how many voxels a unit holds.

    Returns
    -------
    tuple of int
        The shape of one unit.

    Raises
    ------
    InputError
        If the chunks split the channels.

    Examples
    --------
    >>> plan_units((4, 1024, 1024), "TYX", 2, chunks=(1, 256, 256), unit_voxels=1 << 18)
    (1, 512, 512)
    """
    chunks = tuple(int(c) for c in (chunks or shape))
    if "C" in axes and chunks[axes.index("C")] < shape[axes.index("C")]:
        raise InputError(
            f"The output's chunks {chunks} split the channels (axis C); a unit of work needs all channels. "
            "Give chunks with every channel."
        )
    unit = list(chunks)
    spatial = [axes.index(a) for a in spatial_letters(spatial_ndim)]
    per_sample = math.prod(unit[i] for i in spatial) * (
        shape[axes.index("C")] if "C" in axes else 1
    )
    while per_sample < unit_voxels:
        growable = [i for i in spatial if unit[i] < shape[i]]
        if not growable:
            break
        i = min(growable, key=lambda k: unit[k])
        grown = min(unit[i] + chunks[i], shape[i])
        per_sample = per_sample // unit[i] * grown
        unit[i] = grown
    return tuple(unit)


class UnitGrid:
    """The units of work of an output array: their slices, and the input block (with halo) each reads.

    Parameters
    ----------
    shape : tuple of int
        The output array's shape.
    out_axes : str
        The output array's axes.
    units : tuple of int
        Shape of one unit (whole chunks; the last unit along an axis may be shorter).
    in_axes : str
        The input's axes (the same letters, maybe in another order).
    halo : int
        Pixels of context read around a unit along each spatial axis.
    spatial_ndim : int
        2 or 3: the axes the network convolves (YX or ZYX).

    Raises
    ------
    InputError
        If the input and output axes differ in their letters.

    Examples
    --------
    >>> grid = UnitGrid((100, 100), "YX", (64, 64), in_axes="YX", halo=8, spatial_ndim=2)
    >>> len(grid), grid.out_slices((1, 0))
    (4, (slice(64, 100, None), slice(0, 64, None)))
    >>> grid.read_slices((1, 0))
    ((slice(56, 100, None), slice(0, 72, None)), (slice(8, 44, None), slice(0, 64, None)))
    """

    def __init__(self, shape, out_axes: str, units, *, in_axes: str, halo: int, spatial_ndim: int):
        self.shape, self.out_axes, self.in_axes = tuple(int(s) for s in shape), out_axes, in_axes
        self.units, self.halo, self.spatial = (
            tuple(int(u) for u in units),
            int(halo),
            spatial_letters(spatial_ndim),
        )
        if sorted(out_axes) != sorted(in_axes):
            raise InputError(
                f"The output's axes {out_axes!r} are not those of the input, {in_axes!r}."
            )
        self.counts = tuple(math.ceil(s / u) for s, u in zip(self.shape, self.units))

    def __len__(self) -> int:
        return math.prod(self.counts)

    def indices(self) -> Iterator[tuple[int, ...]]:
        """The index of every unit (one per axis), in C order."""
        return itertools.product(*(range(c) for c in self.counts))

    def out_slices(self, index: tuple[int, ...]) -> tuple[slice, ...]:
        """Where unit ``index`` lies in the output array."""
        return tuple(
            slice(i * u, min((i + 1) * u, s)) for i, u, s in zip(index, self.units, self.shape)
        )

    def voxels(self, index: tuple[int, ...]) -> int:
        """The output voxels of unit ``index``."""
        return math.prod(s.stop - s.start for s in self.out_slices(index))

    def read_slices(self, index: tuple[int, ...]) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
        """The block of the input a unit reads, and where the unit lies in it.

        Parameters
        ----------
        index : tuple of int
            The unit.

        Returns
        -------
        tuple
            ``(input slices, crop)``: the block to read, with the halo (input axes), and the
            unit's place in it.
        """
        box = dict(zip(self.out_axes, zip(self.out_slices(index), self.shape)))
        read = []
        crop = []
        for a in self.in_axes:
            sl, size = box[a]
            if a in self.spatial:
                lo = max(0, sl.start - self.halo)
                hi = min(size, sl.stop + self.halo)
                read.append(slice(lo, hi))
                crop.append(slice(sl.start - lo, sl.stop - lo))
            else:
                read.append(sl)
                crop.append(slice(None))
        return tuple(read), tuple(crop)


def _transpose(block: np.ndarray, in_axes: str, out_axes: str) -> np.ndarray:
    return (
        block if in_axes == out_axes else np.transpose(block, [in_axes.index(a) for a in out_axes])
    )


def denoise_unit_iter(
    denoiser,
    image,
    grid: UnitGrid,
    index: tuple[int, ...],
    *,
    options: PredictOptions | None = None,
    dtype: str = "float32",
) -> Iterator[TileProgress]:
    """Denoise one unit of an image.

    Parameters
    ----------
    denoiser : Denoiser
        The model.
    image : array-like
        The input, with axes ``grid.in_axes``.
    grid : UnitGrid
        The units of work.
    index : tuple of int
        The unit.
    options : PredictOptions, optional
        :meth:`Denoiser.predict_iter`'s tiling and device.
    dtype : {"float32", "input"}
        The output's dtype, as for :meth:`Denoiser.predict`.

    Yields
    ------
    TileProgress
        The tiler's progress.

    Returns
    -------
    numpy.ndarray
        The denoised unit (output axes), as ``StopIteration.value``.
    """
    read, crop = grid.read_slices(index)
    block = np.asarray(image[read])
    result = yield from denoiser.predict_iter(
        block, axes=grid.in_axes, options=options, dtype=dtype
    )
    return _transpose(np.ascontiguousarray(result[crop]), grid.in_axes, grid.out_axes)


def predict_unit(
    denoiser,
    image,
    out,
    grid: UnitGrid,
    index: tuple[int, ...],
    *,
    options: PredictOptions | None = None,
    dtype: str = "float32",
) -> None:
    """Denoise one unit of an image and write it into the output.

    Parameters
    ----------
    denoiser, image, grid, index, options, dtype
        As for :func:`denoise_unit_iter`.
    out : array-like
        The output array (e.g. a zarr array), with axes ``grid.out_axes``.
    """
    out[grid.out_slices(index)] = drain(
        denoise_unit_iter(denoiser, image, grid, index, options=options, dtype=dtype)
    )


def write_failed(exc: OSError, where: str, done: int, total: int, path=None) -> OutputStateError:
    """The error of a write that failed mid-run (a full disk).

    Parameters
    ----------
    exc : OSError
        What stopped it.
    where : str
        What was being written, for the message.
    done, total : int
        Units written and recorded, and in all.
    path : str or PathLike, optional
        The file or store whose write failed, where known.

    Returns
    -------
    OutputStateError
        ``kind="write_failed"``: what stopped it, what is kept, what to do.
    """
    what = "Free some space" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else "Fix the cause"
    return OutputStateError(
        path,
        "write_failed",
        f"Writing {where} failed: {reason(exc)}. {done} of {total} units are written and recorded;",
        what + " and {resume} to finish the others.",
    )


class Tally:
    """The units of a run: which are left, how many are done.

    Records each finished unit in the ledger (after its write) and makes the progress events.

    Parameters
    ----------
    grid : UnitGrid
        The units of work.
    ledger : Ledger or None
        The units already written (skipped), and where to record the others.
    """

    def __init__(self, grid: UnitGrid, ledger: Ledger | None):
        self.grid = grid
        self.ledger = ledger
        self.total = len(grid)
        self.todo = [i for i in grid.indices() if ledger is None or i not in ledger.done]
        self.skipped = self.total - len(self.todo)
        self.finished = self.skipped
        self.voxels = 0
        self.t0 = time.perf_counter()

    def event(self, part: float = 0.0) -> ChunkProgress:
        """Progress now.

        Parameters
        ----------
        part : float, optional
            The share of the unit in progress done.

        Returns
        -------
        ChunkProgress
            Of the ``"denoise"`` stage.
        """
        return ChunkProgress(
            "denoise",
            self.finished,
            self.total,
            self.skipped,
            (self.finished + part) / self.total,
            self.voxels / max(time.perf_counter() - self.t0, 1e-9),
        )

    def failed(self, exc: OSError, where: str, path=None) -> OutputStateError:
        """The error of a failed write, with this run's counts (see :func:`write_failed`)."""
        return write_failed(exc, where, self.finished, self.total, path)

    def record(self, index: tuple[int, ...]) -> ChunkProgress:
        """A unit is written: record it in the ledger.

        Parameters
        ----------
        index : tuple of int
            The unit.

        Returns
        -------
        ChunkProgress
            The progress with it.

        Raises
        ------
        OutputStateError
            If the ledger cannot be written (``kind="write_failed"``).
        """
        if self.ledger is not None:
            try:
                self.ledger.record(index)
            except OSError as exc:
                raise self.failed(exc, f"the ledger {self.ledger.path}", self.ledger.path) from exc
        self.finished += 1
        self.voxels += self.grid.voxels(index)
        return self.event()


def predict_units_iter(  # noqa: PLR0913  the unit's keywords, as the tests and the cluster pass them
    denoiser,
    image,
    out,
    grid: UnitGrid,
    *,
    options: PredictOptions | None = None,
    ledger: Ledger | None = None,
    dtype: str = "float32",
    should_stop: Callable[[], bool] | None = None,
    max_units: int | None = None,
    **keywords,
) -> Iterator[ChunkProgress]:
    """Denoise every unit not yet written into the output, recording each after its write.

    Closing the generator stops before the next unit or batch of tiles; the unit in progress is
    then not recorded.

    Parameters
    ----------
    denoiser : Denoiser
        The model.
    image : array-like
        The input, with axes ``grid.in_axes``.
    out : array-like
        The output array, with axes ``grid.out_axes``.
    grid : UnitGrid
        The units of work.
    options : PredictOptions, optional
        :meth:`Denoiser.predict_iter`'s tiling and device.
    ledger : Ledger, optional
        The units already written (skipped), and where to record the others.
    dtype : {"float32", "input"}
        The output's dtype, as for :meth:`Denoiser.predict`.
    should_stop : callable, optional
        Returning True stops the run as closing the generator does.
    max_units : int, optional
        Stop after that many units (a test's simulated crash).
    **keywords
        ``tile``, ``overlap``, ``batch_size``, ``device``; each wins over its field of ``options``.

    Yields
    ------
    ChunkProgress
        After every batch of tiles.

    Returns
    -------
    int
        The number of units denoised by this call, as ``StopIteration.value``.

    Raises
    ------
    OutputStateError
        If a write fails (a full disk): the units written before are recorded, the ledger stays
        true (``kind="write_failed"``).
    """
    options = PredictOptions.of(options, **keywords)
    validate_axes(grid.in_axes, len(grid.shape))
    tally = Tally(grid, ledger)
    yield tally.event()
    for n, index in enumerate(tally.todo):
        if (max_units is not None and n >= max_units) or (
            should_stop is not None and should_stop()
        ):
            return n
        tiles = relay(
            denoise_unit_iter(denoiser, image, grid, index, options=options, dtype=dtype),
            lambda ev: tally.event(ev.done / ev.total),
        )
        result = yield from _until(tiles, should_stop)
        if result is _STOPPED:
            return n
        try:
            out[grid.out_slices(index)] = result
        except OSError as exc:
            raise tally.failed(exc, f"unit {index} of the output") from exc
        yield tally.record(index)
    return len(tally.todo)


#: what :func:`_until` returns when it was stopped
_STOPPED = object()


def _until(gen, should_stop: Callable[[], bool] | None):
    """Yield ``gen``'s events and return its value.

    Once ``should_stop()`` says so after an event, close ``gen`` and return :data:`_STOPPED`.
    """
    if should_stop is None:
        return (yield from gen)
    while True:
        try:
            event = next(gen)
        except StopIteration as stop:
            return stop.value
        yield event
        if should_stop():
            gen.close()
            return _STOPPED
