"""The typed events that long work yields: training and tiled prediction.

Training is :class:`~napari_n2n.core.training.train.Trainer`'s, tiled prediction
:meth:`~napari_n2n.core.inference.denoiser.Denoiser.predict_iter`'s. Each event is a small
frozen dataclass. Consumers (the command line's progress bar, the widgets' training session)
dispatch on the type; a training run yields, in order, one
:class:`Started`, then :class:`Progress` (every step on the CPU, every few steps on a GPU),
:class:`Validated`, :class:`Preview` and :class:`Checkpointed` (or :class:`CheckpointFailed`) as they
happen, and one :class:`Finished`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

#: why a training run ended
FinishReason = Literal["completed", "stopped", "time budget"]


@dataclass(frozen=True)
class Started:
    """Training has been set up and its first step is next.

    Attributes
    ----------
    total_steps : int or None
        Steps planned in all (summed over the models of a per-channel run); ``None`` for a run
        bounded by time only.
    device : str
        Where it runs, readable (e.g. ``"cpu (2 threads)"``).
    n_parameters : int
        Trainable parameters of the network(s).
    patches_per_epoch : float
        Patches in one pass over the training region.
    notes : tuple of str
        What the user should know about this run (validation, data placement, ...).
    time_budget_s : float or None
        The run's time budget, if it has one.
    """

    total_steps: int | None
    device: str
    n_parameters: int
    patches_per_epoch: float
    notes: tuple[str, ...] = ()
    time_budget_s: float | None = None


@dataclass(frozen=True)
class Progress:
    """One or more training steps are done.

    All of it comes from one reading of the run's clock (:mod:`napari_n2n.core.training.schedule`).

    Attributes
    ----------
    step : int
        Steps done over the whole run.
    total_steps : int or None
        Steps planned in all; ``None`` for a run bounded by time only.
    epoch : float
        Passes over the training region so far.
    train_loss : float
        Mean training loss of the steps since the last ``Progress``.
    patches_per_s : float
        Training speed.
    elapsed_s : float
        Seconds since the run started.
    eta_s : float
        Estimated seconds left.
    learning_rate : float
        The learning rate of the last step.
    fraction : float
        Share of the run done, by steps or, when it is further along, by time (the
        learning-rate schedule's progress too).
    limit : {"steps", "time"}
        Which will end the run at the current speed: ``total_steps`` or ``time_budget_s``. With
        ``"time"`` the step total means nothing to the user and is not shown; a run bounded by
        time only always has ``"time"``.
    time_budget_s : float or None
        The run's time budget, if it has one.
    """

    step: int
    total_steps: int | None
    epoch: float
    train_loss: float
    patches_per_s: float
    elapsed_s: float
    eta_s: float
    learning_rate: float
    fraction: float = 0.0
    limit: Literal["steps", "time"] = "steps"
    time_budget_s: float | None = None


@dataclass(frozen=True)
class Validated:
    """The model was scored on the held-out region.

    Attributes
    ----------
    step : int
        The step validated.
    val_loss : float
        The mode's validation loss.
    psnr : float or None
        PSNR against the clean reference; ``None`` without one.
    is_best : bool
        Whether these weights are now the kept ones.
    estimated_psnr : float or None
        PSNR estimated without a clean image, from the held-out noisy target (Noise2Noise only,
        else ``None``).
    estimated_psnr_stderr : float or None
        The standard error of ``estimated_psnr``.
    """

    step: int
    val_loss: float
    psnr: float | None
    is_best: bool
    estimated_psnr: float | None = None
    estimated_psnr_stderr: float | None = None


@dataclass(frozen=True)
class Preview:
    """The current model's prediction of the region asked for with ``Trainer.set_preview``.

    Attributes
    ----------
    step : int
        The step of the weights that made it.
    image : numpy.ndarray
        The denoised region, with the region's axes.
    """

    step: int
    image: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class Checkpointed:
    """The run's resumable state was written (see :mod:`napari_n2n.core.training.resume`).

    Attributes
    ----------
    step : int
        The last step the state includes.
    path : str
        The state file.
    """

    step: int
    path: str


@dataclass(frozen=True)
class Notice:
    """Something the user should know while the run goes on, with what to do.

    E.g. that the time budget allows too few steps for a useful model (a 3D model on a CPU).

    Attributes
    ----------
    text : str
        What was found and what to do.
    """

    text: str


@dataclass(frozen=True)
class CheckpointFailed:
    """The run's resumable state could not be written; the run goes on without writing it.

    The model trained so far is kept as if the state had been written, so a failed
    checkpoint (a full disk, another run that wrote the same state file) never costs it.

    Attributes
    ----------
    step : int
        The step after which the write failed.
    path : str
        The state file.
    message : str
        What failed and what happens now, one line.
    """

    step: int
    path: str
    message: str


@dataclass(frozen=True)
class Finished:
    """The run ended.

    Attributes
    ----------
    reason : {"completed", "stopped", "time budget"}
        Why it ended.
    steps_done : int
        Steps done over the whole run.
    best_step : int
        The step whose weights are kept (the last step when nothing was validated).
    best_val_loss : float or None
        The kept weights' validation loss, or ``None``.
    elapsed_s : float
        Seconds the run took.
    psnr : float or None
        The kept weights' PSNR against the clean reference; ``None`` without one (or without
        a validation).
    estimated_psnr, estimated_psnr_stderr : float or None
        The kept weights' PSNR estimated without a clean image, and its standard error
        (Noise2Noise; see :class:`Validated`).
    """

    reason: FinishReason
    steps_done: int
    best_step: int
    best_val_loss: float | None
    elapsed_s: float
    psnr: float | None = None
    estimated_psnr: float | None = None
    estimated_psnr_stderr: float | None = None


@dataclass(frozen=True)
class TileProgress:
    """Tiled prediction progressed (emitted after each batch of tiles).

    Attributes
    ----------
    done : int
        Tiles predicted so far, of this sample.
    total : int
        Tiles of this sample.
    sample : int
        The sample (index over the sample axes) being predicted.
    n_samples : int
        Samples in all.
    """

    done: int
    total: int
    sample: int
    n_samples: int


@dataclass(frozen=True)
class ChunkProgress:
    """Prediction to a chunked store progressed.

    Attributes
    ----------
    stage : {"denoise", "pyramid"}
        ``"denoise"`` (units of the image: chunks plus a halo, see
        :mod:`napari_n2n.core.inference.chunked`) or ``"pyramid"`` (chunks of the
        lower-resolution levels).
    done : int
        Units of the stage finished.
    total : int
        Units of the stage.
    skipped : int
        Units done by an earlier run (resumed).
    fraction : float
        Share of the stage done, the unit in progress included.
    voxels_per_s : float
        Output voxels denoised per second by this run so far.
    """

    stage: Literal["denoise", "pyramid"]
    done: int
    total: int
    skipped: int = 0
    fraction: float = 0.0
    voxels_per_s: float = 0.0

    @property
    def overall(self) -> float:
        """The share of the whole run done: denoising counts for 95 %, the pyramid for the last 5 %."""
        return 0.95 * self.fraction if self.stage == "denoise" else 0.95 + 0.05 * self.fraction


#: any event of a training run
Event = (
    Started | Progress | Validated | Preview | Checkpointed | CheckpointFailed | Notice | Finished
)
