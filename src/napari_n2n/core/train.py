"""Training as a generator of typed events.

:class:`Trainer` runs Noise2Noise / Noise2Clean / Neighbor2Neighbor training and yields small
frozen event objects (:mod:`napari_n2n.core.events`) that a GUI or the command line consumes.
The pieces it puts together each live in their own module: the batch sources
(:mod:`~napari_n2n.core.batches`), the objective of the mode (:mod:`~napari_n2n.core.objectives`),
the learning-rate schedule (:mod:`~napari_n2n.core.schedule`), which weights are kept
(:mod:`~napari_n2n.core.selection`) and live previews (:mod:`~napari_n2n.core.preview`).
Stopping is cooperative: :meth:`Trainer.request_stop` (or closing the generator) ends the run
at the next step, and :meth:`Trainer.denoiser` always returns the kept model so far.

Examples
--------
>>> trainer = Trainer(noisy_a, noisy_b, axes="YX", config=TrainConfig(steps=500))  # doctest: +SKIP
>>> for event in trainer.run():                                                    # doctest: +SKIP
...     print(event)
>>> denoiser = trainer.denoiser()                                                  # doctest: +SKIP
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .acceleration import fit_batch, maybe_compile
from .axes import AxisView, default_axes, validate_axes
from .batches import batch_source, choose_residency, device_generator
from .checks import require_finite, require_numeric, require_same_shape
from .config import TrainConfig
from .denoiser import Denoiser
from .device import amp_dtype, cpu_thread_limit, describe_device, select_device
from .errors import InputError, N2NError, TrainingError
from .events import Event, Finished, FinishReason, Preview, Progress, Started, Validated
from .model import UNet, UNetConfig, count_parameters
from .normalization import Normalization
from .objectives import objective_for
from .pairs import Pair
from .presets import describe_config, resolve
from .preview import PreviewSlot, predict_region
from .sampling import PatchSampler
from .schedule import lr_factor
from .selection import policy_for, validate


@dataclass(frozen=True)
class GroupResult:
    """How the run of one model (one channel group) ended."""

    reason: FinishReason
    steps: int


class Trainer:
    """Train a denoiser on a noisy pair (or a noisy image and its clean version, or one noisy image).

    Parameters
    ----------
    input : array-like
        The noisy input (numpy, dask, zarr, memmap).
    target : array-like or None
        Noise2Noise: a second noisy copy of the same scene. Noise2Clean: the clean image.
        Neighbor2Neighbor (``mode="nb2nb"``): ``None``.
    axes : str, optional
        Axes of ``input`` (``"YX"``, ``"ZYX"``, ``"TYX"``, ``"CYX"``, ``"SYX"``, ...); inferred
        for 2D (YX) and 3D (ZYX) arrays when omitted. ``Z`` makes a 3D model.
    config : TrainConfig, optional
        How to train (defaults: :class:`TrainConfig`).
    clean : array-like, optional
        Clean reference, only used to report PSNR on the validation region.
    noise : dict, optional
        Description of the noise (stored in the model file).
    """

    def __init__(self, input, target=None, *, axes: str | None = None, config: TrainConfig | None = None,
                 clean=None, noise: dict | None = None):
        config = config or TrainConfig()
        input = require_numeric(input, "the input")
        target = None if target is None else require_numeric(target, "the target")
        clean = None if clean is None else require_numeric(clean, "the clean image")
        self.axes = validate_axes(axes, input.ndim) if axes else default_axes(input.ndim)
        if config.mode == "nb2nb" and target is not None:
            raise InputError("Single-image mode (nb2nb) takes no target; remove the target or choose mode n2n.")
        if config.mode != "nb2nb" and target is None:
            raise InputError(
                f"Mode {config.mode} needs a target image (the second noisy copy for n2n, the clean image for n2c). "
                "With only one noisy image, choose mode nb2nb."
            )
        for name, arr in (("the target", target), ("the clean image", clean)):
            if arr is not None:
                require_same_shape(input, arr, names=("the input", name))
        for name, arr in (("the input", input), ("the target", target), ("the clean image", clean)):
            require_finite(arr, name)
        self.spatial_ndim = 3 if "Z" in self.axes else 2
        self.device = select_device(config.device)
        # the options left unset come from the device's preset (or the one named)
        self._batch_from_preset = config.batch_size is None  # may shrink to fit a GPU's memory
        self.config = config = resolve(config, device_type=self.device.type, spatial_ndim=self.spatial_ndim)
        self.input, self.target, self.clean, self.noise = input, target, clean, noise
        self.views = [None if a is None else AxisView(a, self.axes, self.spatial_ndim) for a in (input, target, clean)]
        # Noise2Clean's target is clean: the normalisation is fitted to the noisy data only
        fit = [self.views[0]] + ([self.views[1]] if target is not None and config.mode != "n2c" else [])
        self.norm = Normalization.fit(fit, seed=config.seed)
        n_channels = self.views[0].n_channels
        self.groups = [[c] for c in range(n_channels)] if config.channels == "separate" else [list(range(n_channels))]
        self.unet = UNetConfig(in_channels=n_channels, out_channels=n_channels, ndim=self.spatial_ndim,
                               depth=config.depth or (4 if self.spatial_ndim == 2 else 3),
                               base_channels=config.base_channels or (32 if self.spatial_ndim == 2 else 16),
                               padding=config.padding)
        p = config.patch_size
        self.patch = (min(p, self.views[0].spatial_shape[0]), p, p) if self.spatial_ndim == 3 else (p, p)
        # one independent seed per model and purpose, all from the one seed of the config
        *group_seeds, val_seed = np.random.SeedSequence(config.seed).spawn(len(self.groups) + 1)
        self._seeds = [s.generate_state(4).tolist() for s in group_seeds]  # init, sampler, device, resident
        self.objective = objective_for(config, validation_seed=int(val_seed.generate_state(1)[0]))
        self._stop = threading.Event()
        self._preview = PreviewSlot()
        self.history: dict = {"step": [], "train_loss": [], "val_step": [], "val_loss": [], "val_psnr": [],
                              "val_est_psnr": [], "val_est_psnr_stderr": [], "steps_done": 0, "elapsed_s": 0.0}
        # the PSNR can be estimated from a noisy target (Noise2Noise) when the noise is zero-mean (L2-type loss)
        self.estimates = config.mode == "n2n" and config.loss in ("l2", "hdr")
        self._estimate_ranges: dict[int, float] = {}
        self._models: list = [None] * len(self.groups)
        self._data_range = self._clean_range()
        # the samplers are built now, so size errors surface before the run starts
        self._samplers = [self._make_sampler(g, seeds[1]) for g, seeds in zip(self.groups, self._seeds)]
        self._policies = [policy_for(s) for s in self._samplers]
        self.data_on_device, residency_note = choose_residency(self._samplers[0], self.device, config.data_on_device)
        notes = [describe_config(config, self.spatial_ndim), *(n for s in self._samplers for n in s.notes),
                 self._policies[0].note, residency_note]
        if config.mode == "nb2nb" and self.spatial_ndim == 3:
            notes.insert(0, "3D single-image mode sub-samples in Y and X only")
        self.notes = tuple(dict.fromkeys(n for n in notes if n))

    @classmethod
    def from_pair(cls, pair: Pair, *, config: TrainConfig | None = None) -> Trainer:
        """A trainer for a :class:`~napari_n2n.core.pairs.Pair` (its mode unless ``config`` says otherwise)."""
        config = config or TrainConfig(mode=pair.mode)
        return cls(pair.input, pair.target, axes=pair.axes, config=config, clean=pair.clean, noise=pair.noise)

    def _clean_range(self) -> float | None:
        if self.clean is None:
            return None
        if isinstance(self.clean, np.ndarray):
            return float(self.clean.max() - self.clean.min())
        block = self.views[2].read(self.views[2].n_samples // 2)  # lazy: one sample stands for all
        return float(block.max() - block.min())

    def _make_sampler(self, channels: list[int], seed: int) -> PatchSampler:
        cfg = self.config
        return PatchSampler(*self.views, patch=self.patch, norm=self.norm, channels=channels,
                            val_fraction=cfg.val_fraction, nb2nb=cfg.mode == "nb2nb", augment=cfg.augment,
                            symmetric=cfg.symmetric and cfg.mode == "n2n", seed=seed)

    # ---- control (thread-safe) ------------------------------------------------------------
    def request_stop(self) -> None:
        """Ask the run to stop at the next step; the kept model so far remains available."""
        self._stop.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

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
    def best_val_loss(self) -> float | None:
        return self._policies[-1].best_val_loss

    def denoiser(self) -> Denoiser:
        """The kept model so far as a :class:`~napari_n2n.core.denoiser.Denoiser`."""
        models = []
        for group, policy, live in zip(self.groups, self._policies, self._models):
            state = policy.state if policy.state is not None else (None if live is None else live.state_dict())
            if state is None:
                raise TrainingError("No model has been trained yet: start training and let it run at least one step.")
            model = UNet(self.unet.for_channels(len(group)))
            model.load_state_dict({k: v.detach().cpu() for k, v in state.items()})
            models.append(model)
        history = dict(self.history, best_step=self.best_step, best_val_loss=self.best_val_loss)
        return Denoiser(models, self.groups, self.norm, unet=self.unet, axes=self.axes, config=self.config,
                        noise=self.noise, history=history, info={"device": str(self.device)})

    # ---- the loop --------------------------------------------------------------------------
    def run(self) -> Iterator[Event]:
        """Train, yielding events; returns (as ``StopIteration.value``) the kept :class:`Denoiser`.

        Errors raised while running (out of memory, device failures) come out as
        :class:`~napari_n2n.core.errors.TrainingError`; the model kept so far remains
        available from :meth:`denoiser`.
        """
        try:
            with cpu_thread_limit(self.device, self.config.threads):
                return (yield from self._run())
        except N2NError:
            raise
        except (RuntimeError, MemoryError, ValueError, OSError) as exc:
            raise TrainingError.from_exception(exc) from exc

    def _run(self) -> Iterator[Event]:
        cfg = self.config
        total = cfg.steps * len(self.groups)
        n_params = sum(count_parameters(UNet(self.unet.for_channels(len(g)))) for g in self.groups)
        if self.device.type == "cuda" and self._batch_from_preset:
            self._fit_batch_to_memory()
            cfg = self.config
        yield Started(total_steps=total, device=describe_device(self.device, cfg.threads), n_parameters=n_params,
                      patches_per_epoch=self._samplers[0].train_voxels / float(np.prod(self.patch)), notes=self.notes)
        t0 = time.perf_counter()
        done, reason = 0, "completed"
        for gi in range(len(self.groups)):
            result = yield from self._train_group(gi, done, total, t0)
            done += result.steps
            reason = result.reason
            if reason != "completed":
                break
        elapsed = time.perf_counter() - t0
        self.history.update(steps_done=done, elapsed_s=elapsed)
        yield Finished(reason=reason, steps_done=done, best_step=self.best_step, best_val_loss=self.best_val_loss,
                       elapsed_s=elapsed)
        return self.denoiser()

    def _train_group(self, gi: int, offset: int, total: int, t0: float) -> Iterator[Event]:
        """Train the model of channel group ``gi``; yields events, returns a :class:`GroupResult`."""
        import torch

        cfg, dev, sampler, policy = self.config, self.device, self._samplers[gi], self._policies[gi]
        init_seed, _, device_seed, resident_seed = self._seeds[gi]
        with torch.random.fork_rng(devices=[]):  # seeded initial weights, without touching the global seed
            torch.manual_seed(init_seed)
            model = UNet(self.unet.for_channels(len(self.groups[gi]))).to(dev)
        self._models[gi] = model
        net = maybe_compile(model, cfg.compile)  # what the training steps call (validation uses model)
        on_cuda = dev.type == "cuda"
        # fused Adam: one kernel for all parameters instead of several per tensor
        opt = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate, betas=(0.9, 0.99),
                               **({"fused": True} if on_cuda else {}))
        use_amp, adt = cfg.amp and on_cuda, amp_dtype(dev)
        scaler = torch.amp.GradScaler("cuda", enabled=use_amp and adt == torch.float16)
        generator = device_generator(dev, device_seed)
        cudnn_benchmark = torch.backends.cudnn.benchmark
        torch.backends.cudnn.benchmark = on_cuda or cudnn_benchmark  # fixed patch shapes: let cuDNN choose
        val_every = cfg.val_every or max(10, cfg.steps // 20)
        log_every = 1 if dev.type == "cpu" else 10  # reading the loss back syncs a GPU: not every step there
        loss_sum, n_sum = torch.zeros((), device=dev), 0
        reason, step = "completed", 0
        batches = batch_source(sampler, cfg.batch_size, dev, resident=self.data_on_device, seed=resident_seed)
        # a time budget is shared equally by the models of a per-channel run
        budget = cfg.time_budget_s / len(self.groups) if cfg.time_budget_s else None
        t_group = last_preview = time.perf_counter()
        try:
            model.train()
            for step in range(1, cfg.steps + 1):
                if self._stop.is_set() or (budget is not None and time.perf_counter() - t_group >= budget):
                    reason, step = ("stopped" if self._stop.is_set() else "time budget"), step - 1
                    break
                progress = self._fraction(step - 1, t_group, budget)
                for g in opt.param_groups:
                    g["lr"] = cfg.learning_rate * lr_factor(progress)
                x, y = batches.next()
                with torch.autocast(dev.type, enabled=use_amp, dtype=adt):
                    loss = self.objective.loss(net, x, y, progress=progress, generator=generator)
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
                loss_sum += loss.detach().float()
                n_sum += 1
                if step % log_every == 0 or step == cfg.steps:
                    yield self._progress(float(loss_sum) / n_sum, step, offset, total, t0, t_group, budget,
                                         opt.param_groups[0]["lr"], sampler)
                    loss_sum.zero_()
                    n_sum = 0
                if step % val_every == 0 or step == cfg.steps:
                    result = validate(model, sampler, self.objective, batch_size=cfg.batch_size, device=dev,
                                      data_range=self._data_range, scale=float(np.mean(self.norm.scale)),
                                      should_stop=self._stop.is_set,
                                      estimate_with=self.norm if self.estimates else None,
                                      estimate_range=self._estimate_ranges.get(gi)) \
                        if sampler.has_validation else None
                    if result is not None:
                        is_best = policy.offer(model, offset + step, result)
                        est = result.estimate
                        if est is not None:  # one range per run (per model), so the estimates compare
                            self._estimate_ranges.setdefault(gi, est.data_range)
                        est_psnr, est_err = (est.psnr, est.psnr_stderr) if est else (None, None)
                        for key, value in (("val_step", offset + step), ("val_loss", result.loss),
                                           ("val_psnr", result.psnr), ("val_est_psnr", est_psnr),
                                           ("val_est_psnr_stderr", est_err)):
                            self.history[key].append(value)
                        yield Validated(step=offset + step, val_loss=result.loss, psnr=result.psnr, is_best=is_best,
                                        estimated_psnr=est_psnr, estimated_psnr_stderr=est_err)
                region = self._preview.get()
                if region is not None and time.perf_counter() - last_preview >= self._preview.every_s:
                    image = predict_region(model, region, norm=self.norm, channels=self.groups[gi],
                                           has_channel_axis="C" in self.axes, spatial_ndim=self.spatial_ndim,
                                           device=dev)
                    if image is not None:
                        yield Preview(step=offset + step, image=image)
                    last_preview = time.perf_counter()
        except GeneratorExit:  # the consumer closed the generator (e.g. napari's worker.quit()): keep the model
            policy.finish(model, offset + step)
            raise
        finally:
            batches.close()
            torch.backends.cudnn.benchmark = cudnn_benchmark  # prediction tiles vary in shape
        policy.finish(model, offset + step)
        return GroupResult(reason, step)

    def _fit_batch_to_memory(self) -> None:
        """On a GPU, shrink a preset's batch until one training step fits in memory (noted in the run's notes)."""
        import dataclasses

        import torch

        model = UNet(self.unet.for_channels(len(self.groups[0]))).to(self.device)
        sampler, cfg = self._samplers[0], self.config

        def try_step(b: int) -> None:
            x, y = (None if v is None else torch.from_numpy(v).to(self.device) for v in sampler.sample_batch(b))
            try:
                with torch.autocast("cuda", enabled=cfg.amp, dtype=amp_dtype(self.device)):
                    loss = self.objective.loss(model, x, y, progress=0.0, generator=None)
                loss.backward()
            finally:
                model.zero_grad(set_to_none=True)

        batch, note = fit_batch(try_step, cfg.batch_size)
        if note:
            self.config = dataclasses.replace(cfg, batch_size=batch)
            self.notes = (*self.notes, note)

    def _progress(self, loss: float, step: int, offset: int, total: int, t0: float, t_group: float,
                  budget: float | None, lr: float, sampler: PatchSampler) -> Progress:
        """Record the loss of the last steps and describe the run's progress."""
        if not math.isfinite(loss):
            raise TrainingError("Training diverged (the loss became NaN or Inf). Lower the learning rate "
                                f"(now {self.config.learning_rate:g}), or check the input for extreme values.")
        cfg = self.config
        self.history["step"].append(offset + step)
        self.history["train_loss"].append(loss)
        now = time.perf_counter()
        rate = step * cfg.batch_size / max(now - t_group, 1e-9)
        remaining = (total - offset - step) * cfg.batch_size / max(rate, 1e-9)
        if budget is not None:
            remaining = min(remaining, max(budget * len(self.groups) - (now - t0), 0.0))
        per_epoch = max(sampler.train_voxels / float(np.prod(self.patch)), 1e-9)
        return Progress(step=offset + step, total_steps=total, epoch=step * cfg.batch_size / per_epoch,
                        train_loss=loss, patches_per_s=rate, elapsed_s=now - t0, eta_s=remaining, learning_rate=lr,
                        fraction=(offset + self._fraction(step, t_group, budget) * cfg.steps) / total)

    def _fraction(self, step: int, t_start: float, budget: float | None) -> float:
        """Fraction of one model's run done: by steps, or by time when a time budget ends it sooner."""
        p = step / self.config.steps
        if budget:
            p = max(p, (time.perf_counter() - t_start) / budget)
        return min(p, 1.0)


def train(input, target=None, *, axes: str | None = None, config: TrainConfig | None = None, clean=None,
          noise: dict | None = None, callback=None) -> Denoiser:
    """Train a denoiser and return it (blocking convenience over :class:`Trainer`).

    ``callback(event)`` is called with every event. Ctrl-C stops training and returns the
    model kept so far.

    Examples
    --------
    >>> from skimage import data
    >>> from napari_n2n import Gaussian, synthesize_pair, train, TrainConfig
    >>> a, b = synthesize_pair(data.camera(), Gaussian(sigma=25), seed=0)
    >>> den = train(a, b, config=TrainConfig(steps=300))     # doctest: +SKIP
    >>> denoised = den.predict(a)                             # doctest: +SKIP
    """
    trainer = Trainer(input, target, axes=axes, config=config, clean=clean, noise=noise)
    gen = trainer.run()
    try:
        for event in gen:
            if callback is not None:
                callback(event)
    except KeyboardInterrupt:
        trainer.request_stop()
        gen.close()
    return trainer.denoiser()
