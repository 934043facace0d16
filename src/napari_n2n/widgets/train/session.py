"""The state of one training run in one place: a Qt-free, evented :class:`TrainingSession`.

The trainer's events (:mod:`napari_n2n.core.events`) come in through :meth:`TrainingSession.apply`;
the views subscribe:

* the progress bar and the status line to :attr:`TrainingSession.status` (a psygnal
  ``@evented`` dataclass: ``status.events.fraction``, ``status.events.text``, ...);
* the loss plot to :attr:`~TrainingSession.train_point` and :attr:`~TrainingSession.validation_point`;
* the preview layer to :attr:`~TrainingSession.preview`.

Nothing here imports Qt or napari, so the session can be tested (and driven) without a viewer,
as careamics-napari's evented ``TrainingStatus``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

from psygnal import Signal, evented

from ...core.events import Finished, Notice, Preview, Progress, Started, Validated
from ...core.progress import describe_finished, describe_progress, describe_started

State = Literal["starting", "running", "stopping", "finished", "failed"]

#: seconds between updates of the status text and progress fraction (each costs main-thread time)
STATUS_EVERY_S = 0.25


@evented
@dataclass
class TrainingStatus:
    """What the progress bar and the status line show."""

    state: State = "starting"
    text: str = "Starting…"
    fraction: float = 0.0
    step: int = 0
    #: steps planned in all (``None``: not known yet, or a run bounded by time only)
    total_steps: int | None = None
    device: str = ""


class TrainingSession:
    """One training run: its trainer, its status and the series the plot draws.

    Parameters
    ----------
    trainer : Trainer
        The run's :class:`~napari_n2n.core.training.train.Trainer` (not started yet).
    name : str
        What is trained on (the input layer's name), for labels.
    """

    #: ``(step, training loss)``, every logged step
    train_point = Signal(int, float)
    #: ``(step, validation loss, PSNR or None, estimated PSNR or None)``, every validation; the
    #: estimate needs no clean image (Noise2Noise runs, see :mod:`napari_n2n.core.inference.estimate`)
    validation_point = Signal(int, float, object, object)
    #: a :class:`~napari_n2n.core.events.Preview` arrived
    preview = Signal(object)
    #: what the user should know while the run goes on (a :class:`~napari_n2n.core.events.Notice`'s text)
    notice = Signal(str)
    #: the run ended: the :class:`~napari_n2n.core.events.Finished` event, or ``None`` if it failed
    ended = Signal(object)

    def __init__(self, trainer, *, name: str):
        self.trainer = trainer
        self.name = name
        # what the run plans comes with its Started event
        self.status = TrainingStatus()
        self.started: Started | None = None
        self.finished: Finished | None = None
        self.last_validation: Validated | None = None
        self.started_at = time.perf_counter()
        self.stop_requested_at: float | None = None
        self.ended_at: float | None = None
        self._last_status = 0.0

    # ---- control ---------------------------------------------------------------------------
    def request_stop(self) -> None:
        """Ask the trainer to stop at its next step (the model kept so far stays)."""
        if self.stop_requested_at is None:
            self.stop_requested_at = time.perf_counter()
        self.trainer.request_stop()
        if self.status.state in ("starting", "running"):
            self.status.state = "stopping"
            self.status.text = "Stopping… (the model so far is kept)"

    def set_preview(self, region, *, every_s: float) -> None:
        """Ask for previews of ``region`` (``None``: no previews)."""
        self.trainer.set_preview(region, every_s=every_s)

    @property
    def running(self) -> bool:
        """Whether the run has not ended yet (starting, running or stopping)."""
        return self.status.state in ("starting", "running", "stopping")

    # ---- events in -------------------------------------------------------------------------
    def apply(self, event) -> None:
        """Update the state from one trainer event (call on the thread the views live on)."""
        if isinstance(event, Progress):
            self.train_point.emit(event.step, event.train_loss)
            now = time.perf_counter()
            if now - self._last_status >= STATUS_EVERY_S or event.step == event.total_steps:
                self._last_status = now
                self.status.step = event.step
                self.status.fraction = event.fraction
                if self.status.state != "stopping":
                    self.status.text = describe_progress(event, self.last_validation)
        elif isinstance(event, Validated):
            self.last_validation = event
            self.validation_point.emit(event.step, event.val_loss, event.psnr, event.estimated_psnr)
        elif isinstance(event, Preview):
            self.preview.emit(event)
        elif isinstance(event, Notice):
            self.notice.emit(event.text)
        elif isinstance(event, Started):
            self.started = event
            self.status.device = event.device
            self.status.total_steps = event.total_steps
            self.status.state = "running" if self.status.state == "starting" else self.status.state
            self.status.text = f"Training: {describe_started(event)}"
        elif isinstance(event, Finished):
            self.finished = event
            self.status.step = event.steps_done
            if event.reason != "stopped":
                self.status.fraction = 1.0
            self.status.text = describe_finished(event)

    def end(self, *, failed: bool = False) -> None:
        """The run is over (after its last event, or after an error)."""
        self.ended_at = time.perf_counter()
        self.status.state = "failed" if failed else "finished"
        if not failed and self.finished is None:
            self.status.text = ""
        self.ended.emit(None if failed else self.finished)
