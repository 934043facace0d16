"""Training as a generator of typed events.

:class:`Trainer` runs Noise2Noise / Noise2Clean / Neighbor2Neighbor training and yields small
frozen event objects (:mod:`napari_n2n.core.events`) that a GUI or the command line consumes.
Its pieces live in their own modules: batch sources (``batches``), the mode's objective
(``objectives``), the learning-rate schedule (``schedule``), the kept weights (``selection``),
previews (``preview``), starting from a model (``start``), resumable states (``resume``),
other processes under ``torchrun`` (``distributed``) and one model's network, optimiser and
step (``model_run``). :meth:`Trainer.request_stop` (or closing the generator) ends the run at
the next step, on the CPU inside the step (``interrupt``; that step is not applied), and
:meth:`Trainer.denoiser` always returns the kept model so far.

Examples
--------
>>> trainer = Trainer(noisy_a, noisy_b, axes="YX", config=TrainConfig(steps=500))  # doctest: +SKIP
>>> for event in trainer.run():                                                    # doctest: +SKIP
...     print(event)
>>> denoiser = trainer.denoiser()                                                  # doctest: +SKIP
"""

from __future__ import annotations

import copy
import math
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..axes import default_axes, validate_axes
from ..config import TrainConfig
from ..data.normalization import Normalization
from ..data.outliers import outlier_note
from ..data.pairs import Pair
from ..device import cpu_thread_limit, describe_device
from ..errors import N2NError, TrainingError
from ..events import Checkpointed, Event, Finished, Preview, Progress, Started
from ..inference import ood
from ..inference.denoiser import Denoiser
from ..model import UNet, count_parameters
from ..progress import progress_event
from . import distributed
from .acceleration import fit_batch_to_memory
from .batches import StepRandomness, batch_source, choose_residency, device_generator
from .interrupt import StepInterrupted, stop_inside_steps
from .model_run import GroupResult, ModelRun
from .multi_image import sampler_for, training_sets, training_views
from .objectives import objective_for
from .presets import describe_config
from .preview import PreviewSlot, predict_region
from .resume import Checkpointing, load_state, restore_kept, views_fingerprint, write_state
from .sampling import PatchSampler
from .schedule import lr_factor, warmup_for
from .selection import PsnrEstimates, data_range, new_history, policy_for, validate_and_offer
from .start import AUTO, DEFAULT_INIT_NORMALIZATION, InitNormalization, plan_start


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
    """

    def __init__(
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
    ):
        config = config or TrainConfig()
        sets = training_sets(
            input, target, clean, mode=config.mode
        )  # one image, or several (see multi_image)
        input, target, clean = sets[0]
        self.axes = validate_axes(axes, input.ndim) if axes else default_axes(input.ndim)
        self.spatial_ndim = 3 if "Z" in self.axes else 2
        self.input, self.target, self.clean, self.noise = input, target, clean, noise
        self.view_sets = training_views(
            sets, self.axes, self.spatial_ndim
        )  # [[input, target, clean], ...]
        self.views = self.view_sets[0]
        # Noise2Clean's target is clean: the normalisation is fitted to the noisy data only
        fit = [
            v
            for vs in self.view_sets
            for v in vs[: 1 + (target is not None and config.mode != "n2c")]
        ]
        self.ranks = distributed.current()
        self.device = distributed.device_for(config.device, self.ranks)
        self.threads = distributed.cpu_share(
            self.ranks, config.threads
        )  # on the CPU, shared by the processes
        self.checkpointing = checkpoint
        if checkpoint is not None and self.ranks.is_main:
            checkpoint.check()  # its folder, before the run
        self._batch_from_preset = (
            config.batch_size is None and resume is None
        )  # may shrink to fit a GPU
        self._data = (
            views_fingerprint(self.view_sets, self.axes) if (checkpoint or resume) else None
        )
        self._resumed = load_state(resume) if resume is not None else None
        plan = plan_start(
            config,
            n_channels=self.views[0].n_channels,
            spatial_ndim=self.spatial_ndim,
            axes=self.axes,
            device_type=self.device.type,
            init=init,
            init_normalization=init_normalization,
            resumed=self._resumed,
            resume_path=resume,
            data=self._data,
            world_size=self.ranks.world_size,
            resume_anyway=resume_anyway,
        )
        self.config = config = plan.config
        self.unet, self.groups, self._weights, self.info = (
            plan.unet,
            plan.groups,
            plan.weights,
            plan.info,
        )
        self.norm = plan.norm or Normalization.fit(fit, seed=config.seed)
        self._warmup = warmup_for(
            config.steps, fine_tune="init_from" in self.info
        )  # a resumed fine-tune's too
        p = config.patch_size
        self.patch = (
            (min(p, *(vs[0].spatial_shape[0] for vs in self.view_sets)), p, p)
            if self.spatial_ndim == 3
            else (p, p)
        )
        # one independent seed per model and purpose, all from the one seed of the config
        *group_seeds, val_seed = np.random.SeedSequence(config.seed).spawn(len(self.groups) + 1)
        self._seeds = [
            s.generate_state(3).tolist() for s in group_seeds
        ]  # initial weights, batches, masks
        self.objective = objective_for(config, validation_seed=int(val_seed.generate_state(1)[0]))
        self._stop = threading.Event()
        self._preview = PreviewSlot()
        self._runs, self._running = 0, False
        self._intensity: ood.IntensityStats | None = (
            None  # of the input, for the out-of-distribution check
        )
        self._data_range = None if clean is None else data_range(clean, self.views[2])
        self._estimates = PsnrEstimates(
            config, self.norm
        )  # Noise2Noise: the PSNR without a clean image
        self._reset()  # the samplers are built now, so size errors surface before the run starts
        self.data_on_device, residency_note = choose_residency(
            self._samplers[0], self.device, config.data_on_device
        )
        notes = [
            outlier_note(self.norm.outliers, loss=config.loss, mode=config.mode),
            describe_config(config, self.spatial_ndim),
            *plan.notes,
            distributed.note(self.ranks, config.batch_size),
            *(n for s in self._samplers for n in s.notes),
            self._policies[0].note,
            residency_note,
        ]
        if config.mode == "nb2nb" and self.spatial_ndim == 3:
            notes.insert(0, "3D single-image mode sub-samples in Y and X only")
        self.notes = tuple(dict.fromkeys(n for n in notes if n))

    @classmethod
    def from_pair(cls, pair: Pair, *, config: TrainConfig | None = None) -> Trainer:
        """A trainer for a :class:`~napari_n2n.core.data.pairs.Pair` (its mode unless ``config`` says otherwise)."""
        return cls(
            pair.input,
            pair.target,
            axes=pair.axes,
            config=config or TrainConfig(mode=pair.mode),
            clean=pair.clean,
            noise=pair.noise,
        )

    def _reset(self) -> None:
        """The state of a run that has not started: samplers, kept weights and history, a resumed run's as saved."""
        resumed, cfg = self._resumed, self.config
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
        self._live, self._saved_at = (
            None,
            (resumed.state.group, resumed.state.step) if resumed else None,
        )

    # ---- control (thread-safe) ------------------------------------------------------------
    def request_stop(self) -> None:
        """Ask the run to stop at the next step; the kept model so far remains available."""
        self._stop.set()

    stop_requested = property(
        lambda self: self._stop.is_set(), doc="Whether a stop has been asked for."
    )

    def set_preview(self, region, *, every_s: float = 2.0) -> None:
        """Ask for a :class:`~napari_n2n.core.events.Preview` of ``region`` every ``every_s`` seconds.

        ``region`` has the input's axes minus the sample axes (e.g. ``YX``, ``CYX`` or ``ZYX``);
        ``None`` turns previews off. Safe to call from any thread.
        """
        self._preview.put(region, every_s=every_s)

    # ---- results ------------------------------------------------------------------------------
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
        return self._policies[-1].best_val_loss

    def denoiser(self) -> Denoiser:
        """The kept model so far as a :class:`~napari_n2n.core.inference.denoiser.Denoiser`."""
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
        if (
            self._intensity is None
        ):  # measured once, when a model is first asked for (off the GUI thread)
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
        """Write the resumable state of the run (between steps) to ``path``; see :mod:`~napari_n2n.core.training.resume`."""
        run = self._live
        if run is None:
            raise TrainingError(
                "There is no training state to save yet: start training and let it run a step."
            )
        path = write_state(path, self, run)
        self._saved_at = (run.group, run.step)
        return path

    # ---- the loop --------------------------------------------------------------------------
    def run(self) -> Iterator[Event]:
        """Train, yielding events; returns (as ``StopIteration.value``) the kept :class:`Denoiser`
        (``None`` if a per-channel run stopped before it trained every channel's model).

        Errors while running (out of memory, device failures) come out as :class:`TrainingError`;
        the model kept so far remains available from :meth:`denoiser`. A trainer can run again
        once a run has ended: from where the first started (the same seeds, initial model and
        resumed state), replacing the kept model (a stop asked for between runs is dropped).
        """
        if self._running:
            raise TrainingError(
                "This trainer is already running: wait for its run to end before running it again."
            )
        if self._runs:  # a second run starts afresh
            self._stop.clear()
            self._reset()
        self._runs, self._running = self._runs + 1, True
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
        cfg = self.config
        total = cfg.steps * len(self.groups)
        n_params = sum(count_parameters(UNet(self.unet.for_channels(len(g)))) for g in self.groups)
        if self.device.type == "cuda" and self._batch_from_preset:
            batch, note = fit_batch_to_memory(
                self.unet.for_channels(len(self.groups[0])),
                self._samplers[0],
                self.objective,
                self.device,
                batch=cfg.batch_size,
                amp=cfg.amp,
                ranks=self.ranks,
            )
            if note:
                self.config, self.notes = cfg.replace(batch_size=batch), (*self.notes, note)
                cfg = self.config
        yield Started(
            total_steps=total,
            device=describe_device(self.device, self.threads),
            n_parameters=n_params,
            patches_per_epoch=self._samplers[0].train_voxels / float(np.prod(self.patch)),
            notes=self.notes,
        )
        resumed = self._resumed.state if self._resumed is not None else None
        self._t0 = time.perf_counter() - (resumed.elapsed_s if resumed else 0.0)
        done, reason = (resumed.steps_done - resumed.step if resumed else 0), "completed"
        try:
            for gi in range(resumed.group if resumed else 0, len(self.groups)):
                result = yield from self._train_group(gi, done, total)
                done += result.steps
                reason = result.reason
                if reason != "completed":
                    break
        except GeneratorExit:  # closed by the consumer: the state so far is still worth keeping
            self._final_checkpoint()
            raise
        elapsed = time.perf_counter() - self._t0
        self.history.update(steps_done=done, elapsed_s=elapsed)
        if (event := self._final_checkpoint()) is not None:
            yield event
        yield Finished(
            reason=reason,
            steps_done=done,
            best_step=self.best_step,
            best_val_loss=self.best_val_loss,
            elapsed_s=elapsed,
        )
        return self.denoiser() if self.has_model else None

    def _final_checkpoint(self) -> Checkpointed | None:
        """At the end of a run that did some steps: its state, so that it can be resumed (rank 0 only)."""
        run = self._live
        if (
            self.checkpointing is None
            or not self.ranks.is_main
            or run is None
            or run.offset + run.step == 0
            or self._saved_at == (run.group, run.step)
        ):  # nothing new since the last write
            return None
        return Checkpointed(
            step=run.offset + run.step, path=str(self.save_state(self.checkpointing.path))
        )

    def _train_group(self, gi: int, offset: int, total: int) -> Iterator[Event]:
        """Train the model of channel group ``gi``; yields events, returns a :class:`GroupResult`."""
        import torch

        cfg, dev, sampler, policy, main = (
            self.config,
            self.device,
            self._samplers[gi],
            self._policies[gi],
            self.ranks.is_main,
        )
        resumed = (
            self._resumed if self._resumed is not None and self._resumed.state.group == gi else None
        )
        run = ModelRun.open(
            self.unet.for_channels(len(self.groups[gi])),
            group=gi,
            offset=offset,
            config=cfg,
            seed=self._seeds[gi][0],
            device=dev,
            ranks=self.ranks,
            resumed=resumed,
            weights=None if self._weights is None else self._weights[gi],
        )
        self._models[gi], self._live = run.model, run
        _, batch_seed, mask_seed = self._seeds[gi]
        masks, generator = (
            StepRandomness(mask_seed, self.ranks.rank),
            device_generator(dev, mask_seed),
        )
        batches = batch_source(
            sampler,
            cfg.batch_size,
            dev,
            resident=self.data_on_device,
            randomness=StepRandomness(batch_seed, self.ranks.rank),
            first_step=run.step + 1,
        )
        cudnn_benchmark = torch.backends.cudnn.benchmark
        torch.backends.cudnn.benchmark = (
            dev.type == "cuda" or cudnn_benchmark
        )  # fixed patch shapes: let cuDNN choose
        val_every = cfg.val_every or max(10, cfg.steps // 20)
        log_every = (
            1 if dev.type == "cpu" else 10
        )  # reading the loss back syncs a GPU: not every step there
        vote = distributed.StopVote(self.ranks, dev, every=log_every)
        loss_sum, n_sum = torch.zeros((), device=dev), 0
        reason = "completed"
        # a time budget is shared equally by the models of a per-channel run
        budget = cfg.time_budget_s / len(self.groups) if cfg.time_budget_s else None
        last_preview = last_checkpoint = time.perf_counter()
        # a stop cuts a validation short, unless the run checkpoints: its state must include every validation
        cut_short = self._stop.is_set if self.checkpointing is None else (lambda: False)
        try:  # on the CPU a stop abandons the step under way (not applied), or a validation (in eval mode) it may cut
            with stop_inside_steps(
                run.model,
                lambda: cut_short() or (run.model.training and self._stop.is_set()),
                enabled=run.interruptible,
            ):
                run.model.train()
                for step in range(run.step + 1, cfg.steps + 1):
                    stop, used = vote(
                        step,
                        self._stop.is_set(),
                        (time.perf_counter() - run.t_start) / budget if budget else 0.0,
                    )
                    if stop or used >= 1:
                        reason = "stopped" if stop else "time budget"
                        break
                    progress = min(max((step - 1) / cfg.steps, used), 1.0)
                    generator.manual_seed(masks.torch_seed(step))
                    loss = run.train_step(
                        self.objective,
                        batches.next(),
                        progress=progress,
                        generator=generator,
                        lr=cfg.learning_rate * lr_factor(progress, warmup=self._warmup),
                    )
                    self.history.update(
                        steps_done=offset + step, elapsed_s=time.perf_counter() - self._t0
                    )
                    loss_sum += loss.detach().float()
                    n_sum += 1
                    if step % log_every == 0 or step == cfg.steps:
                        yield self._progress(
                            float(distributed.mean(loss_sum, self.ranks)) / n_sum,
                            run,
                            total,
                            budget,
                            sampler,
                        )
                        loss_sum, n_sum = loss_sum.zero_(), 0
                    if not main:  # validation, previews and files are rank 0's
                        continue
                    if sampler.has_validation and (step % val_every == 0 or step == cfg.steps):
                        event = validate_and_offer(
                            run.model,
                            sampler,
                            self.objective,
                            policy,
                            self.history,
                            step=offset + step,
                            batch_size=cfg.batch_size,
                            device=dev,
                            data_range=self._data_range,
                            scale=float(np.mean(self.norm.scale)),
                            should_stop=cut_short,
                            estimates=self._estimates,
                            group=gi,
                        )
                        if event is not None:
                            yield event
                    region = self._preview.get()
                    if (
                        region is not None
                        and time.perf_counter() - last_preview >= self._preview.every_s
                    ):
                        image = predict_region(
                            run.model,
                            region,
                            norm=self.norm,
                            channels=self.groups[gi],
                            has_channel_axis="C" in self.axes,
                            spatial_ndim=self.spatial_ndim,
                            device=dev,
                        )
                        if image is not None:
                            yield Preview(step=offset + step, image=image)
                        last_preview = time.perf_counter()
                    if self.checkpointing and self.checkpointing.due(
                        step, time.perf_counter() - last_checkpoint
                    ):
                        yield Checkpointed(
                            step=offset + step, path=str(self.save_state(self.checkpointing.path))
                        )
                        last_checkpoint = time.perf_counter()
        except StepInterrupted:  # its update never applied: run.step counts the steps that were
            reason = "stopped"
        except (
            GeneratorExit
        ):  # the consumer closed the generator (e.g. napari's worker.quit()): keep the model
            policy.finish(run.model, offset + run.step)
            raise
        finally:
            batches.close()
            torch.backends.cudnn.benchmark = cudnn_benchmark  # prediction tiles vary in shape
        policy.finish(run.model, offset + run.step)
        return GroupResult(reason, run.step)

    def _progress(
        self, loss: float, run: ModelRun, total: int, budget: float | None, sampler: PatchSampler
    ) -> Progress:
        """Record the loss of the last steps and describe the run's progress."""
        if not math.isfinite(loss):
            raise TrainingError(
                "Training diverged (the loss became NaN or Inf). Lower the learning rate "
                f"(now {self.config.learning_rate:g}), or check the input for extreme values."
            )
        self.history["step"].append(run.offset + run.step)
        self.history["train_loss"].append(loss)
        return progress_event(
            self.config,
            loss=loss,
            step=run.step,
            offset=run.offset,
            total=total,
            t0=self._t0,
            t_group=run.t_start,
            budget=budget,
            n_groups=len(self.groups),
            learning_rate=run.opt.param_groups[0]["lr"],
            processes=self.ranks.world_size,
            patches_per_epoch=sampler.train_voxels / float(np.prod(self.patch)),
        )


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

    ``callback(event)`` is called with every event; ``options`` are the other keyword options
    of :class:`Trainer` (``init``, ``checkpoint``, ``resume``, ...). Ctrl-C stops training and
    returns the model kept so far.

    Examples
    --------
    >>> from skimage import data
    >>> from napari_n2n import Gaussian, synthesize_pair, train, TrainConfig
    >>> a, b = synthesize_pair(data.camera(), Gaussian(sigma=25), seed=0)
    >>> den = train(a, b, config=TrainConfig(steps=300))     # doctest: +SKIP
    >>> denoised = den.predict(a)                             # doctest: +SKIP
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
