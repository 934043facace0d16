"""The compute device as the Train widget shows it, with torch kept off the main thread.

Importing torch takes seconds; doing it on the main thread when the widget opens would freeze
the viewer. :func:`warm_up_torch` imports it on a background thread as soon as the widget opens,
and the device label is filled in by a job (:func:`describe_device_job`) when torch is there.
"""

from __future__ import annotations

import threading

from ...core.errors import N2NError

DEVICES = [
    ("auto (best available)", "auto"),
    ("CUDA GPU", "cuda"),
    ("Apple MPS", "mps"),
    ("CPU", "cpu"),
]
#: offered until the device check says what else exists here
START_DEVICES = [DEVICES[0], DEVICES[-1]]


def device_choices(available) -> list[tuple[str, str]]:
    """The choices of the device field: automatic, then the devices that exist here (the CPU always)."""
    return [(label, name) for label, name in DEVICES if name in ("auto", "cpu", *available)]


_WARMED_UP = threading.Event()
# torch is imported (or failed to): other threads may import it now
_WARM_UP_DONE = threading.Event()


def warm_up_torch() -> None:
    """Pay torch's one-off import and first-optimiser cost (~800 modules, seconds) off the main thread.

    Done once per session when the widget opens, while the user picks layers; otherwise it happens
    in the training worker at the first Train, where the import machinery competes with the
    viewer's main thread for the GIL (measured: pauses of up to half a second).
    """
    if _WARMED_UP.is_set():
        return
    _WARMED_UP.set()

    def work():
        try:
            import torch

            torch.optim.Adam([torch.zeros(1, requires_grad=True)])
        except Exception:
            pass
        finally:
            _WARM_UP_DONE.set()

    # not a daemon: Python's exit waits for the import to end rather than cut it off mid-way
    threading.Thread(target=work, name="n2n-warm-up", daemon=False).start()


def describe_device_label(name: str) -> tuple[str, str]:
    """``(label, tooltip)`` for device ``name`` (imports torch: run it off the main thread)."""
    # two threads importing torch at once can break its import (seen: ValueError)
    if _WARMED_UP.is_set():
        _WARM_UP_DONE.wait(timeout=120)
    from ...core.device import describe_device, select_device

    try:
        return describe_device(select_device(name)), ""
    except N2NError as exc:
        return f"{name} not available here: choose auto or CPU", str(exc)


def describe_device_job(name: str):
    """Generator for a :class:`~._jobs.LongJob`: ``(label, tooltip, devices available here)``."""
    label, tooltip = describe_device_label(name)
    from ...core.device import available_devices

    return label, tooltip, tuple(available_devices())
    yield  # pragma: no cover - makes this a generator function
