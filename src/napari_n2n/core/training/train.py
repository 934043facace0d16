"""Training as a generator of typed events.

:class:`Trainer` runs Noise2Noise / Noise2Clean / Neighbor2Neighbor training and yields small
frozen event objects (:mod:`napari_n2n.core.events`) that a GUI or the command line consumes.
Its pieces live in their own modules: batch sources (``batches``), the mode's objective
(``objectives``), the learning-rate schedule (``schedule``), the kept weights (``selection``),
previews (``preview``), how a run starts (``start``), resumable states (``resume``),
other processes under ``torchrun`` (``distributed``), one model's network, optimiser and
step (``model_run``) and the run's clock and budget (``clock``). :meth:`Trainer.request_stop`
(or closing the generator) ends the run at the next step, on the CPU inside the step
(``interrupt``; that step is not applied), and :meth:`Trainer.denoiser` always returns the kept
model so far.

Examples
--------
>>> rng = np.random.default_rng(0)
>>> noisy_a, noisy_b = rng.random((2, 64, 64), dtype="float32")
>>> config = TrainConfig(preset="cpu-tiny", steps=10, device="cpu")
>>> trainer = Trainer(noisy_a, noisy_b, axes="YX", config=config)
>>> events = [type(event).__name__ for event in trainer.run()]
>>> events[0], events[-1]
('Started', 'Finished')
>>> trainer.denoiser().predict(noisy_a).shape
(64, 64)
"""

from __future__ import annotations

import copy
import math
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..._version import __version__
from ..axes import default_axes, validate_axes
from ..config import TrainConfig
from ..data.normalization import Normalization
from ..data.outliers import outlier_note
from ..data.pairs import Pair
from ..device import cpu_thread_limit, describe_device
from ..errors import N2NError, OutputError, TrainingError
from ..events import (
    Checkpointed,
    CheckpointFailed,
    Event,
    Finished,
    Notice,
    Preview,
    Progress,
    Started,
    Validated,
)
from ..inference import ood
from ..inference.denoiser import Denoiser
from ..model import UNet, count_parameters
from ..progress import fmt_time
from . import distributed
from .acceleration import fit_batch_to_memory
from .batches import StepRandomness, batch_source, choose_residency, device_generator
from .interrupt import StepInterrupted, stop_inside_steps
from .model_run import GroupResult, ModelRun, import_ahead
from .multi_image import sampler_for, training_sets, training_views
from .objectives import objective_for
from .presets import describe_config
from .preview import PreviewSlot, predict_region
from .resume import (
    Checkpointing,
    TrainingState,
    kept_weights,
    load_state,
    restore_kept,
    save_state,
    views_fingerprint,
)
from .schedule import Reading, RunClock, ValidationClock, lr_factor, warmup_for
from .selection import (
    PsnrEstimates,
    data_range,
    kept_scores,
    new_history,
    policy_for,
    validate_and_offer,
)
from .start import AUTO, DEFAULT_INIT_NORMALIZATION, DataFacts, InitNormalization, plan_start
from .state_checks import LOSS_READ_EVERY

#: a run whose time budget allows fewer steps than this (at the speed of its first step) is
#: told so at its start, with what to do: 3 steps in 45 s were seen for 3D on a CPU (issue #22)
FEW_STEPS = 100
#: the steps a run should have at least, for the time budget the notice suggests
ENOUGH_STEPS = 300

#: seconds a stopped run may spend validating its last weights (a stop stays quick)
STOP_VALIDATION_S = 0.5

#: the ``info`` entry that names a run: its states and its model file hold the same name, so a
#: resumed run knows which model file it wrote (``napari-n2n train --resume``)
RUN_ID = "run_id"


