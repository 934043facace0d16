"""The run's clock and budget: how far a training run is, how long it has left, what will end it.

A run is bounded by its steps (``TrainConfig.steps``, for each model of a per-channel run), by
a time budget (``TrainConfig.time_budget_s``, shared equally by those models), or by both:
whichever comes first ends it. :class:`RunClock` reads the clock once after each step and
computes everything from that one :class:`Reading`: the share of the time budget used, the
fraction of the run done (which also sets the learning rate, :mod:`~.schedule`), the time
left and which limit will end the run. The :class:`~napari_n2n.core.events.Progress` event is
made from the same reading, so the progress bar and the learning-rate schedule agree.

Examples
--------
>>> from types import SimpleNamespace
>>> from napari_n2n.core.config import TrainConfig
>>> clock = RunClock(TrainConfig(steps=100), n_groups=1, patches_per_step=8)
>>> run = SimpleNamespace(group=0, offset=0, step=25, t_start=clock.started_at)
>>> reading = clock.read(run)
>>> reading.fraction, reading.limit, reading.completed
(0.25, 'steps', False)
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ..config import TrainConfig
from ..events import Progress

Limit = Literal["steps", "time"]


@dataclass(frozen=True)
class Reading:
    """Where a run stands after a step: everything computed from one read of the clock.

    Attributes
    ----------
    group : int
        The channel group whose model is training.
    step : int
        Steps done by that model.
    steps_done : int
        Steps done by the run (all its models).
    elapsed_s : float
        Seconds since the run started (a resumed run's earlier time included).
    model_elapsed_s : float
        Seconds of the current model's training.
    used : float
        Share of the current model's time budget used (0 without a time budget).
    model_fraction : float
        Share of the current model's run done, by steps or, when it is further along, by time;
        the learning-rate schedule's progress (0 → 1).
    fraction : float
        Share of the whole run done.
    completed : bool
        Whether the current model has done all its steps.
    eta_s : float
        Estimated seconds left, until the limit that will end the run first.
    limit : {"steps", "time"}
        Which limit will end the run, at the current speed.
    patches_per_s : float
        Training patches per second over all processes (of the current model so far).
    epoch : float
        Passes over the training region by the current model.
    """

    group: int
    step: int
    steps_done: int
    elapsed_s: float
    model_elapsed_s: float
    used: float
    model_fraction: float
    fraction: float
    completed: bool
    eta_s: float
    limit: Limit
    patches_per_s: float
    epoch: float


class RunClock:
    """The clock and budget of one training run (owned by its :class:`~.train.Trainer`).

    Parameters
    ----------
    config : TrainConfig
        The run's configuration: its ``steps`` (``None``: bounded by time only) and
        ``time_budget_s``.
    n_groups : int
        Models trained one after the other (one per channel group); each does ``steps`` and
        has an equal share of the time budget.
    patches_per_step : int
        Training patches per step, over all processes.
    patches_per_epoch : sequence of float, optional
        Patches in one pass over the training region, one value per model (for
        :attr:`Reading.epoch`).
    elapsed_s : float
        Seconds the run had already trained (a resumed run).
    """

    def __init__(
        self,
        config: TrainConfig,
        *,
        n_groups: int,
        patches_per_step: int,
        patches_per_epoch: Sequence[float] = (),
        elapsed_s: float = 0.0,
    ):
        self.steps = config.steps
        self.time_budget_s = config.time_budget_s
        self.n_groups = n_groups
        self.patches_per_step = patches_per_step
        self.patches_per_epoch = tuple(patches_per_epoch)
        # each model of a per-channel run has an equal share of the time budget
        self.share_s = None if config.time_budget_s is None else config.time_budget_s / n_groups
        self.started_at = time.perf_counter() - elapsed_s

    @property
    def total_steps(self) -> int | None:
        """Steps planned in all (over the models), or ``None`` for a run bounded by time only."""
        return None if self.steps is None else self.steps * self.n_groups

    @property
    def elapsed_s(self) -> float:
        """Seconds since the run started (a resumed run's earlier time included)."""
        return time.perf_counter() - self.started_at

    def completed(self, run) -> bool:
        """Whether ``run`` (a :class:`~.model_run.ModelRun`) has done all its steps."""
        return self.steps is not None and run.step >= self.steps

    def elapsed(self, run) -> tuple[float, float]:
        """Seconds since the run started and since ``run`` (a :class:`~.model_run.ModelRun`) did."""
        now = time.perf_counter()
        return now - self.started_at, now - run.t_start

    def read(self, run) -> Reading:
        """Read the clock once, after a step of ``run`` (a :class:`~.model_run.ModelRun`).

        Parameters
        ----------
        run : ModelRun
            The model training now: its ``group``, ``offset`` (steps of the models before it),
            ``step`` and ``t_start``.

        Returns
        -------
        Reading
            Where the run stands.
        """
        elapsed, model_elapsed = self.elapsed(run)
        used = model_elapsed / self.share_s if self.share_s else 0.0
        rate = run.step * self.patches_per_step / max(model_elapsed, 1e-9)
        eta, limit = self._time_left(run, model_elapsed, rate)
        epoch_size = (
            self.patches_per_epoch[run.group] if run.group < len(self.patches_per_epoch) else 0.0
        )
        model_fraction = self._model_fraction(run.step, used)
        return Reading(
            group=run.group,
            step=run.step,
            steps_done=run.offset + run.step,
            elapsed_s=elapsed,
            model_elapsed_s=model_elapsed,
            used=used,
            model_fraction=model_fraction,
            fraction=(run.group + model_fraction) / self.n_groups,
            completed=self.completed(run),
            eta_s=eta,
            limit=limit,
            patches_per_s=rate,
            epoch=run.step * self.patches_per_step / max(epoch_size, 1e-9),
        )

    def agreed(self, reading: Reading, used: float) -> Reading:
        """``reading`` with the share of the time budget the processes agreed on.

        Under DDP the processes agree on the largest share used
        (:class:`~.distributed.StopVote`), so that they stop together and use one learning
        rate; alone, ``used`` is the reading's own and the reading is returned as it is.
        """
        if used == reading.used:
            return reading
        model_fraction = self._model_fraction(reading.step, used)
        return dataclasses.replace(
            reading,
            used=used,
            model_fraction=model_fraction,
            fraction=(reading.group + model_fraction) / self.n_groups,
        )

    def progress(self, reading: Reading, *, loss: float, learning_rate: float) -> Progress:
        """The :class:`~napari_n2n.core.events.Progress` event of ``reading``.

        Parameters
        ----------
        reading : Reading
            The clock read after the last step.
        loss : float
            The mean training loss of the steps since the last event.
        learning_rate : float
            The learning rate of the last step.

        Returns
        -------
        Progress
            The event.
        """
        return Progress(
            step=reading.steps_done,
            total_steps=self.total_steps,
            epoch=reading.epoch,
            train_loss=loss,
            patches_per_s=reading.patches_per_s,
            elapsed_s=reading.elapsed_s,
            eta_s=reading.eta_s,
            learning_rate=learning_rate,
            fraction=reading.fraction,
            limit=reading.limit,
            time_budget_s=self.time_budget_s,
        )

    def _model_fraction(self, step: int, used: float) -> float:
        by_steps = 0.0 if self.steps is None else step / self.steps
        return min(max(by_steps, used), 1.0)

    def _time_left(self, run, model_elapsed: float, rate: float) -> tuple[float, Limit]:
        """The estimated time left and the limit that ends the run first."""
        later = self.n_groups - run.group - 1  # models still to train after this one
        by_steps = None
        if self.steps is not None:
            steps_left = self.steps - run.step + self.steps * later
            by_steps = steps_left * self.patches_per_step / max(rate, 1e-9)
        if self.share_s is None:
            return by_steps, "steps"
        by_time = max(self.share_s - model_elapsed, 0.0) + self.share_s * later
        if by_steps is None or by_time < by_steps:
            return by_time, "time"
        return by_steps, "steps"
