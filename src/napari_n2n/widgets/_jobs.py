"""Long work off the main thread: :class:`LongJob` runs a core generator in a Qt thread worker.

Every error reaches the user. superqt's generator worker swallows a ``RuntimeError`` raised
inside the generator (neither ``errored`` nor ``finished`` fires), and torch's out-of-memory
and device errors are ``RuntimeError`` s: :func:`guarded` re-raises every non-:class:`N2NError`
exception as a :class:`TrainingError` (or :class:`DenoisingError`), and :func:`notify_error`
shows user errors as a plain napari notification (no traceback dialog) and bugs with one.

Set the environment variable ``NAPARI_N2N_NO_THREADS=1`` to run jobs on the main thread
instead, one event at a time: slower and the viewer freezes meanwhile, but a debugger and
tracebacks see everything (as stardist-napari's ``STARDIST_NAPARI_NOTHREADS``).

Process-wide side effects of a running job, listed here so they are found in one place:
:func:`hold_gc` freezes the objects that exist when the job starts out of the garbage
collector's reach (:func:`gc.freeze`) until the last job ends; the running jobs are held in
:data:`_LIVE`, and the first threaded job registers :func:`stop_all` with :mod:`atexit`.

Closing the viewer, or leaving Python, while a worker runs: the widget's teardown
:meth:`LongJob.abandon` s its jobs (asks them to stop and detaches the widget's slots, so no
slot touches a deleted widget), and at exit :func:`stop_all` waits for the worker threads to
end before Python deletes their Qt signal objects (a worker that emits on a deleted
``GeneratorWorkerSignals`` aborts the process: exit 134).
"""

from __future__ import annotations

import atexit
import functools
import gc
import os
import threading
import time
from collections.abc import Callable, Generator

from ..core.errors import DenoisingError, N2NError, TrainingError
from . import _notify

#: run jobs on the main thread (for debugging)
NO_THREADS_ENV = "NAPARI_N2N_NO_THREADS"
#: seconds Python's exit waits for running workers to stop (a training step, a tile)
EXIT_WAIT_S = 60.0

#: the jobs whose worker thread runs (strong references: their Qt signals must outlive the thread)
_LIVE: set[LongJob] = set()
_exit_hook = threading.Event()


def guarded(gen_fn: Callable[..., Generator], *args, what: str = "Training", **kwargs):
    """Generator: run ``gen_fn(*args, **kwargs)``, turning unexpected exceptions into the project's errors.

    Returns what ``gen_fn`` returns. ``GeneratorExit`` (the worker closing the generator) and
    ``KeyboardInterrupt`` pass through untouched.
    """
    try:
        return (yield from gen_fn(*args, **kwargs))
    except N2NError:
        raise
    except Exception as exc:
        kind = DenoisingError if what == "Denoising" else TrainingError
        raise kind.from_exception(exc, what) from exc


def notify_error(exc: BaseException) -> None:
    """Show ``exc`` to the user: a one-line notification for user errors, a traceback for bugs."""
    if isinstance(exc, N2NError):
        _notify.error(str(exc))
        return
    from napari.utils.notifications import notification_manager

    notification_manager.receive_error(type(exc), exc, exc.__traceback__)


