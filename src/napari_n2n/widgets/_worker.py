"""Run core generators in a napari thread worker so that every error reaches the user.

superqt's generator worker swallows a ``RuntimeError`` raised inside the generator (neither
``errored`` nor ``finished`` fires), and torch's out-of-memory and device errors are
``RuntimeError`` s. :func:`guarded` re-raises every non-:class:`N2NError` exception as a
:class:`TrainingError`, and :func:`start_worker` routes errors to :func:`notify_error`: user
errors become a plain napari error notification (no traceback dialog), genuine bugs keep
napari's usual notification with a traceback.
"""

from __future__ import annotations

import gc
import threading
from typing import Callable, Generator

from ..core.errors import N2NError, TrainingError


def guarded(gen_fn: Callable[..., Generator], *args, what: str = "Training", **kwargs):
    """Generator: run ``gen_fn(*args, **kwargs)``, turning unexpected exceptions into :class:`TrainingError`.

    Returns what ``gen_fn`` returns. ``GeneratorExit`` (the worker closing the generator) and
    ``KeyboardInterrupt`` pass through untouched.
    """
    try:
        return (yield from gen_fn(*args, **kwargs))
    except N2NError:
        raise
    except Exception as exc:  # noqa: BLE001 - every error must cross the thread boundary
        raise TrainingError.from_exception(exc, what) from exc


def notify_error(exc: BaseException) -> None:
    """Show ``exc`` to the user: a one-line notification for user errors, a traceback for bugs."""
    from napari.utils.notifications import notification_manager, show_error

    if isinstance(exc, N2NError):
        show_error(str(exc))
    else:
        notification_manager.receive_error(type(exc), exc, exc.__traceback__)


def start_worker(
    gen_fn: Callable[..., Generator],
    *args,
    what: str = "Training",
    on_yielded: Callable | None = None,
    on_returned: Callable | None = None,
    on_errored: Callable | None = None,
    on_aborted: Callable | None = None,
    on_finished: Callable | None = None,
    **kwargs,
):
    """Start ``gen_fn`` in a napari :class:`~napari.qt.threading.GeneratorWorker` and return it.

    The slots run on the main thread (Qt queued connections), so they may touch layers.
    ``on_finished`` fires on every path: returned, errored or aborted (``worker.quit()``).
    Errors go to ``on_errored`` if given, else to :func:`notify_error`; napari's own error relay
    (which shows a traceback) is disconnected.
    """
    from napari.qt.threading import create_worker

    connect = {"errored": on_errored or notify_error}
    for signal, slot in (("yielded", on_yielded), ("returned", on_returned), ("aborted", on_aborted),
                         ("finished", on_finished)):
        if slot is not None:
            connect[signal] = slot
    # giving an "errored" slot also keeps superqt from re-raising the error on the main thread
    worker = create_worker(guarded, gen_fn, *args, what=what, _start_thread=False, _connect=connect, **kwargs)
    relay = getattr(worker, "_relay_error", None)  # napari's relay shows a traceback: not for user errors
    if relay is not None:
        try:
            worker.errored.disconnect(relay)
        except (TypeError, RuntimeError):  # pragma: no cover - not connected in this napari version
            pass
    worker.start()
    return worker


_gc_lock = threading.Lock()
_gc_holders = 0
_gc_frozen_by_us = False


def hold_gc() -> Callable[[], None]:
    """Keep Python's full garbage collections short while long work runs; return the release function.

    A full (generation 2) collection walks every object of the napari + torch process and holds
    the GIL meanwhile: measured 0.3–0.5 s on a busy 2-core machine, the longest pauses of the
    viewer during training. :func:`gc.freeze` moves the objects that exist now out of the
    collector's reach until :func:`gc.unfreeze`, so collections during the run only walk what
    the run creates. Nested holders are counted; nothing is done if something else froze objects.
    """
    global _gc_holders, _gc_frozen_by_us
    with _gc_lock:
        _gc_holders += 1
        if _gc_holders == 1 and gc.get_freeze_count() == 0:
            gc.freeze()
            _gc_frozen_by_us = True
    released = False

    def release() -> None:
        global _gc_holders, _gc_frozen_by_us
        nonlocal released
        with _gc_lock:
            if released:
                return
            released = True
            _gc_holders -= 1
            if _gc_holders == 0 and _gc_frozen_by_us:
                gc.unfreeze()
                _gc_frozen_by_us = False

    return release
