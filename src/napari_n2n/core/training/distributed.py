"""Multi-process training with PyTorch's DistributedDataParallel, launched by ``torchrun``.

One process per GPU (NCCL), or several processes on the CPU (gloo). Every process trains the
same network on different patches of the same data: its batches are seeded by its rank
(:class:`~napari_n2n.core.training.batches.StepRandomness`), DDP averages the gradients, so one step of
``N`` processes with batches of ``b`` is one step with a batch of ``N·b``. Only the process of
rank 0 validates, previews, prints and writes files. There are no normalisation layers in the
U-Net, so nothing else needs synchronising.

The :class:`~napari_n2n.core.training.train.Trainer` trains this way whenever a process group is
initialised (:func:`process_group` does that from torchrun's environment; the ``napari-n2n
train`` command calls it); otherwise it trains alone, as it always did.

Examples
--------
``torchrun --standalone --nproc-per-node 4 -m napari_n2n.cli train --input a.tif --target b.tif --model m.n2n``
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from ..device import select_device
from ..errors import DeviceError


@dataclass(frozen=True)
class Ranks:
    """Where this process stands among the processes training together.

    Attributes
    ----------
    rank : int
        This process, from 0.
    world_size : int
        The processes in all.
    local_rank : int
        This process among those on its machine (its GPU).
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """The process that validates, prints and writes files."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        """Whether this process trains with others."""
        return self.world_size > 1


SINGLE = Ranks()


def current() -> Ranks:
    """The place of this process in the initialised process group.

    Returns
    -------
    Ranks
        Its ranks, or :data:`SINGLE` when there is no group (or one process).
    """
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return SINGLE
    rank = dist.get_rank()
    return Ranks(rank, dist.get_world_size(), int(os.environ.get("LOCAL_RANK", rank)))


def note(ranks: Ranks, batch_size: int) -> str | None:
    """What the user should know about this process's place in the run.

    Parameters
    ----------
    ranks : Ranks
        The processes.
    batch_size : int
        Each process's batch.

    Returns
    -------
    str or None
        The note; ``None`` alone.
    """
    if not ranks.active:
        return None
    return (
        f"process {ranks.rank + 1} of {ranks.world_size} (batch {batch_size} each, "
        f"{batch_size * ranks.world_size} in all)"
    )


def launched() -> bool:
    """Whether this process was started by ``torchrun`` with more than one process.

    Returns
    -------
    bool
        From the environment (``WORLD_SIZE``, ``RANK``).
    """
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def _gpu_count_check(local_processes: int) -> None:
    import torch

    n = torch.cuda.device_count()
    if local_processes > n:
        raise DeviceError(
            f"torchrun started {local_processes} processes on this machine but it has {n} usable GPU(s); each "
            f"process needs its own. Start at most {n} (torchrun --nproc-per-node {max(n, 1)}), or train on the "
            "CPU with --device cpu."
        )


@contextmanager
def process_group(device: str = "auto") -> Iterator[Ranks]:
    """Join the process group that ``torchrun`` describes (if any) for the duration of the block.

    Parameters
    ----------
    device : str, optional
        The run's device: NCCL when it resolves to CUDA, gloo otherwise.

    Yields
    ------
    Ranks
        This process's; :data:`SINGLE` outside torchrun (or with one process), where nothing
        happens.

    Raises
    ------
    DeviceError
        If torchrun started more processes on this machine than it has GPUs.
    """
    if not launched():
        yield SINGLE
        return
    import torch
    import torch.distributed as dist

    cuda = select_device(device).type == "cuda"
    if cuda:
        _gpu_count_check(int(os.environ.get("LOCAL_WORLD_SIZE", os.environ["WORLD_SIZE"])))
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group("nccl" if cuda else "gloo")
    try:
        yield current()
    finally:
        dist.destroy_process_group()


def device_for(name: str, ranks: Ranks):
    """The device of this process.

    Parameters
    ----------
    name : str
        The device asked for (``TrainConfig.device``).
    ranks : Ranks
        The processes.

    Returns
    -------
    torch.device
        ``select_device(name)``, on the GPU of its local rank under DDP.

    Raises
    ------
    DeviceError
        Under DDP, for a device other than CUDA or the CPU, or too few GPUs.
    """
    import torch

    device = select_device(name)
    if not ranks.active:
        return device
    if device.type == "cuda":
        if device.index is None:
            _gpu_count_check(ranks.local_rank + 1)
            return torch.device("cuda", ranks.local_rank)
        return device
    if device.type != "cpu":
        raise DeviceError(
            f"Multi-process training runs on CUDA GPUs or the CPU, not {device.type}. "
            "Choose --device cuda or --device cpu."
        )
    return device


def wrap(model, ranks: Ranks, device):
    """A model wrapped for training with other processes.

    Parameters
    ----------
    model : torch.nn.Module
        The network, on its device.
    ranks : Ranks
        The processes.
    device : torch.device
        Its device.

    Returns
    -------
    torch.nn.Module
        ``model`` in :class:`~torch.nn.parallel.DistributedDataParallel` under DDP, else itself.
    """
    if not ranks.active:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None
    )


class StopVote:
    """All processes agree on when to stop and on the time-budget progress.

    Every ``every`` steps each process tells whether it was asked to stop (a signal, a
    request) and how much of its time budget it has used; all then take the maximum, so they
    stop at the same step (a process that stopped alone would leave the others waiting) and
    use the same learning rate. Alone, the answer is the process's own, every step.
    """

    def __init__(self, ranks: Ranks, device, every: int):
        self.ranks = ranks
        self.every = every
        self._device = device if device.type == "cuda" else None
        self._fraction = 0.0

    def __call__(self, step: int, stop: bool, time_fraction: float) -> tuple[bool, float]:
        """The agreed stop and time fraction before ``step``.

        Parameters
        ----------
        step : int
            The step about to run.
        stop : bool
            Whether this process was asked to stop.
        time_fraction : float
            The share of its time budget this process has used.

        Returns
        -------
        tuple
            ``(stop, time_fraction)`` as all processes agree (the last vote's between votes).
        """
        if not self.ranks.active:
            return stop, time_fraction
        if (step - 1) % self.every:
            return False, self._fraction
        import torch
        import torch.distributed as dist

        votes = torch.tensor([float(stop), time_fraction], device=self._device)
        dist.all_reduce(votes, op=dist.ReduceOp.MAX)
        agreed_stop, self._fraction = votes.tolist()
        return agreed_stop > 0, self._fraction


def minimum(value: int, ranks: Ranks, device) -> int:
    """The smallest of the processes' values.

    Parameters
    ----------
    value : int
        This process's value.
    ranks : Ranks
        The processes.
    device : torch.device
        Where to reduce.

    Returns
    -------
    int
        The minimum (``value`` itself when alone).
    """
    if not ranks.active:
        return value
    import torch
    import torch.distributed as dist

    t = torch.tensor([int(value)], device=device if device.type == "cuda" else None)
    dist.all_reduce(t, op=dist.ReduceOp.MIN)
    return int(t.item())


def cpu_share(ranks: Ranks, requested: int | None) -> int | None:
    """CPU threads for this process.

    Parameters
    ----------
    ranks : Ranks
        The processes.
    requested : int or None
        The threads asked for (``TrainConfig.threads``).

    Returns
    -------
    int or None
        ``requested``; or, with other processes on this machine, their share of the cores (see
        :func:`napari_n2n.core.device.cpu_threads`); ``None`` leaves the choice to that function.
    """
    if requested is not None or not ranks.active:
        return requested
    from ..device import cpu_threads as all_threads

    local = int(os.environ.get("LOCAL_WORLD_SIZE", ranks.world_size))
    return max(1, all_threads() // local)


def mean(value, ranks: Ranks):
    """The mean of a tensor over the processes.

    Parameters
    ----------
    value : torch.Tensor
        This process's tensor.
    ranks : Ranks
        The processes.

    Returns
    -------
    torch.Tensor
        The mean (the tensor itself when alone).
    """
    if not ranks.active:
        return value
    import torch.distributed as dist

    value = value.clone()
    dist.all_reduce(value)
    return value / ranks.world_size
