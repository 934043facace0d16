"""The run's schedule: its clock and budget, and the learning-rate schedule they drive.

A run is bounded by its steps (``TrainConfig.steps``, for each model of a per-channel run), by
a time budget (``TrainConfig.time_budget_s``, shared equally by those models), or by both:
whichever comes first ends it. :class:`RunClock` reads the clock once after each step and
computes everything from that one :class:`Reading`: the share of the time budget used, the
fraction of the run done (which also sets the learning rate, below), the time left and which
limit will end the run. The :class:`~napari_n2n.core.events.Progress` event is made from the
same reading, so the progress bar and the learning-rate schedule agree.

The learning rate: a short linear warm-up, then cosine decay to 2 % of the peak. A run that
starts from a trained model (:mod:`napari_n2n.core.training.start`) warms up over
:data:`FINE_TUNE_WARMUP_STEPS` steps (at most half the run) instead, so that its first steps do
not undo the model.

The schedule is a function of the run's progress (0 → 1, by steps or, under a time budget, by
time), so it has no state of its own: a resumed run continues it from its progress.

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
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ..config import TrainConfig
from ..events import Progress

#: fraction of the run spent warming up
WARMUP = 0.02
#: the learning rate at the end, as a fraction of the peak
FINAL = 0.02
#: the warm-up of a run that starts from a trained model, in steps (at most half the run). Adam's
#: first steps move every weight by about the learning rate whatever its gradient, which undoes a
#: trained model: 10 steps at 3e-3 with the 2 % warm-up took a model from 25.1 dB to 19.8-22.8 dB
#: (4 seeds), with a warm-up of half the run it kept 24.5-24.7 dB; after 40 steps 23.4-24.4 dB
#: against 24.9-25.2 dB (camera 128×160, σ25, cpu-tiny; issue #16)
FINE_TUNE_WARMUP_STEPS = 50


def warmup_for(steps: int | None, *, fine_tune: bool = False) -> float:
    """The warm-up of a run of ``steps`` steps, as a fraction of it (longer when fine-tuning).

    Parameters
    ----------
    steps : int or None
        Steps of the run; ``None`` for a run bounded by time only, whose step count is not known:
        it warms up over :data:`WARMUP` of its time, fine-tuning or not.
    fine_tune : bool
        Whether the run starts from a trained model.

    Returns
    -------
    float
        The warm-up, as a fraction of the run's progress.

    Examples
    --------
    >>> warmup_for(2000), warmup_for(2000, fine_tune=True), warmup_for(10, fine_tune=True)
    (0.02, 0.025, 0.5)
    >>> warmup_for(None, fine_tune=True)
    0.02
    """
    if not fine_tune or steps is None:
        return WARMUP
    return max(WARMUP, min(FINE_TUNE_WARMUP_STEPS / steps, 0.5))


def lr_factor(progress: float, *, warmup: float = WARMUP) -> float:
    """Learning-rate multiplier: linear warm-up from 5 %, then cosine decay.

    Parameters
    ----------
    progress : float
        The share of the run done, 0 → 1.
    warmup : float, optional
        The share of the run the warm-up takes.

    Returns
    -------
    float
        The factor of the peak learning rate.

    Examples
    --------
    >>> lr_factor(0.0), lr_factor(0.02), round(lr_factor(1.0), 3)
    (0.05, 1.0, 0.02)
    """
    if progress < warmup:
        return 0.05 + 0.95 * progress / warmup
    t = (progress - warmup) / (1 - warmup)
    return FINAL + (1 - FINAL) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))


Limit = Literal["steps", "time"]

#: a run with a time budget validates at least every this share of (its model's share of) the
#: budget, whatever its step count: 65 steps in 30 s with a validation every 100 steps never
#: validated, and the run ended with no quality figure (issue #22)
VALIDATE_EVERY_BUDGET = 0.1
#: ... but spends at most about this share of its time validating (validations of a 3D model on
#: a CPU take seconds)
VALIDATION_SHARE = 0.2


class ValidationClock:
    """When one model's run validates: every ``every_steps`` steps, by time, and at its end.

    A run with a time budget validates at least every :data:`VALIDATE_EVERY_BUDGET` of its
    share of the budget (spaced further when a validation is slow, so that validating takes at
    most :data:`VALIDATION_SHARE` of the time), and every run validates its last weights when it
    ends (:meth:`due` with ``last=True``), so that every run of any length reports a quality
    figure. The budget keeps room for that last validation (:meth:`reserve`).

    Parameters
    ----------
    every_steps : int
        Steps between validations (``TrainConfig.validation_every``).
    share_s : float or None
        The model's share of the time budget, seconds; ``None`` without one.
    started_s : float
        The model's training time when the clock starts (a resumed model's earlier time).

    Examples
    --------
    >>> clock = ValidationClock(every_steps=100, share_s=30.0)
    >>> clock.due(7, 2.0), clock.due(8, 3.1)
    (False, True)
    >>> clock.record(8, 3.1, cost_s=0.5)
    >>> clock.due(9, 5.0), clock.due(9, 6.2), clock.due(8, 9.0, last=True)
    (False, True, False)
    >>> round(clock.reserve(), 3)
    0.017
    """

    def __init__(self, *, every_steps: int, share_s: float | None, started_s: float = 0.0):
        self.every_steps = every_steps
        self.share_s = share_s
        self.last_step: int | None = None
        self.last_s = started_s
        self.cost_s = 0.0

    def due(self, step: int, model_elapsed_s: float, *, last: bool = False) -> bool:
        """Whether the weights of ``step`` are validated now.

        Parameters
        ----------
        step : int
            The model's steps done.
        model_elapsed_s : float
            The model's training time so far, seconds.
        last : bool
            Whether the model's run ends at this step.

        Returns
        -------
        bool
            False for weights validated already.
        """
        if step == self.last_step or step == 0:
            return False
        if last or step % self.every_steps == 0:
            return True
        if self.share_s is None:
            return False
        interval = max(VALIDATE_EVERY_BUDGET * self.share_s, self.cost_s / VALIDATION_SHARE)
        return model_elapsed_s - self.last_s >= interval

    def record(self, step: int, model_elapsed_s: float, *, cost_s: float) -> None:
        """A validation of ``step``'s weights ended at ``model_elapsed_s``, after ``cost_s`` seconds.

        Parameters
        ----------
        step : int
            The model's steps done.
        model_elapsed_s : float
            The model's training time when the validation ended.
        cost_s : float
            How long it took.
        """
        self.last_step = step
        self.last_s = model_elapsed_s
        self.cost_s = cost_s

    def reserve(self) -> float:
        """The share of the model's time budget to keep for its last validation (0 without one).

        Returns
        -------
        float
            The last validation's time over the share, at most half of it.
        """
        return min(self.cost_s / self.share_s, 0.5) if self.share_s else 0.0


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
        self._elapsed_before = elapsed_s
        self.started_at = time.perf_counter() - elapsed_s

    def start_now(self) -> None:
        """Count the run's time from now (what came before is set-up, outside the budget)."""
        self.started_at = time.perf_counter() - self._elapsed_before

    @property
    def total_steps(self) -> int | None:
        """Steps planned in all (over the models), or ``None`` for a run bounded by time only."""
        return None if self.steps is None else self.steps * self.n_groups

    @property
    def elapsed_s(self) -> float:
        """Seconds since the run started (a resumed run's earlier time included)."""
        return time.perf_counter() - self.started_at

    def completed(self, run) -> bool:
        """Whether a model's run has done all its steps.

        Parameters
        ----------
        run : ModelRun
            The model training now.

        Returns
        -------
        bool
            ``False`` in a run bounded by time only.
        """
        return self.steps is not None and run.step >= self.steps

    def elapsed(self, run) -> tuple[float, float]:
        """Seconds since the run started, and since a model's run did.

        Parameters
        ----------
        run : ModelRun
            The model training now.

        Returns
        -------
        tuple of float
            ``(run's seconds, the model's seconds)``.
        """
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

        Parameters
        ----------
        reading : Reading
            This process's reading.
        used : float
            The share of the time budget agreed on.

        Returns
        -------
        Reading
            The reading, its fractions following ``used``.
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

    def projected_steps(self, reading: Reading) -> int | None:
        """The steps the current model will do in its share of the time budget, at its speed so far.

        Parameters
        ----------
        reading : Reading
            The clock read after a step.

        Returns
        -------
        int or None
            ``None`` without a time budget, or when the steps end the run first.
        """
        if self.share_s is None or reading.step == 0:
            return None
        at_speed = int(reading.step * self.share_s / max(reading.model_elapsed_s, 1e-9))
        return None if self.steps is not None and self.steps <= at_speed else at_speed

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
