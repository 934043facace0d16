"""The one place that decides which torch device runs the work."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import DeviceError

if TYPE_CHECKING:
    import torch


def available_devices() -> list[str]:
    """Names of the devices usable here, best first (e.g. ``["cuda", "cpu"]``)."""
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
    """Return the torch device for ``name``.

    Parameters
    ----------
    name : str
        ``"auto"`` (CUDA, else Apple MPS, else CPU), ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or
        ``"mps"``.

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


def describe_device(device: torch.device) -> str:
    """A short human-readable name, e.g. ``"cuda (NVIDIA H100)"`` or ``"cpu (2 threads)"``."""
    import torch

    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        n = torch.get_num_threads()
        return f"cpu ({n} thread{'s' if n != 1 else ''})"
    return str(device)


def amp_dtype(device: torch.device):
    """The mixed-precision dtype for ``device``: bfloat16 where supported, else float16 (CUDA)."""
    import torch

    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.float16
    return torch.bfloat16
