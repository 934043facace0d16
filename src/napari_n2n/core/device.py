"""The one place that decides which torch device runs the work, and how many CPU threads it uses."""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING

from .errors import DeviceError

if TYPE_CHECKING:
    import torch


def available_devices() -> list[str]:
    """Names of the devices usable here, best first.

    Returns
    -------
    list of str
        E.g. ``["cuda", "cpu"]``; ``"cpu"`` is always last.
    """
    import torch

    names = []
    if torch.cuda.is_available():
        names.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        names.append("mps")
    names.append("cpu")
    return names


def select_device(name: str = "auto") -> torch.device:
    """The torch device for ``name``.

    Parameters
    ----------
    name : str
        ``"auto"`` (CUDA, else Apple MPS, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or
        ``"mps"``.

    Returns
    -------
    torch.device

    Raises
    ------
    DeviceError
        If the requested device is not available on this machine.
    """
    import torch

    name = (name or "auto").strip().lower()
    if name == "auto":
        return torch.device(available_devices()[0])
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError(
                "CUDA was requested but no CUDA GPU is usable by this PyTorch build "
                f"(torch {torch.__version__}). Choose device 'auto' or 'cpu', or install a CUDA build of PyTorch."
            )
        dev = torch.device(name)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(
                f"{name} was requested but only {torch.cuda.device_count()} CUDA device(s) exist. "
                "Choose 'cuda' or 'cuda:0'."
            )
        return dev
    if name == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise DeviceError(
                "Apple MPS was requested but is not available here (it needs an Apple-silicon Mac "
                "and a PyTorch build with MPS). Choose device 'auto' or 'cpu'."
            )
        return torch.device("mps")
    raise DeviceError(f"Unknown device {name!r}. Choose one of: auto, cpu, cuda, cuda:N, mps.")


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one).

    Returns
    -------
    int
        At least 1.
    """
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


def cpu_threads(requested: int | None = None) -> int:
    """Threads for work on the CPU: ``requested``, else every available core but one.

    One core is left to the viewer and the rest of the machine. With torch's default (a thread
    per core), one other busy process is enough to make every step wait for a descheduled
    thread: on a 2-core machine training ran 20-25× slower (3-5 instead of 60-128 patches/s)
    while another process used one core (issue #13); ``benchmarks/threads.py`` measures it.

    Parameters
    ----------
    requested : int, optional
        The threads asked for.

    Returns
    -------
    int
        At least 1.
    """
    if requested is not None:
        return max(1, int(requested))
    return max(1, available_cores() - 1)


@contextlib.contextmanager
def cpu_thread_limit(device: torch.device, threads: int | None = None):
    """Within the block, torch's CPU work uses :func:`cpu_threads` threads (restored after).

    torch's thread count is process-wide: the block sets it for the duration of one run. On
    other devices nothing changes.

    Parameters
    ----------
    device : torch.device
        The device of the work.
    threads : int, optional
        As for :func:`cpu_threads`.
    """
    import torch

    if device.type != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(cpu_threads(threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def describe_device(device: torch.device, threads: int | None = None) -> str:
    """A short human-readable name, e.g. ``"cuda (NVIDIA H100)"`` or ``"cpu (1 thread of 2 cores)"``.

    Parameters
    ----------
    device : torch.device
        The device.
    threads : int, optional
        The threads requested for CPU work (see :func:`cpu_threads`).

    Returns
    -------
    str
    """
    import torch

    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        n = cpu_threads(threads)
        cores = available_cores()
        return f"cpu ({n} thread{'s' if n != 1 else ''} of {cores} core{'s' if cores != 1 else ''})"
    return str(device)


def amp_dtype(device: torch.device):
    """The mixed-precision dtype for ``device``: bfloat16 where supported, else float16 (CUDA).

    Parameters
    ----------
    device : torch.device
        The device.

    Returns
    -------
    torch.dtype
    """
    import torch

    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.float16
    return torch.bfloat16
