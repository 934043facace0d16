"""Prediction on a dask cluster: the units of :mod:`napari_n2n.core.inference.chunked` as tasks on its workers.

Each task denoises one unit (its chunks plus a halo) and writes it into the output zarr array
on a file system every worker sees; the client records each finished unit in the ledger, so a
run on a cluster resumes like one in a single process, and their results are the same. A
worker loads the model *file* once (cached per process, keyed on the file's path, size and
modification time), opens the input and the output once, and runs torch on its share of the
cores: for a local cluster the machine's cores divided among the workers; on a cluster started
elsewhere, the worker's cores divided among its task threads (or ``threads``).

``distributed`` comes with the ``io`` extra. A cluster on SLURM, LSF, PBS, ... is started with
dask-jobqueue (``SLURMCluster(...).scale(jobs=8)``) and given by its scheduler's address or as
a client: see docs/large-data.md. (Not to be confused with :mod:`napari_n2n.core.training.distributed`:
training in several processes under ``torchrun``.)
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..core.device import available_cores
from ..core.errors import InputError
from ..core.events import ChunkProgress
from ..core.inference.chunked import Tally, UnitGrid, predict_unit
from ..core.inference.ledger import Ledger
from ..core.inference.predict import PredictOptions
from ..io._support import require


@contextlib.contextmanager
def cluster_client(*, client=None, workers: int | None = None, scheduler: str | None = None):
    """The dask client for a block of work, and the torch threads each worker uses.

    Give at most one of the three; none runs the work in this process.

    Parameters
    ----------
    client : distributed.Client, optional
        A client to use as it is (not closed).
    workers : int, optional
        Start a local cluster of that many processes, closed after the block.
    scheduler : str, optional
        The address of a running scheduler to connect to (the client is closed after the block).

    Yields
    ------
    tuple
        ``(client, threads)``: ``(None, None)`` to run in this process; ``threads`` is set for
        a local cluster only (the cores shared among its workers).

    Raises
    ------
    InputError
        If both ``workers`` and ``scheduler`` are given, or the scheduler cannot be reached.
    """
    if client is not None or (not workers and not scheduler):
        yield client, None
        return
    if workers and scheduler:
        raise InputError(
            "--workers starts a cluster on this machine and --scheduler uses a running one: give one of them."
        )
    distributed = require("distributed", "Prediction on a dask cluster")
    if scheduler:
        try:
            client = distributed.Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise InputError(
                f"Cannot reach the dask scheduler at {scheduler} ({type(exc).__name__}). Check the "
                "address, and that the scheduler runs and this machine may connect to it."
            ) from exc
        with client:
            yield client, None
        return
    cluster = distributed.LocalCluster(
        n_workers=int(workers),
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=logging.ERROR,
    )
    with cluster, distributed.Client(cluster) as client:
        yield client, max(1, available_cores() // int(workers))


# ---- on the workers ------------------------------------------------------------------------------
def _stamp(path: str) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns


@lru_cache(maxsize=2)
def load_model(path: str, stamp: tuple[int, int], threads: int | None):
    """The model of a file, loaded once per worker process and file version.

    Parameters
    ----------
    path : str
        The model's ``.n2n`` file.
    stamp : tuple of int
        The file's size and modification time (a new version is loaded again).
    threads : int or None
        torch threads the model uses on the CPU.

    Returns
    -------
    Denoiser
        The model.
    """
    from ..core.inference.denoiser import Denoiser

    den = Denoiser.load(path)
    if threads and den.config is not None:
        den.config = dataclasses.replace(den.config, threads=int(threads))
    return den


@lru_cache(maxsize=4)
def _open_input(path: str, stamp: tuple[int, int]):
    from ..io import read_image

    return read_image(path, "input").data


@lru_cache(maxsize=4)
def _open_output(path: str):
    import zarr

    return zarr.open_array(path, mode="r+")


def _worker_threads() -> int:
    try:
        from distributed import get_worker

        per_task = max(1, int(get_worker().state.nthreads))
    except (ImportError, ValueError, AttributeError):
        per_task = 1
    return max(1, available_cores() // per_task)


class InMemory:
    """An input that is not a file (a dask, zarr or numpy array), sent to the workers as it is.

    A dask or zarr array goes as its recipe (each worker reads or computes only its blocks), a
    numpy array whole.

    Parameters
    ----------
    data : array-like
        The input.
    """

    def __init__(self, data):
        self.data = data


@dataclass(frozen=True)
class UnitSpec:
    """What a worker needs to denoise a unit: the model file, the output array, the units, and how.

    Paths are made absolute: every worker must reach them.

    Parameters
    ----------
    model : path
        The model's ``.n2n`` file.
    output : path
        The output zarr array (level 0 of the OME-Zarr being built).
    grid : UnitGrid
        The units of work.
    options : PredictOptions
        Tiling and device of :meth:`Denoiser.predict_iter`.
    dtype : {"float32", "input"}
        The output's values.
    threads : int, optional
        torch threads per worker (default: its cores shared among its task threads).
    """

    model: str
    output: str
    grid: UnitGrid
    options: PredictOptions = PredictOptions()
    dtype: str = "float32"
    threads: int | None = None

    def __post_init__(self):
        object.__setattr__(self, "model", str(Path(self.model).resolve()))
        object.__setattr__(self, "output", str(Path(self.output).resolve()))


def unit_task(spec: UnitSpec, index, source) -> tuple[int, ...]:
    """Denoise and write one unit (runs on a worker).

    Parameters
    ----------
    spec : UnitSpec
        The model, output, units and options.
    index : sequence of int
        The unit.
    source : str or InMemory
        The input's path, or the input itself.

    Returns
    -------
    tuple of int
        The unit's index.
    """
    index = tuple(int(i) for i in index)
    den = load_model(spec.model, _stamp(spec.model), spec.threads or _worker_threads())
    if isinstance(source, InMemory):
        data = source.data
    else:
        data = _open_input(source, _stamp(source) if os.path.isfile(source) else (0, 0))
    out = _open_output(spec.output)
    import dask

    # a dask input's blocks are computed here, not sent to the cluster
    with dask.config.set(scheduler="synchronous"):
        predict_unit(den, data, out, spec.grid, index, options=spec.options, dtype=spec.dtype)
    return index


# ---- on the client -------------------------------------------------------------------------------
def predict_units_on_cluster(
    client,
    spec: UnitSpec,
    source,
    *,
    ledger: Ledger,
    should_stop: Callable[[], bool] | None = None,
    max_units: int | None = None,
) -> Iterator[ChunkProgress]:
    """Like :func:`~napari_n2n.core.inference.chunked.predict_units_iter`, on a dask cluster.

    Parameters
    ----------
    client : distributed.Client
        The cluster's client; each unit is a task.
    spec : UnitSpec
        The model and output the workers read and write (paths every worker can reach), the
        units and the options.
    source : str, PathLike or array-like
        The input's path (which the workers reach too) or the input array (sent to them once,
        see :class:`InMemory`).
    ledger : Ledger
        The units already written (skipped), and where to record the others.
    should_stop : callable, optional
        Returning True stops before the next finished unit is recorded (the others are cancelled).
    max_units : int, optional
        Denoise at most that many units (a test's simulated crash).

    Yields
    ------
    ChunkProgress
        At the start, then after every unit.

    Returns
    -------
    int
        The number of units denoised, as ``StopIteration.value``.

    Raises
    ------
    OutputStateError
        If a write fails (``kind="write_failed"``).
    """
    from distributed import as_completed

    tally = Tally(spec.grid, ledger)
    todo = tally.todo[:max_units] if max_units is not None else tally.todo
    if isinstance(source, (str, os.PathLike)):
        source = str(Path(source).resolve())
    else:
        source = client.scatter(InMemory(source), broadcast=True)
    yield tally.event()
    if not todo:
        return 0
    futures = client.map(unit_task, [spec] * len(todo), todo, [source] * len(todo), pure=False)
    try:
        for future in as_completed(futures):
            if should_stop is not None and should_stop():
                break
            try:
                index = tuple(future.result())
            except OSError as exc:
                raise tally.failed(exc, "a unit of the output", spec.output) from exc
            yield tally.record(index)
    finally:
        client.cancel([f for f in futures if not f.done()])
    return tally.finished - tally.skipped
