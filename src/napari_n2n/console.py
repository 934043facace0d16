"""Progress of long work on a terminal: a one-line bar, and runners for training and prediction.

Used by the ``napari-n2n`` command and the demo; the words come from
:mod:`napari_n2n.core.progress`, the same ones the widgets show.
"""

from __future__ import annotations

import math
import signal
import sys
import threading
import time

from .core.events import (
    Checkpointed,
    CheckpointFailed,
    Finished,
    Notice,
    Progress,
    Started,
    Validated,
)
from .core.progress import describe_progress, describe_started, drain


class ProgressBar:
    """A one-line text progress bar on stderr (redrawn in place on a terminal).

    Written to a file or a pipe (a cluster job's log), it prints a line at every 10 % and at
    least every :attr:`every_s` seconds, so a log never falls silent for long.

    Parameters
    ----------
    label : str
        Written before the bar.
    stream : file-like, optional
        Where to write (default: ``sys.stderr``).
    width : int
        The bar's characters.
    """

    #: the longest silence in a log (seconds), when the output is not a terminal
    every_s = 30.0

    def __init__(self, label: str, stream=None, width: int = 30):
        self.label = label
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = getattr(self.stream, "isatty", lambda: False)()
        self._last_pct = -10
        self._last_t = -math.inf

    def update(self, fraction: float, text: str = "") -> None:
        """Draw the bar (on a terminal), or print a line when one is due (elsewhere).

        Parameters
        ----------
        fraction : float
            The work done, 0 to 1 (clipped).
        text : str
            Written after the percentage.
        """
        fraction = min(max(fraction, 0.0), 1.0)
        pct = int(fraction * 100)
        now = time.monotonic()
        if (
            not self.tty
            and pct < self._last_pct + 10
            and fraction < 1.0
            and now - self._last_t < self.every_s
        ):
            return
        self._last_pct = pct
        self._last_t = now
        filled = int(self.width * fraction)
        line = f"{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {pct:3d}% {text}"
        if self.tty:
            self.stream.write("\r" + line[:200].ljust(100))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        """End the bar's line on a terminal."""
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


#: signals that stop training at the next step, as Ctrl-C does: what cluster schedulers send before
#: they end a job (SLURM: SIGTERM, or SIGUSR1 with --signal), and what a dropped SSH session sends
STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP", "SIGUSR1")


class StopOnSignals:
    """While active, the :data:`STOP_SIGNALS` ask ``trainer`` to stop at the next step.

    The run then ends as if stopped by the user: the kept model (and, when the run checkpoints,
    its resumable state) is there to save. :attr:`signum` is the first signal received
    (``None`` if none); a second Ctrl-C interrupts at once. Signals reach only the main thread:
    elsewhere this does nothing.

    Parameters
    ----------
    trainer : Trainer
        The run to stop (anything with ``request_stop()``).
    """

    def __init__(self, trainer):
        self.trainer = trainer
        self.signum = None
        self._previous: dict = {}

    def __enter__(self) -> StopOnSignals:
        if threading.current_thread() is threading.main_thread():
            for name in STOP_SIGNALS:
                sig = getattr(signal, name, None)
                if sig is not None:
                    self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum, frame) -> None:
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        if self.signum is None:
            self.signum = signum
        self.trainer.request_stop()

    @property
    def name(self) -> str | None:
        """The name of the signal received, e.g. ``"SIGTERM"``."""
        return None if self.signum is None else signal.Signals(self.signum).name


def run_training(trainer, label: str = "train", quiet: bool = False):
    """Consume a Trainer's events with a progress bar; Ctrl-C stops and keeps the model so far.

    Parameters
    ----------
    trainer : Trainer
        The run, not started.
    label : str
        Starts each line written.
    quiet : bool
        Write nothing.

    Returns
    -------
    denoiser : Denoiser or None
        ``None`` when no whole model exists (a per-channel run stopped before its last channel).
    finished : Finished or None
        The :class:`~napari_n2n.core.events.Finished` event, or ``None`` if the run was
        interrupted before it.
    """
    bar = None if quiet else ProgressBar(label)
    validated = finished = None
    gen = trainer.run()
    try:
        for ev in gen:
            if isinstance(ev, Started) and not quiet:
                print(f"{label}: {describe_started(ev)}", file=sys.stderr)
            elif isinstance(ev, Validated):
                validated = ev
            elif isinstance(ev, Progress) and bar:
                bar.update(ev.fraction, describe_progress(ev, validated))
            elif isinstance(ev, Checkpointed) and not quiet and not bar.tty:
                print(f"{label}: checkpoint at step {ev.step} in {ev.path}", file=sys.stderr)
            elif isinstance(ev, Notice) and not quiet:  # on a line of its own
                print(("\n" if bar and bar.tty else "") + f"{label}: {ev.text}", file=sys.stderr)
            elif isinstance(ev, CheckpointFailed):  # the run goes on; the model is kept
                print(f"{label}: warning: {ev.message}", file=sys.stderr)
            elif isinstance(ev, Finished):
                finished = ev
    except KeyboardInterrupt:
        trainer.request_stop()
        gen.close()
        print(f"\n{label}: interrupted; keeping the model so far", file=sys.stderr)
    finally:
        if bar:
            bar.close()
    return (trainer.denoiser() if trainer.has_model else None), finished


def run_prediction(gen, quiet: bool = False, label: str = "predict"):
    """Consume a prediction generator (``Denoiser.predict_iter`` or ``predict_pair_iter``) with a progress bar.

    Parameters
    ----------
    gen : generator
        Yields :class:`~napari_n2n.core.events.TileProgress` and returns the prediction.
    quiet : bool
        Draw no bar.
    label : str
        Written before the bar.

    Returns
    -------
    object
        What the generator returns: the prediction.
    """
    bar = None if quiet else ProgressBar(label)
    try:
        return drain(
            gen, bar and (lambda ev: bar.update(ev.done / ev.total, f"tile {ev.done}/{ev.total}"))
        )
    finally:
        if bar:
            bar.close()
