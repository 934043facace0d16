"""Where training batches come from: a host thread, or the training device itself.

:class:`Prefetcher` draws batches from a :class:`~napari_n2n.core.training.sampling.PatchSampler` on a
background thread (in pinned memory on CUDA, so the copy to the GPU is asynchronous).
:class:`ResidentPatchSampler` copies the normalised training region to the device once and cuts
every batch there; :func:`choose_residency` decides which of the two a run uses.
Both batch sources have the same interface: ``next() -> (x, y)`` tensors on the device and
``close()``. The randomness of the batch of each step is drawn from its own generator, seeded
by ``(seed, process rank, step)`` (:class:`StepRandomness`): a run resumed at any step draws
the same batches as one that never stopped, however far the background thread had drawn
ahead, and the processes of a multi-process run draw different ones.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass

import numpy as np

from ..checks import require_finite
from .sampling import PatchSampler

#: arrays of at most this many bytes (normalised float32, input and target together) are
#: copied to the CPU "device" for tensor sampling; on CUDA the limit is a share of free memory
CPU_RESIDENT_MAX_BYTES = 512 * 2**20
#: share of the free GPU memory that the resident training data may take
GPU_RESIDENT_SHARE = 0.25


@dataclass(frozen=True)
class StepRandomness:
    """Independent random streams for each training step of each process, from one seed.

    Parameters
    ----------
    seed : int
        The run's seed for this purpose.
    rank : int, optional
        The process (see :mod:`~napari_n2n.core.training.distributed`).

    Examples
    --------
    >>> r = StepRandomness(7, rank=1)
    >>> bool(r.numpy(3).integers(100) == StepRandomness(7, rank=1).numpy(3).integers(100))
    True
    """

    seed: int
    rank: int = 0

    def _sequence(self, step: int) -> np.random.SeedSequence:
        return np.random.SeedSequence([int(self.seed), int(self.rank), int(step)])

    def numpy(self, step: int) -> np.random.Generator:
        """A numpy generator for a step.

        Parameters
        ----------
        step : int
            The training step.

        Returns
        -------
        numpy.random.Generator
            The same stream for the same seed, rank and step.
        """
        return np.random.default_rng(self._sequence(step))

    def torch_seed(self, step: int) -> int:
        """A 64-bit seed for a ``torch.Generator`` at a step.

        Parameters
        ----------
        step : int
            The training step.

        Returns
        -------
        int
            The seed.
        """
        return int(self._sequence(step).generate_state(1, np.uint64)[0])


def resident_bytes(sampler: PatchSampler) -> int:
    """Bytes that :class:`ResidentPatchSampler` would hold for a sampler's training region.

    Parameters
    ----------
    sampler : PatchSampler
        The sampler.

    Returns
    -------
    int
        Bytes of normalised float32 input and target.
    """
    voxels = len(sampler.train_samples) * int(np.prod([b - a for a, b in sampler.train_box]))
    n_arrays = 1 + (sampler.target is not None)
    return voxels * len(sampler.channels) * n_arrays * 4


def can_be_resident(sampler: PatchSampler, device) -> tuple[bool, str]:
    """Whether a sampler's training data should live on a device, and why (or why not).

    Only in-memory numpy arrays qualify (dask, zarr and other lazy arrays stay lazy: they may
    be larger than memory), and only when they fit: on CUDA a quarter of the free memory, on
    the CPU :data:`CPU_RESIDENT_MAX_BYTES`.

    Parameters
    ----------
    sampler : PatchSampler
        The sampler.
    device : torch.device
        The training device.

    Returns
    -------
    tuple
        ``(whether, why)``.
    """
    views = [v for v in (sampler.inp, sampler.target) if v is not None]
    if not all(type(v.array) is np.ndarray for v in views):
        return (
            False,
            "the data are not in-memory numpy arrays (lazy or memory-mapped): patches are read per batch",
        )
    need = resident_bytes(sampler)
    if device.type == "cuda":
        import torch

        free, _ = torch.cuda.mem_get_info(device)
        limit = GPU_RESIDENT_SHARE * free
    else:
        limit = CPU_RESIDENT_MAX_BYTES
    if need > limit:
        return False, (
            f"the training data ({need / 2**20:.0f} MiB as float32) exceed {limit / 2**20:.0f} MiB on "
            f"{device.type}: patches are read per batch from host memory"
        )
    return True, f"training data on {device.type} ({need / 2**20:.1f} MiB)"


class ResidentPatchSampler:
    """Training batches cut, augmented and swapped on the training device, with no host round trip.

    The normalised training region of the input (and target) is copied to ``device`` once;
    every batch is then one gather with random offsets, flips and transposes drawn by a
    generator on that device. On a GPU this removes the per-step host-to-device copy (a copy
    from pageable memory waits for the GPU to finish its queued work) and the numpy patch
    loop that would otherwise cap a small network's speed. Patches follow the same
    distribution as :meth:`PatchSampler.sample_batch`: uniform positions in the training
    region, a uniformly random flip/rotation (the dihedral group of the YX square, and a
    random Z flip in 3D), and a random swap of input and target when ``symmetric``.

    Parameters
    ----------
    sampler : PatchSampler
        Gives the geometry (training region, patch size, channels, augmentation, symmetry)
        and the normalisation.
    device : torch.device
    seed : int
    """

    def __init__(self, sampler: PatchSampler, device, *, seed: int = 0):
        import torch

        self.device = device
        self.patch = sampler.read_patch
        self.augment = sampler.augment
        self.symmetric = sampler.symmetric and sampler.target is not None
        box = tuple(slice(a, b) for a, b in sampler.train_box)
        self.region = tuple(b - a for a, b in sampler.train_box)

        def upload(view, masked=False):
            if view is None:
                return None
            blocks = [
                sampler.norm.apply(view.read(n, box)[sampler.channels], sampler.channels)
                for n in sampler.train_samples
            ]
            arr = np.stack(blocks).astype(np.float32, copy=False)  # (N, C, *region)
            if not masked:
                require_finite(arr, "the image")
            # (C, N * voxels): one flat row per channel, indexed by a linear voxel index
            return (
                torch.from_numpy(np.ascontiguousarray(arr.swapaxes(0, 1)))
                .reshape(arr.shape[1], -1)
                .to(device)
            )

        self.x = upload(sampler.inp)
        self.y = upload(sampler.target, sampler.masked_target)
        self.n_samples = len(sampler.train_samples)
        self.n_channels = len(sampler.channels)
        self.generator = device_generator(device, seed)
        self._gen_device = self.generator.device
        nd = len(self.patch)
        # strides of the linear index over (N, *region)
        strides = [int(np.prod(self.region[i + 1 :])) for i in range(nd)]
        self._sample_stride = int(np.prod(self.region))
        self._strides = strides
        self._square = self.patch[-1] == self.patch[-2]
        # local coordinates of a patch along each axis, shaped to broadcast over (B, *patch)
        self._local = [
            torch.arange(p, device=device).reshape(
                (1,) + tuple(p if j == i else 1 for j in range(nd))
            )
            for i, p in enumerate(self.patch)
        ]

    def _rand_int(self, high: int, n: int):
        import torch

        return torch.randint(0, high, (n,), generator=self.generator, device=self._gen_device).to(
            self.device
        )

    def _rand_bool(self, n: int):
        return self._rand_int(2, n).bool()

    def sample_batch(self, batch_size: int):
        """A random batch drawn on the device.

        Parameters
        ----------
        batch_size : int
            Patches in the batch.

        Returns
        -------
        tuple of torch.Tensor
            ``(x, y)``, each ``(B, C, *patch)`` (``y`` None for nb2nb).
        """
        import torch

        b = batch_size
        nd = len(self.patch)
        shape_b = (b,) + (1,) * nd
        # source coordinate per output voxel
        coords = [loc.expand((b,) + self.patch) for loc in self._local]
        if self.augment:
            # transpose Y and X: with the flips below, every rotation/reflection of the square
            if self._square:
                t = self._rand_bool(b).reshape(shape_b)
                coords[-2], coords[-1] = (
                    torch.where(t, coords[-1], coords[-2]),
                    torch.where(t, coords[-2], coords[-1]),
                )
            for i, p in enumerate(self.patch):
                f = self._rand_bool(b).reshape(shape_b)
                coords[i] = torch.where(f, p - 1 - coords[i], coords[i])
        index = (self._rand_int(self.n_samples, b) * self._sample_stride).reshape(shape_b)
        for i, (p, size) in enumerate(zip(self.patch, self.region)):
            offset = self._rand_int(size - p + 1, b).reshape(shape_b)
            index = index + (offset + coords[i]) * self._strides[i]
        flat = index.reshape(-1)

        def gather(data):
            out = data.index_select(1, flat).reshape((self.n_channels, b) + self.patch)
            return out.transpose(0, 1).contiguous()

        x = gather(self.x)
        y = None if self.y is None else gather(self.y)
        if self.symmetric:
            swap = self._rand_bool(b).reshape((b,) + (1,) * (nd + 1))
            x, y = torch.where(swap, y, x), torch.where(swap, x, y)
        return x, y


def device_generator(device, seed: int):
    """A seeded ``torch.Generator`` on a device (the CPU where the device has none).

    Parameters
    ----------
    device : torch.device
        The device.
    seed : int
        The seed.

    Returns
    -------
    torch.Generator
        The generator.
    """
    import torch

    try:
        return torch.Generator(device=device).manual_seed(int(seed))
    except (RuntimeError, TypeError):  # pragma: no cover - devices without their own generator
        return torch.Generator().manual_seed(int(seed))


def choose_residency(sampler: PatchSampler, device, wanted: bool | None) -> tuple[bool, str | None]:
    """Whether a run keeps its training data on its device (see ``TrainConfig.data_on_device``).

    On the CPU, numpy patches from a background thread cost no more than resident ones
    (measured), so memory is kept low; Apple MPS shares memory with the host and is not
    measured: streamed too. Several images
    (:class:`~napari_n2n.core.training.multi_image.MultiSampler`) are always streamed.

    Parameters
    ----------
    sampler : PatchSampler or MultiSampler
        The first model's sampler.
    device : torch.device
        The training device.
    wanted : bool or None
        ``TrainConfig.data_on_device``.

    Returns
    -------
    tuple
        ``(resident, note)``; the note (or ``None``) tells the user what was chosen and why.
    """
    if wanted is False:
        return False, None
    # several images (multi_image.MultiSampler): read per batch
    if not isinstance(sampler, PatchSampler):
        return (
            False,
            "data_on_device=True cannot apply to several images: patches are read per batch"
            if wanted
            else None,
        )
    ok, why = can_be_resident(sampler, device)
    if wanted is None and device.type != "cuda":
        return False, None
    if ok or wanted is True:
        return True, why if ok else why + " (data_on_device=True: copied anyway)"
    return False, why


class Prefetcher:
    """Draws batches on a background thread so the device does not wait for numpy.

    For a CUDA device the batches are put in pinned (page-locked) memory on that thread, so
    the copy to the GPU is asynchronous and does not wait for the GPU's queued work.
    """

    def __init__(
        self,
        sampler: PatchSampler,
        batch_size: int,
        device,
        *,
        randomness: StepRandomness,
        first_step: int = 1,
        depth: int = 2,
    ):
        self._q: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._sampler = sampler
        self._bs = batch_size
        self._randomness = randomness
        self._step = first_step
        self._device = device
        self._pin = device.type == "cuda"
        self._thread = threading.Thread(target=self._work, daemon=True, name="n2n-prefetch")
        self._thread.start()

    def _work(self):
        import torch

        while not self._stop.is_set():
            try:
                item = self._sampler.sample_batch(self._bs, rng=self._randomness.numpy(self._step))
                self._step += 1
                if self._pin:
                    item = tuple(
                        None if a is None else torch.from_numpy(a).pin_memory() for a in item
                    )
            except BaseException as exc:  # handed to the consumer
                item = exc
            while not self._stop.is_set():
                try:
                    self._q.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if isinstance(item, BaseException):
                return

    def next(self, should_stop=None):
        """The next batch ``(x, y)`` as tensors on the device (``y`` None for single-image mode).

        While it waits for the batch (the first one of a large volume can take seconds to
        read), ``should_stop`` returning True raises
        :class:`~napari_n2n.core.training.interrupt.StepInterrupted`.
        """
        import torch

        from .interrupt import StepInterrupted

        while True:
            try:
                item = self._q.get(timeout=0.05)
                break
            except queue.Empty:
                if should_stop is not None and should_stop():
                    raise StepInterrupted from None
        if isinstance(item, BaseException):
            raise item
        return tuple(
            None
            if a is None
            else (a if isinstance(a, torch.Tensor) else torch.from_numpy(a)).to(
                self._device, non_blocking=True
            )
            for a in item
        )

    def close(self):
        """Stop the background thread.

        It ends after the batch it may be drawing, which is not waited for long: a stop while a
        slow first batch is read takes effect at once.
        """
        self._stop.set()
        self._thread.join(timeout=0.1)


class ResidentBatches:
    """Batches from a :class:`ResidentPatchSampler`: drawn on the device, in the training thread."""

    def __init__(
        self,
        sampler: ResidentPatchSampler,
        batch_size: int,
        *,
        randomness: StepRandomness,
        first_step: int = 1,
    ):
        self._sampler = sampler
        self._bs = batch_size
        self._randomness = randomness
        self._step = first_step

    def next(self, should_stop=None):
        """The next batch, drawn on the device with this step's seed (``should_stop``: unused)."""
        self._sampler.generator.manual_seed(self._randomness.torch_seed(self._step))
        self._step += 1
        return self._sampler.sample_batch(self._bs)

    def close(self):
        """Nothing to stop (no thread): the same interface as the prefetching source."""
        pass


def batch_source(
    sampler: PatchSampler,
    batch_size: int,
    device,
    *,
    resident: bool,
    randomness: StepRandomness,
    first_step: int = 1,
):
    """A started batch source for a sampler.

    Parameters
    ----------
    sampler : PatchSampler
        The model's patches.
    batch_size : int
        Patches per batch.
    device : torch.device
        The training device.
    resident : bool
        Draw the batches on the device (see :func:`choose_residency`).
    randomness : StepRandomness
        The random stream of every step.
    first_step : int, optional
        The step of the first batch (1 for a new run).

    Returns
    -------
    ResidentBatches or Prefetcher
        Its ``next()`` gives the batch of the next step; ``close()`` stops it.
    """
    if resident:
        return ResidentBatches(
            ResidentPatchSampler(sampler, device, seed=randomness.seed),
            batch_size,
            randomness=randomness,
            first_step=first_step,
        )
    return Prefetcher(sampler, batch_size, device, randomness=randomness, first_step=first_step)