class Trainer:
    """Train a denoiser on a noisy pair (or a noisy image and its clean version, or one noisy image).

    Parameters
    ----------
    input : array-like or list
        The noisy input (numpy, dask, zarr, memmap); a list of images of any sizes (same axes and
        channels) trains one model on all (:mod:`~napari_n2n.core.training.multi_image`).
    target : array-like or None
        Noise2Noise: a second noisy copy of the same scene. Noise2Clean: the clean image.
        Neighbor2Neighbor (``mode="nb2nb"``): ``None``. With a list of inputs, a list (and ``clean`` too).
    axes : str, optional
        Axes of ``input`` (``"YX"``, ``"ZYX"``, ``"TYX"``, ``"CYX"``, ...); YX or ZYX if omitted. ``Z``: a 3D model.
    config : TrainConfig, optional
        How to train (default: :class:`TrainConfig`'s).
    clean, noise : array-like, dict, optional
        Clean reference (only to report PSNR on the validation region); the noise (for the model file).
    init, init_normalization : Denoiser, path, "general", "auto" or None; {"recompute", "keep"}
        Start from this model ("auto": the bundled general denoiser where :func:`~.start.general_applies`,
        None: random weights), with the normalisation fitted to this data or the model's.
    checkpoint : Checkpointing, optional
        Write the resumable state as training goes, and when it ends.
    resume, resume_anyway : path, bool
        Continue the run of this state (refused if data or options differ, unless ``resume_anyway``).
    voxel_size : sequence of float, optional
        ``(z, y, x)`` voxel size of a volume (any unit): a z-step coarser than the pixel size
        gives a network that pools in Y and X only at its top levels, and flatter patches
        (:func:`~napari_n2n.core.model.xy_only_levels_for`). ``None``: isotropic.
    """

    def __init__(  # noqa: PLR0913  the public Trainer keywords (data, config, start, checkpoints)
        self,
        input,
        target=None,
        *,
        axes: str | None = None,
        config: TrainConfig | None = None,
        clean=None,
        noise: dict | None = None,
        init: Denoiser | str | os.PathLike | None = AUTO,
        init_normalization: InitNormalization = DEFAULT_INIT_NORMALIZATION,
        checkpoint: Checkpointing | None = None,
        resume: str | os.PathLike | None = None,
        resume_anyway: bool = False,
        voxel_size=None,
    ):
        config = config or TrainConfig()
        # one image, or several (see multi_image)
        sets = training_sets(
            input, target, clean, mode=config.mode, masked_target=config.register != "none"
        )
        input, target, clean = sets[0]
        self.axes = validate_axes(axes, input.ndim) if axes else default_axes(input.ndim)
        self.spatial_ndim = 3 if "Z" in self.axes else 2
        self.input = input
        self.target = target
        self.clean = clean
        self.noise = noise
        # [[input, target, clean], ...]
        self.view_sets = training_views(sets, self.axes, self.spatial_ndim)
        self.views = self.view_sets[0]
        # Noise2Clean's target is clean: the normalisation is fitted to the noisy data only;
        # a registered target (NaN where masked) is the input's frames again
        fitted_roles = 1 + (
            target is not None and config.mode != "n2c" and config.register == "none"
        )
        fit = [v for vs in self.view_sets for v in vs[:fitted_roles]]
        self.ranks = distributed.current()
        self.device = distributed.device_for(config.device, self.ranks)
        # on the CPU, shared by the processes
        self.threads = distributed.cpu_share(self.ranks, config.threads)
        self.checkpointing = checkpoint
        # its folder, checked before the run; the destination notices another run's writes
        self._state_file = (
            checkpoint.check() if checkpoint is not None and self.ranks.is_main else None
        )
        # the preset's batch may shrink to fit a GPU
        self._batch_from_preset = config.batch_size is None and resume is None
        self._fingerprint = (
            views_fingerprint(self.view_sets, self.axes) if (checkpoint or resume) else None
        )
        self._resumed = load_state(resume) if resume is not None else None
        facts = DataFacts(
            n_channels=self.views[0].n_channels,
            spatial_ndim=self.spatial_ndim,
            axes=self.axes,
            device_type=self.device.type,
            fingerprint=self._fingerprint,
            world_size=self.ranks.world_size,
            voxel_size=None if voxel_size is None else tuple(float(v) for v in voxel_size),
            slices=min(vs[0].spatial_shape[0] for vs in self.view_sets)
            if self.spatial_ndim == 3
            else None,
        )
        plan = plan_start(
            config,
            facts,
            init=init,
            init_normalization=init_normalization,
            resumed=self._resumed,
            resume_path=resume,
            resume_anyway=resume_anyway,
        )
        self.config = config = plan.config
        self.unet = plan.unet
        self.groups = plan.groups
        self._weights = plan.weights
        # the run's name, kept in its states and its model file: a resumed run keeps its state's
        self.info = {RUN_ID: uuid.uuid4().hex, **plan.info}
        self.norm = plan.norm or Normalization.fit(fit, seed=config.seed)
        # a resumed fine-tune's too
        self._warmup = warmup_for(config.steps, fine_tune="init_from" in self.info)
        self.patch = patch_shape(
            config.patch_size, self.spatial_ndim, self.view_sets, voxel_size=facts.voxel_size
        )
        # one independent seed per model and purpose, all from the one seed of the config
        *group_seeds, val_seed = np.random.SeedSequence(config.seed).spawn(len(self.groups) + 1)
        # initial weights, batches, masks
        self._seeds = [s.generate_state(3).tolist() for s in group_seeds]
        self.objective = objective_for(config, validation_seed=int(val_seed.generate_state(1)[0]))
        self._stop = threading.Event()
        # set once what building the optimiser imports is imported (seconds, see import_ahead)
        self._imported = import_ahead()
        self._preview = PreviewSlot()
        # when the last preview and the last state were made (reset when a model starts)
        self._preview_at = 0.0
        self._checkpoint_at = 0.0
        self._runs = 0
        self._running = False
        self._clock: RunClock | None = None
        # when the model training now validates (set when it starts)
        self._validations: ValidationClock | None = None
        # of the input, for the out-of-distribution check
        self._intensity: ood.IntensityStats | None = None
        self._data_range = None if clean is None else data_range(clean, self.views[2])
        # Noise2Noise: the PSNR without a clean image
        self._estimates = PsnrEstimates(config, self.norm)
        self._reset()  # the samplers are built now, so size errors surface before the run starts
        self.data_on_device, residency_note = choose_residency(
            self._samplers[0], self.device, config.data_on_device
        )
        self.notes = self._notes(plan.notes, residency_note)

    def _notes(self, start_notes: tuple, residency_note: str | None) -> tuple[str, ...]:
        """What the user should know about the run, once each, in order."""
        config = self.config
        notes = [
            outlier_note(self.norm.outliers, loss=config.loss, mode=config.mode),
            describe_config(config, self.spatial_ndim, self.patch),
            *start_notes,
            distributed.note(self.ranks, config.batch_size),
            *(n for s in self._samplers for n in s.notes),
            self._policies[0].note,
            residency_note,
        ]
        if config.mode == "nb2nb" and self.spatial_ndim == 3:
            notes.insert(0, "3D single-image mode sub-samples in Y and X only")
        return tuple(dict.fromkeys(n for n in notes if n))

    @classmethod
    def from_pair(cls, pair: Pair, *, config: TrainConfig | None = None) -> Trainer:
        """A trainer for a :class:`~napari_n2n.core.data.pairs.Pair`.

        Parameters
        ----------
        pair : Pair
            The images, their axes, the clean reference and the noise, if any.
        config : TrainConfig, optional
            How to train (default: :class:`TrainConfig`'s, in the pair's mode); its
            ``register`` is set to the pair's.

        Returns
        -------
        Trainer
            A trainer that has not started.
        """
        config = config or TrainConfig(mode=pair.mode)
        if pair.register != config.register:  # the model file says how its pairs were made
            config = config.replace(register=pair.register)
        return cls(
            pair.input,
            pair.target,
            axes=pair.axes,
            config=config,
            clean=pair.clean,
            noise=pair.noise,
        )

    def _reset(self) -> None:
        """The state of a run that has not started: samplers, kept weights and history, a resumed run's as saved."""
        resumed = self._resumed
        cfg = self.config
        self.history: dict = copy.deepcopy(resumed.state.history) if resumed else new_history()
        self._models: list = [None] * len(self.groups)
        self._samplers = [
            sampler_for(
                self.view_sets, cfg, patch=self.patch, norm=self.norm, channels=g, seed=seeds[1]
            )
            for g, seeds in zip(self.groups, self._seeds)
        ]
        self._policies = [policy_for(s) for s in self._samplers]
        if resumed is not None:
            restore_kept(self._policies, resumed)
        self._live: ModelRun | None = None
        self._saved_at = (resumed.state.group, resumed.state.step) if resumed else None
        #: why the state could not be written (then the run writes it no more), or None
        self.checkpoint_failure: str | None = None

    # ---- control (thread-safe) ------------------------------------------------------------
    def request_stop(self) -> None:
        """Ask the run to stop at the next step; the kept model so far remains available."""
        self._stop.set()

    @property
    def stop_requested(self) -> bool:
        """Whether a stop has been asked for."""
        return self._stop.is_set()

    def set_preview(self, region, *, every_s: float = 2.0) -> None:
        """Ask for a :class:`~napari_n2n.core.events.Preview` of a region every few seconds.

        Safe to call from any thread.

        Parameters
        ----------
        region : array-like or None
            The image to denoise, with the input's axes minus the sample axes (e.g. ``YX``,
            ``CYX`` or ``ZYX``); ``None`` turns previews off.
        every_s : float, optional
            The least time between two previews, in seconds.
        """
        self._preview.put(region, every_s=every_s)

    # ---- results ------------------------------------------------------------------------------
    @property
    def models(self) -> tuple:
        """The live torch modules, one per channel group, as trained so far (read-only).

        ``None`` for a model whose training has not started. These are the weights of the
        last step, not necessarily the kept ones (see :meth:`denoiser`).
        """
        return tuple(self._models)

    @property
    def best_step(self) -> int:
        """The step whose weights are kept (of the last model trained, in a per-channel run)."""
        return max(p.best_step for p in self._policies)

    @property
    def has_model(self) -> bool:
        """Whether every channel group has its model (a per-channel run stopped early lacks the later ones)."""
        return all(
            p.state is not None or m is not None for p, m in zip(self._policies, self._models)
        )

    @property
    def best_val_loss(self) -> float | None:
        """The validation loss of the kept weights (of the last model); ``None`` before any."""
        return self._policies[-1].best_val_loss

    def denoiser(self) -> Denoiser:
        """The kept model so far.

        Returns
        -------
        Denoiser
            The kept weights of every channel group's model, with the normalisation, axes,
            configuration and history of the run.

        Raises
        ------
        TrainingError
            If a model has not trained a single step yet.
        """
        models = []
        for group, policy, live in zip(self.groups, self._policies, self._models):
            state = (
                policy.state
                if policy.state is not None
                else (None if live is None else live.state_dict())
            )
            if state is None:
                raise TrainingError(
                    "No model has been trained yet: start training and let it run at least one step."
                )
            model = UNet(self.unet.for_channels(len(group)))
            model.load_state_dict({k: v.detach().cpu() for k, v in state.items()})
            models.append(model)
        history = dict(self.history, best_step=self.best_step, best_val_loss=self.best_val_loss)
        # measured once, when a model is first asked for (off the GUI thread)
        if self._intensity is None:
            self._intensity = ood.measure(self.views[0], seed=self.config.seed)
        info = {**self.info, "device": str(self.device), ood.INFO_KEY: self._intensity.to_dict()}
        if self.ranks.active:
            info["processes"] = self.ranks.world_size
        return Denoiser(
            models,
            self.groups,
            self.norm,
            unet=self.unet,
            axes=self.axes,
            config=self.config,
            noise=self.noise,
            history=history,
            info=info,
        )

    def save_state(self, path: str | os.PathLike) -> Path:
        """Write the resumable state of the run (between steps) to ``path``.

        See :mod:`~napari_n2n.core.training.resume`.

        Parameters
        ----------
        path : str or PathLike
            The state file (``.ckpt``).

        Returns
        -------
        Path
            The file written.
        """
        run = self._live
        if run is None:
            raise TrainingError(
                "There is no training state to save yet: start training and let it run a step."
            )
        kept, _ = self._kept_weights(run)
        path = save_state(
            path,
            self.training_state(run),
            model=run.model.state_dict(),
            optimizer=run.opt.state_dict(),
            kept=kept,
        )
        self._saved_at = (run.group, run.step)
        return path

    def training_state(self, run: ModelRun) -> TrainingState:
        """The JSON document of the run's resumable state, between two steps of ``run``.

        Parameters
        ----------
        run : ModelRun
            The model being trained (:mod:`~napari_n2n.core.training.model_run`).

        Returns
        -------
        TrainingState
            Where the run stands: configuration, architecture, normalisation, step and time,
            the kept weights' entries, the history (see :mod:`~napari_n2n.core.training.resume`).
        """
        _, entries = self._kept_weights(run)
        elapsed, model_elapsed = self._clock.elapsed(run)
        return TrainingState(
            config=self.config.to_dict(),
            unet=self.unet.to_dict(),
            channel_groups=self.groups,
            axes=self.axes,
            normalization=self.norm.to_dict(),
            data=self._fingerprint or views_fingerprint(self.view_sets, self.axes),
            group=run.group,
            step=run.step,
            steps_done=run.offset + run.step,
            elapsed_s=elapsed,
            group_elapsed_s=model_elapsed,
            history=self.history,
            kept=entries,
            world_size=self.ranks.world_size,
            scaler=run.scaler.state_dict(),
            noise=self.noise,
            info=self.info,
            napari_n2n_version=__version__,
        )

    def _kept_weights(self, run: ModelRun) -> tuple[dict, list]:
        """The kept weights a state stores, of the models up to ``run``'s, and their entries."""
        finished = self._clock.completed(run)
        return kept_weights(self._policies, group=run.group, finished=finished)

    # ---- the loop --------------------------------------------------------------------------
    def run(self) -> Iterator[Event]:
        """Train, yielding events.

        A trainer can run again once a run has ended: from where the first started (the same
        seeds, initial model and resumed state), replacing the kept model (a stop asked for
        between runs is dropped).

        Yields
        ------
        Event
            :class:`~napari_n2n.core.events.Started` first, then ``Progress``, ``Validated``,
            ``Preview`` and ``Checkpointed`` as they come, and ``Finished`` last. A state
            that cannot be written (a full disk, another run wrote that file) is a
            ``CheckpointFailed``: the run goes on without writing states and keeps its model.

        Returns
        -------
        Denoiser or None
            The kept model, as ``StopIteration.value`` (``yield from`` gives it); ``None`` if a
            per-channel run stopped before it trained every channel's model.

        Raises
        ------
        TrainingError
            For errors while running (out of memory, device failures, a diverging loss), or if
            the trainer is already running. The model kept so far remains available from
            :meth:`denoiser`.
        """
        if self._running:
            raise TrainingError(
                "This trainer is already running: wait for its run to end before running it again."
            )
        if self._runs:  # a second run starts afresh
            self._stop.clear()
            self._reset()
        self._runs += 1
        self._running = True
        try:
            with cpu_thread_limit(self.device, self.threads):
                return (yield from self._run())
        except N2NError:
            raise
        except (RuntimeError, MemoryError, ValueError, OSError) as exc:
            raise TrainingError.from_exception(exc) from exc
        finally:
            self._running = False

    def _run(self) -> Iterator[Event]:
        n_params = sum(count_parameters(UNet(self.unet.for_channels(len(g)))) for g in self.groups)
        if self.device.type == "cuda" and self._batch_from_preset:
            self._fit_batch()
        cfg = self.config
        resumed = self._resumed.state if self._resumed is not None else None
        self._clock = clock = RunClock(
            cfg,
            n_groups=len(self.groups),
            patches_per_step=cfg.batch_size * self.ranks.world_size,
            patches_per_epoch=[s.train_voxels / float(np.prod(self.patch)) for s in self._samplers],
            elapsed_s=resumed.elapsed_s if resumed else 0.0,
        )
        yield Started(
            total_steps=clock.total_steps,
            device=describe_device(self.device, self.threads),
            n_parameters=n_params,
            patches_per_epoch=clock.patches_per_epoch[0],
            notes=self.notes,
            time_budget_s=clock.time_budget_s,
        )
        # torch imports its compiler when the first optimiser is made (1-3 s, once a process): the
        # clock counts from the end of that import (begun when the Trainer was made), so the
        # time budget goes to training; a stop meanwhile ends the run at its first model
        if self._wait_for_imports():
            clock.start_now()
        # the steps of the models before the resumed one
        done = resumed.steps_done - resumed.step if resumed else 0
        reason = "completed"
        try:
            for gi in range(resumed.group if resumed else 0, len(self.groups)):
                result = yield from self._train_group(gi, done)
                done += result.steps
                # a model that used its share of the time budget leaves the rest to the next
                if result.reason != "completed":
                    reason = result.reason
                if reason == "stopped":
                    break
        except GeneratorExit:  # closed by the consumer: the state so far is still worth keeping
            self._final_checkpoint()
            raise
        elapsed = clock.elapsed_s
        self.history.update(steps_done=done, elapsed_s=elapsed)
        if (event := self._final_checkpoint()) is not None:
            yield event
        psnr, est_psnr, est_err = kept_scores(self.history, self.best_step, self.best_val_loss)
        yield Finished(
            reason=reason,
            steps_done=done,
            best_step=self.best_step,
            best_val_loss=self.best_val_loss,
            elapsed_s=elapsed,
            psnr=psnr,
            estimated_psnr=est_psnr,
            estimated_psnr_stderr=est_err,
        )
        return self.denoiser() if self.has_model else None

    def _fit_batch(self) -> None:
        """On a GPU, shrink the preset's batch until a step fits in its memory."""
        batch, note = fit_batch_to_memory(
            self.unet.for_channels(len(self.groups[0])),
            self._samplers[0],
            self.objective,
            self.device,
            batch=self.config.batch_size,
            amp=self.config.amp,
            ranks=self.ranks,
        )
        if note:
            self.config = self.config.replace(batch_size=batch)
            self.notes = (*self.notes, note)

    def _final_checkpoint(self) -> Checkpointed | CheckpointFailed | None:
        """At the end of a run that did some steps: its state, so that it can be resumed (rank 0 only)."""
        run = self._live
        # nothing new since the last write, or writes failed
        if (
            self._state_file is None
            or self.checkpoint_failure is not None
            or run is None
            or run.offset + run.step == 0
            or self._saved_at == (run.group, run.step)
        ):
            return None
        return self._checkpoint(run)

    def _checkpoint(self, run: ModelRun) -> Checkpointed | CheckpointFailed:
        """Write the state; if that fails, say so and write it no more: the model is kept all the same."""
        step = run.offset + run.step
        try:
            path = self.save_state(self._state_file)
        except OutputError as exc:
            self.checkpoint_failure = str(exc)
            return CheckpointFailed(
                step=step,
                path=str(self.checkpointing.path),
                message=f"{exc} Training goes on without writing its state; the model is kept.",
            )
        self._checkpoint_at = time.perf_counter()
        return Checkpointed(step=step, path=str(path))

    def _train_group(self, gi: int, offset: int) -> Iterator[Event]:
        """Train the model of channel group ``gi``; yields events, returns a :class:`GroupResult`."""
        import torch

        if not self._imported.is_set():  # a stop came while run() waited for the import
            return GroupResult("stopped", 0)
        dev = self.device
        run = self._open(gi, offset)
        _, batch_seed, mask_seed = self._seeds[gi]
        batches = batch_source(
            self._samplers[gi],
            self.config.batch_size,
            dev,
            resident=self.data_on_device,
            randomness=StepRandomness(batch_seed, self.ranks.rank),
            first_step=run.step + 1,
        )
        masks = StepRandomness(mask_seed, self.ranks.rank)
        generator = device_generator(dev, mask_seed)
        cudnn_benchmark = torch.backends.cudnn.benchmark
        # fixed patch shapes: let cuDNN choose
        torch.backends.cudnn.benchmark = dev.type == "cuda" or cudnn_benchmark
        self._preview_at = time.perf_counter()
        self._checkpoint_at = self._preview_at
        policy = self._policies[gi]
        self._validations = ValidationClock(
            every_steps=self.config.validation_every,
            share_s=self._clock.share_s,
            started_s=self._clock.elapsed(run)[1],
        )

        def interrupted() -> bool:
            # on the CPU a stop abandons the step under way (not applied), or a validation (in
            # eval mode) it may cut
            return self._cut_short() or (run.model.training and self._stop.is_set())

        try:
            with stop_inside_steps(run.model, interrupted, enabled=run.interruptible):
                run.model.train()
                reason = yield from self._steps(run, batches, masks, generator)
        except StepInterrupted:  # its update never applied: run.step counts the steps that were
            reason = "stopped"
        except GeneratorExit:  # the consumer closed the generator (e.g. napari's worker.quit())
            policy.finish(run.model, offset + run.step)  # keep the model
            raise
        finally:
            batches.close()
            torch.backends.cudnn.benchmark = cudnn_benchmark  # prediction tiles vary in shape
        if (event := self._validate_last(run, reason)) is not None:
            yield event
        policy.finish(run.model, offset + run.step)
        return GroupResult(reason, run.step)

    def _validate_last(self, run: ModelRun, reason: str) -> Validated | None:
        """At the end of a model's run, validate its last weights (if not validated yet).

        Every run then reports a quality figure and keeps the weights of lowest validation
        loss, as its note says. After a stop the validation has :data:`STOP_VALIDATION_S`
        seconds, so that a stop stays quick (a 3D model on a CPU may not make it); a stopped
        run that writes resumable states does not validate, so that resuming it gives the
        uninterrupted run's history.
        """
        sampler = self._samplers[run.group]
        if (
            not self.ranks.is_main
            or not sampler.has_validation
            or (reason == "stopped" and self.checkpointing is not None)
            or not self._validations.due(run.step, 0.0, last=True)
        ):
            return None
        if reason != "stopped":
            return self._validate(run)
        deadline = time.perf_counter() + STOP_VALIDATION_S

        def late() -> bool:
            return time.perf_counter() > deadline

        # checked between batches and, on the CPU, after every convolution (a batch of 3D
        # patches takes a second there)
        try:
            with stop_inside_steps(run.model, late, enabled=run.interruptible):
                return self._validate(run, should_stop=late)
        except StepInterrupted:
            return None

    def _wait_for_imports(self) -> bool:
        """Wait for :func:`~.model_run.import_ahead`'s import; False if a stop came first.

        Under DDP the processes wait (they must start together).
        """
        while not self._imported.wait(0.05):
            if self._stop.is_set() and not self.ranks.active:
                return False
        return True

    def _open(self, gi: int, offset: int) -> ModelRun:
        """Open the run of channel group ``gi``'s model (a resumed one's as saved)."""
        resumed = self._resumed
        if resumed is not None and resumed.state.group != gi:
            resumed = None
        run = ModelRun.open(
            self.unet.for_channels(len(self.groups[gi])),
            group=gi,
            offset=offset,
            config=self.config,
            seed=self._seeds[gi][0],
            device=self.device,
            ranks=self.ranks,
            resumed=resumed,
            weights=None if self._weights is None else self._weights[gi],
        )
        if gi == 0:  # the first model's time is the run's: its set-up counts in the time budget
            run.t_start = self._clock.started_at
        self._models[gi] = run.model
        self._live = run
        return run

    def _steps(self, run: ModelRun, batches, masks, generator) -> Iterator[Event]:
        """Train one model until its steps, a stop or its time end it; returns which did."""
        import torch

        cfg = self.config
        clock = self._clock
        # reading the loss back syncs a GPU: not every step there
        log_every = 1 if self.device.type == "cpu" else LOSS_READ_EVERY
        vote = distributed.StopVote(self.ranks, self.device, every=log_every)
        loss_sum = torch.zeros((), device=self.device)
        n_sum = 0
        reading = clock.read(run)
        while not reading.completed:
            stop, used = vote(run.step + 1, self._stop.is_set(), reading.used)
            reading = clock.agreed(reading, used)
            # alone, the time budget keeps room for the validation at its end
            reserve = 0.0 if self.ranks.active else self._validations.reserve()
            if stop or reading.used >= 1 - reserve:
                return "stopped" if stop else "time budget"
            step = run.step + 1
            generator.manual_seed(masks.torch_seed(step))
            # the schedule's progress: the fraction the last step's Progress event reported
            progress = reading.model_fraction
            loss = run.train_step(
                self.objective,
                batches.next(should_stop=None if self.ranks.active else self._stop.is_set),
                progress=progress,
                generator=generator,
                lr=cfg.learning_rate * lr_factor(progress, warmup=self._warmup),
            )
            loss_sum += loss.detach().float()
            n_sum += 1
            # the one read of the clock of this step
            reading = clock.read(run)
            self.history.update(steps_done=reading.steps_done, elapsed_s=reading.elapsed_s)
            if step % log_every == 0 or reading.completed:
                mean_loss = float(distributed.mean(loss_sum, self.ranks)) / n_sum
                yield self._progress(mean_loss, run, reading)
                loss_sum.zero_()
                n_sum = 0
            if self.ranks.is_main:  # validation, previews and files are rank 0's
                if step == 1 and (notice := self._few_steps_notice(reading)) is not None:
                    yield notice
                yield from self._between_steps(run, reading)
        return "completed"

    def _few_steps_notice(self, reading: Reading) -> Notice | None:
        """After the first step: a notice if the time budget allows too few steps for a useful model."""
        steps = self._clock.projected_steps(reading)
        if steps is None or steps >= FEW_STEPS:
            return None
        per_step = reading.model_elapsed_s / reading.step
        cfg = self.config
        what = f"a {self.spatial_ndim}D model on {describe_device(self.device, self.threads)}"
        smaller = "a smaller preset" + (" (cpu-tiny)" if cfg.preset != "cpu-tiny" else "")
        needed = fmt_time(ENOUGH_STEPS * per_step * len(self.groups))
        return Notice(
            f"At {per_step:.1f} s a step ({what}), the time budget of "
            f"{fmt_time(self._clock.time_budget_s)} allows only about {steps} steps: too few for "
            f"a useful model (a few hundred at least). What to do: choose {smaller} or smaller "
            f"patches, train on a GPU, or give a longer time budget (about {needed} for "
            f"{ENOUGH_STEPS} steps)."
        )

    def _between_steps(self, run: ModelRun, reading: Reading) -> Iterator[Event]:
        """After a step: validate when due, preview when asked for, write the state when due."""
        step = run.step
        sampler = self._samplers[run.group]
        if sampler.has_validation and self._validations.due(
            step, reading.model_elapsed_s, last=reading.completed
        ):
            if (event := self._validate(run)) is not None:
                yield event
        region = self._preview.get()
        if region is not None and time.perf_counter() - self._preview_at >= self._preview.every_s:
            image = predict_region(
                run.model,
                region,
                norm=self.norm,
                channels=self.groups[run.group],
                has_channel_axis="C" in self.axes,
                spatial_ndim=self.spatial_ndim,
                device=self.device,
            )
            if image is not None:
                yield Preview(step=run.offset + step, image=image)
            self._preview_at = time.perf_counter()
        checkpointing = self.checkpointing
        if (
            self._state_file is not None
            and self.checkpoint_failure is None
            and checkpointing.due(step, time.perf_counter() - self._checkpoint_at)
        ):
            yield self._checkpoint(run)

    def _validate(self, run: ModelRun, should_stop=None) -> Validated | None:
        """Validate ``run``'s model and offer it to its keep-policy; ``None`` if a stop cut it."""
        started = time.perf_counter()
        event = validate_and_offer(
            run.model,
            self._samplers[run.group],
            self.objective,
            self._policies[run.group],
            self.history,
            step=run.offset + run.step,
            batch_size=self.config.batch_size,
            device=self.device,
            data_range=self._data_range,
            scale=float(np.mean(self.norm.scale)),
            should_stop=should_stop or self._cut_short,
            estimates=self._estimates,
            group=run.group,
        )
        if event is not None:
            cost = time.perf_counter() - started
            self._validations.record(run.step, self._clock.elapsed(run)[1], cost_s=cost)
        return event

    def _cut_short(self) -> bool:
        """Whether a validation under way stops.

        It does at a stop, unless the run checkpoints (its state must include every validation).
        """
        return self.checkpointing is None and self._stop.is_set()

    def _progress(self, loss: float, run: ModelRun, reading: Reading) -> Progress:
        """Record the loss of the last steps and describe the run's progress."""
        if not math.isfinite(loss):
            raise TrainingError(
                "Training diverged (the loss became NaN or Inf). Lower the learning rate "
                f"(now {self.config.learning_rate:g}), or check the input for extreme values."
            )
        self.history["step"].append(reading.steps_done)
        self.history["train_loss"].append(loss)
        return self._clock.progress(reading, loss=loss, learning_rate=run.opt.param_groups[0]["lr"])


