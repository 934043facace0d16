"""What every napari-n2n widget shares: the viewer, its layer events, teardown and long jobs.

:class:`ViewerWidget` is a magicgui :class:`~magicgui.widgets.Container` that

* keeps its choice lists in step with the viewer's layers (napari does this for docked
  widgets; the base does it for widgets that are not docked);
* calls :meth:`ViewerWidget.on_layer_inserted` when a layer is added, after updating the
  choice lists (napari's own update of a docked widget comes later, so the base updates them
  first on insertion: the one place the lists are rebuilt twice);
* knows when its Qt widgets are gone (:attr:`alive`) and tears down once
  (:meth:`ViewerWidget.teardown`: stop jobs, disconnect signals), whether the viewer closes
  or the dock is removed;
* runs long work through :meth:`ViewerWidget.start_job` (a :class:`~._jobs.LongJob`);
* offers the public actions a script or a test uses: :meth:`start`, :meth:`stop`,
  :meth:`wait` and :attr:`busy`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from magicgui.widgets import Container

from ..core.errors import N2NError
from ._jobs import LongJob, wait_while


def when_alive(method: Callable) -> Callable:
    """Run ``method`` only while the widget's Qt objects exist; a deleted widget ignores the call."""

    @functools.wraps(method)
    def guarded(self, *args, **kwargs):
        if self._closed:
            return None
        try:
            return method(self, *args, **kwargs)
        except RuntimeError as exc:  # "wrapped C/C++ object ... has been deleted": the viewer is closing
            if "deleted" not in str(exc):
                raise
            self._closed = True
            return None

    return guarded


class ViewerWidget(Container):
    """Base of the napari-n2n widgets (see the module's docstring)."""

    def __init__(self, viewer, **kwargs):
        super().__init__(labels=True, **kwargs)
        self._viewer = viewer
        self._closed = False
        self.job: LongJob | None = None
        viewer.layers.events.inserted.connect(self._on_inserted)
        for event in ("removed", "reordered"):
            getattr(viewer.layers.events, event).connect(self._on_layers_changed)
        self.native.destroyed.connect(self._destroyed_hook())

    # ---- state ---------------------------------------------------------------------------
    @property
    def viewer(self):
        return self._viewer

    @property
    def alive(self) -> bool:
        """Whether the widget can still be shown and used (its viewer is open)."""
        return not self._closed

    @property
    def busy(self) -> bool:
        """Whether the widget's long work (training, denoising) is running."""
        return self.job is not None and self.job.running

    # ---- public actions --------------------------------------------------------------------
    def start(self):
        """Start the widget's work as its main button does (errors become notifications)."""
        raise NotImplementedError

    def stop(self) -> None:
        """Ask the running work to stop (as the Stop / Cancel button does); nothing if idle."""

    def wait(self, timeout_s: float = 600.0) -> bool:
        """Process Qt events until the work ends or ``timeout_s`` passes; return whether it ended."""
        return wait_while(lambda: self.busy, timeout_s)

    # ---- helpers for subclasses ------------------------------------------------------------
    def start_job(self, gen_fn, *args, **options) -> LongJob:
        """Run the generator ``gen_fn(*args)`` as this widget's job (see :class:`~._jobs.LongJob`)."""
        self.job = LongJob(gen_fn, *args, **options)
        return self.job.start()

    @staticmethod
    def report(call: Callable, *args, **kwargs):
        """``call(*args, **kwargs)``; an :class:`N2NError` becomes an error notification (and ``None``)."""
        from napari.utils.notifications import show_error

        try:
            return call(*args, **kwargs)
        except N2NError as exc:
            show_error(str(exc))
            return None

    def on_layer_inserted(self, layer) -> None:
        """A layer was added to the viewer (after the choice lists were updated). Override for autofill."""

    def teardown(self) -> None:
        """Stop what runs and let go of shared state; called once, when the widget's Qt objects go.

        Subclasses extend it; it must not touch Qt widgets (they are being destroyed).
        """
        job = self.job
        if job is not None:
            job.quit()
            job.release()

    # ---- wiring ----------------------------------------------------------------------------
    @when_alive
    def _on_inserted(self, event) -> None:
        self.reset_choices()
        self.on_layer_inserted(event.value)

    @when_alive
    def _on_layers_changed(self, _event=None) -> None:
        if not self._docked():  # napari does this for docked widgets
            self.reset_choices()

    def _docked(self) -> bool:
        parent = self.native.parent()
        return parent is not None and type(parent).__name__ == "QtViewerDockWidget"

    def _destroyed_hook(self):
        holder = self

        def destroyed(*_args):
            if not holder._closed:
                holder._closed = True
                holder.teardown()

        return destroyed
