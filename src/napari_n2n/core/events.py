"""The typed events that long work yields: training (:class:`~napari_n2n.core.training.train.Trainer`)
and tiled prediction (:meth:`~napari_n2n.core.inference.denoiser.Denoiser.predict_iter`).

Each event is a small frozen dataclass. Consumers (the command line's progress bar, the
widgets' training session) dispatch on the type; a training run yields, in order, one
:class:`Started`, then :class:`Progress` (every step on the CPU, every few steps on a GPU),
:class:`Validated`, :class:`Preview` and :class:`Checkpointed` as they happen, and one :class:`Finished`.
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

    ``step`` counts steps over the whole run; ``fraction`` is the share of the run done, by
    steps or, when it is further along, by time (the learning-rate schedule's progress too).
    ``eta_s`` is the estimated time left and ``elapsed_s`` the time since the run started.
    ``limit`` says which will end the run, at the current speed: ``"steps"`` (``total_steps``)
    or ``"time"`` (``time_budget_s``); with ``"time"``, the step total means nothing to the user
    and is not shown. A run bounded by time only has no step total (``None``) and its limit is
    always ``"time"``. All of it comes from one reading of the run's clock
    (:mod:`napari_n2n.core.training.schedule`).
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

    ``val_loss`` is the mode's validation loss; ``psnr`` the PSNR against the clean reference
    (``None`` without one); ``is_best`` whether these weights are now the kept ones.
    ``estimated_psnr`` is the PSNR estimated without a clean image, from the held-out noisy
    target (Noise2Noise only, else ``None``), with its standard error ``estimated_psnr_stderr``.
    """

    step: int
    val_loss: float
    psnr: float | None
    is_best: bool
    estimated_psnr: float | None = None
    estimated_psnr_stderr: float | None = None


@dataclass(frozen=True)
class Preview:
    """The current model's prediction of the region asked for with ``Trainer.set_preview``."""

    step: int
    image: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class Checkpointed:
    """The run's resumable state was written to ``path`` after ``step`` (see :mod:`napari_n2n.core.training.resume`)."""

    step: int
    path: str


@dataclass(frozen=True)
class Finished:
    """The run ended: ``steps_done`` steps in ``elapsed_s`` seconds, for ``reason``.

    ``best_step`` is the step whose weights are kept (the last step when nothing was
    validated); ``best_val_loss`` their validation loss, or ``None``.
    """

    reason: FinishReason
    steps_done: int
    best_step: int
    best_val_loss: float | None
    elapsed_s: float


@dataclass(frozen=True)
class TileProgress:
    """Tiled prediction: ``done`` of ``total`` tiles are predicted (emitted after each batch of tiles)."""

    done: int
    total: int
    sample: int
    n_samples: int


@dataclass(frozen=True)
class ChunkProgress:
    """Prediction to a chunked store: ``done`` of ``total`` units of work of ``stage`` are finished.

    ``stage`` is ``"denoise"`` (units of the image: chunks plus a halo, see
    :mod:`napari_n2n.core.inference.chunked`) or ``"pyramid"`` (chunks of the lower-resolution levels).
    ``skipped`` units were done by an earlier run (resumed). ``fraction`` is the share of the
    stage done, the unit in progress included; ``voxels_per_s`` the output voxels denoised per
    second by this run so far.
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
Event = Started | Progress | Validated | Preview | Checkpointed | Finished