def patch_shape(
    patch_size: int, spatial_ndim: int, view_sets, *, voxel_size=None
) -> tuple[int, ...]:
    """The training patch: square in 2D; in 3D about a cube in space, its Z side capped at the shallowest volume.

    Parameters
    ----------
    patch_size : int
        The side asked for (``TrainConfig.patch_size``, resolved).
    spatial_ndim : int
        2 or 3.
    view_sets : list
        The trainer's ``[[input, target, clean], ...]`` axis views.
    voxel_size : tuple of float, optional
        ``(z, y, x)``: a z-step ``r`` times the pixel size takes ``patch_size / r`` slices (at
        least 8).

    Returns
    -------
    tuple of int
        ``(Y, X)`` or ``(Z, Y, X)``.
    """
    if spatial_ndim == 3:
        from ..model import anisotropy

        ratio = 1.0 if voxel_size is None else max(anisotropy(voxel_size), 1.0)
        side = max(8, round(patch_size / ratio)) if ratio > 1 else patch_size
        depth = min(side, *(vs[0].spatial_shape[0] for vs in view_sets))
        return (depth, patch_size, patch_size)
    return (patch_size, patch_size)


def train(
    input,
    target=None,
    *,
    axes: str | None = None,
    config: TrainConfig | None = None,
    clean=None,
    noise: dict | None = None,
    callback=None,
    **options,
) -> Denoiser:
    """Train a denoiser and return it (blocking convenience over :class:`Trainer`).

    Ctrl-C stops training and returns the model kept so far.

    Parameters
    ----------
    input : array-like or list
        The noisy input; a list of images trains one model on all (see :class:`Trainer`).
    target : array-like or None, optional
        A second noisy copy (Noise2Noise), the clean image (Noise2Clean) or ``None``
        (Neighbor2Neighbor).
    axes : str, optional
        Axes of ``input`` (``"YX"``, ``"ZYX"``, ``"CYX"``, ...); YX or ZYX if omitted.
    config : TrainConfig, optional
        How to train (default: :class:`TrainConfig`'s).
    clean : array-like, optional
        Clean reference, only to report PSNR on the validation region.
    noise : dict, optional
        The noise model, recorded in the model file.
    callback : callable, optional
        Called with every :class:`~napari_n2n.core.events.Event` as training goes.
    **options
        The other keyword options of :class:`Trainer` (``init``, ``checkpoint``, ``resume``, ...).

    Returns
    -------
    Denoiser
        The kept model.

    Raises
    ------
    TrainingError
        If training fails, or is stopped before a model has trained a step.

    Examples
    --------
    >>> from skimage import data
    >>> from napari_n2n import Gaussian, TrainConfig, psnr, synthesize_pair, train
    >>> clean = data.camera()[:128, :128].astype("float32")
    >>> a, b = synthesize_pair(clean, Gaussian(sigma=25), seed=0)
    >>> config = TrainConfig(preset="cpu-tiny", steps=30, device="cpu", seed=0)
    >>> den = train(a, b, axes="YX", config=config)
    >>> bool(psnr(clean, den.predict(a)) > psnr(clean, a) + 5)
    True
    """
    trainer = Trainer(input, target, axes=axes, config=config, clean=clean, noise=noise, **options)
    gen = trainer.run()
    try:
        for event in gen:
            if callback is not None:
                callback(event)
    except KeyboardInterrupt:
        trainer.request_stop()
        gen.close()
    return trainer.denoiser()