class LongJob:
    """One run of a core generator in a thread worker, with main-thread slots for its signals.

    ``on_yielded(value)``, ``on_returned(value)``, ``on_errored(exc)`` (default
    :func:`notify_error`), ``on_aborted()`` after :meth:`quit`, and ``on_finished()`` on every
    path. The slots run on the main thread, so they may touch layers. Unless ``hold_gc`` is
    false, Python's full garbage collections are held short while the job runs (:func:`hold_gc`).
    Keep a reference to the job while it runs (its slots are bound methods).
    """

    def __init__(
        self,
        gen_fn: Callable[..., Generator],
        *args,
        what: str = "Training",
        on_yielded: Callable | None = None,
        on_returned: Callable | None = None,
        on_errored: Callable | None = None,
        on_aborted: Callable | None = None,
        on_finished: Callable | None = None,
        hold_gc: bool = True,
        **kwargs,
    ):
        self.what = what
        self.hold_gc = hold_gc
        self._call = (gen_fn, args, kwargs)
        self._slots = {
            "yielded": on_yielded,
            "returned": on_returned,
            "errored": on_errored or notify_error,
            "aborted": on_aborted,
            "finished": on_finished,
        }
        self.worker = None
        self.running = False
        self._gen = None  # the running generator (made in the worker's thread)
        self._release_gc: Callable[[], None] = lambda: None

    def start(self) -> LongJob:
        """Start the job (in a thread, or on the main thread with ``NAPARI_N2N_NO_THREADS=1``)."""
        self.running = True
        if self.hold_gc:
            self._release_gc = hold_gc()
        if os.environ.get(NO_THREADS_ENV):
            self._run_here()
            return self
        # superqt's own worker: its errors go to our slot only (napari's relays them with a traceback)
        worker = self.worker = _worker_class()(self._generator)
        for name in ("yielded", "returned", "errored", "aborted"):
            # through the job: a detached job's owner is never called again
            getattr(worker, name).connect(functools.partial(self._relay, name))
        worker.finished.connect(self._finished)
        _LIVE.add(self)
        if not _exit_hook.is_set():
            _exit_hook.set()
            atexit.register(stop_all)
        worker.start()
        return self

    def _relay(self, name: str, *args) -> None:
        slot = self._slots.get(name)
        if slot is not None:
            slot(*args)

    def _generator(self):
        gen_fn, args, kwargs = self._call
        self._gen = guarded(gen_fn, *args, what=self.what, **kwargs)
        return (yield from self._gen)

    def quit(self) -> None:
        """Abandon the job at its next yield (``on_aborted`` then ``on_finished`` follow)."""
        if self.worker is not None:
            try:
                self.worker.quit()
            except RuntimeError:  # pragma: no cover - the worker's signals are gone already
                pass

    def detach(self) -> None:
        """Call none of the owner's slots again (the job itself still ends and cleans up)."""
        self._slots = dict.fromkeys(self._slots)

    def abandon(self) -> None:
        """Stop and let go: quit, detach the owner's slots, give back what the job holds.

        For an owner whose Qt widgets are going (the viewer closes): the worker ends at its next
        yield and nothing of the owner runs after.
        """
        self.quit()
        self.detach()
        self.release()

    def thread_done(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the worker thread to end (without Qt events); whether it ended."""
        worker = self.worker
        return worker is None or worker.done.wait(timeout_s)

    def release(self) -> None:
        """Give back what the job holds (idempotent); called when it finishes or its widget goes."""
        self._release_gc()

    def _finished(self) -> None:
        _LIVE.discard(self)
        self.running = False
        self.close()
        finished = self._slots["finished"]
        # the slots are bound to the run's objects (its session, its trainer and data): let them go
        self._slots = dict.fromkeys(self._slots)
        self.worker = None
        try:
            if finished is not None:
                finished()
        finally:
            # after the owner's slot: napari's full gc.collect() when a layer is removed (the
            # preview) then walks only what the run made, not the whole frozen process (0.26 s)
            self.release()

    def close(self) -> None:
        """Close the generator and drop the work (and the data it holds).

        An aborted superqt worker leaves its generator suspended at a yield, so the generator's
        ``finally`` blocks (the trainer's data thread, for one) would wait for the garbage
        collector; closing it runs them now. The worker has returned: nothing else runs it.
        """
        gen, self._gen = self._gen, None
        if gen is not None:
            try:
                gen.close()
            except (
                Exception
            ):  # pragma: no cover - a generator that fails while closing: nothing more to do
                pass
        self._call = None

    def _run_here(self) -> None:
        gen_fn, args, kwargs = self._call
        gen = self._gen = guarded(gen_fn, *args, what=self.what, **kwargs)
        try:
            while True:
                try:
                    value = next(gen)
                except StopIteration as stop:
                    if self._slots["returned"]:
                        self._slots["returned"](stop.value)
                    break
                if self._slots["yielded"]:
                    self._slots["yielded"](value)
        except Exception as exc:
            self._slots["errored"](exc)
        finally:
            self._finished()


@functools.cache
def _worker_class():
    """superqt's generator worker that also says, from its thread, when it has run to the end."""
    from superqt.utils import GeneratorWorker

    class Worker(GeneratorWorker):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.done = threading.Event()

        def run(self) -> None:
            try:
                super().run()
            finally:
                self.done.set()

    return Worker


def stop_all(timeout_s: float = EXIT_WAIT_S) -> bool:
    """Abandon every running job and wait (without Qt events) for their threads to end.

    Registered with :mod:`atexit`: Python must not delete a worker's Qt signals while its thread
    may still emit them. Returns whether all threads ended within ``timeout_s``.
    """
    jobs = list(_LIVE)
    for job in jobs:
        job.abandon()
    end = time.perf_counter() + timeout_s
    ended = True
    for job in jobs:
        if job.thread_done(max(0.0, end - time.perf_counter())):
            job.close()  # run the generator's finally blocks (the trainer's data thread)
        else:
            ended = False
    return ended


def wait_while(busy: Callable[[], bool], timeout_s: float) -> bool:
    """Process Qt events while ``busy()`` (at most ``timeout_s`` seconds); return whether it stopped being busy."""
    import time

    from qtpy.QtWidgets import QApplication

    end = time.perf_counter() + timeout_s
    while busy() and time.perf_counter() < end:
        QApplication.processEvents()
        time.sleep(0.005)
    return not busy()


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
