"""Training as a generator of typed events.

:class:`Trainer` runs Noise2Noise / Noise2Clean / Neighbor2Neighbor training and yields small
frozen event objects (:class:`Started`, :class:`Progress`, :class:`Validated`,
:class:`Preview`, :class:`Finished`) that a GUI or the command line consumes. Stopping is
cooperative: :meth:`Trainer.request_stop` (or closing the generator) ends the run at the next
step, and :meth:`Trainer.denoiser` always returns the best model so far.

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
from dataclasses import dataclass, field
from typing import Iterator, Union

import numpy as np

from .axes import AxisView, default_axes, validate_axes
from .config import TrainConfig
from .data import Normalization, PatchSampler, ResidentPatchSampler, can_be_resident, check_finite, device_generator
from .denoiser import Denoiser
from .device import amp_dtype, describe_device, select_device
from .errors import InputError, N2NError, TrainingError
from .losses import neighbor2neighbor_loss, pixel_loss
from .model import UNet, UNetConfig, count_parameters


# ---- events ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Started:
    total_steps: int
    device: str
    n_parameters: int
    patches_per_epoch: float
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Progress:
    step: int
    total_steps: int
    epoch: float
    train_loss: float
    patches_per_s: float
    elapsed_s: float
    eta_s: float
    learning_rate: float
    #: fraction of the run done (by steps, or by time when a time budget ends it sooner)
    fraction: float = 0.0


@dataclass(frozen=True)
class Validated:
    step: int
    val_loss: float
    psnr: float | None
    is_best: bool


@dataclass(frozen=True)
class Preview:
    step: int
    image: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class Finished:
    reason: str  # "completed", "stopped" or "time budget"
    steps_done: int
    best_step: int
    best_val_loss: float | None
    elapsed_s: float


Event = Union[Started, Progress, Validated, Preview, Finished]


# ---- helpers ------------------------------------------------------------------------------
def _lr_factor(progress: float, warmup: float = 0.02) -> float:
    """Learning-rate multiplier at ``progress`` (0 → 1): linear warm-up, then cosine decay to 2 %."""
    if progress < warmup:
        return 0.05 + 0.95 * progress / warmup
    t = (progress - warmup) / (1 - warmup)
    return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))


class _Prefetcher:
    """Draws batches on a background thread so the device does not wait for numpy.

    For a CUDA device the batches are put in pinned (page-locked) memory on that thread, so
    the copy to the GPU is asynchronous and does not wait for the GPU's queued work.
    """

    def __init__(self, sampler: PatchSampler, batch_size: int, device, depth: int = 2):
        import queue

        self._q: "queue.Queue" = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._sampler, self._bs = sampler, batch_size
        self._device = device
        self._pin = device.type == "cuda"
        self._thread = threading.Thread(target=self._work, daemon=True, name="n2n-prefetch")
        self._thread.start()

    def _work(self):
        while not self._stop.is_set():
            try:
                item = self._sampler.sample_batch(self._bs)
                if self._pin:
                    item = tuple(None if a is None else _torch().from_numpy(a).pin_memory() for a in item)
            except BaseException as exc:  # handed to the consumer
                item = exc
            while not self._stop.is_set():
                try:
                    self._q.put(item, timeout=0.1)
                    break
                except Exception:
                    continue
            if isinstance(item, BaseException):
                return

    def next(self):
        """The next batch ``(x, y)`` as tensors on the device (``y`` None for single-image mode)."""
        item = self._q.get()
        if isinstance(item, BaseException):
            raise item
        torch = _torch()
        return tuple(None if a is None else (a if isinstance(a, torch.Tensor) else torch.from_numpy(a))
                     .to(self._device, non_blocking=True) for a in item)

    def close(self):
        self._stop.set()
        self._thread.join(timeout=2)


class _ResidentBatches:
    """Batches from a :class:`ResidentPatchSampler`: drawn on the device, in the training thread."""

    def __init__(self, sampler: ResidentPatchSampler, batch_size: int):
        self._sampler, self._bs = sampler, batch_size

    def next(self):
        return self._sampler.sample_batch(self._bs)

    def close(self):
        pass


def _torch():
    import torch

    return torch


# ---- trainer ------------------------------------------------------------------------------
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
    config : TrainConfig
    clean : array-like, optional
        Clean reference, only used to report PSNR on the validation region.
    noise : dict, optional
        Description of the noise (stored in the model file).
    """

    def __init__(self, input, target=None, *, axes: str | None = None, config: TrainConfig | None = None,
                 clean=None, noise: dict | None = None):
        self.config = config = config or TrainConfig()
        for name, arr in (("input", input), ("target", target), ("clean", clean)):
            if arr is not None and (not hasattr(arr, "shape") or getattr(arr, "dtype", np.dtype("O")).kind not in "biuf"):
                raise InputError(f"The {name} image must be a numeric array (got {type(arr).__name__}).")
        self.axes = validate_axes(axes, input.ndim) if axes else default_axes(input.ndim)
        if config.mode == "nb2nb":
            if target is not None:
                raise InputError("Single-image mode (nb2nb) takes no target; remove the target or choose mode n2n.")
        elif target is None:
            raise InputError(
                f"Mode {config.mode} needs a target image (the second noisy copy for n2n, the clean image for n2c). "
                "With only one noisy image, choose mode nb2nb."
            )
        for name, arr in (("target", target), ("clean", clean)):
            if arr is not None and tuple(arr.shape) != tuple(input.shape):
                raise InputError(
                    f"The {name} image has shape {tuple(arr.shape)} but the input has {tuple(input.shape)}; "
                    "a pair must show the same scene with the same shape."
                )
        for arr in (input, target, clean):
            if arr is not None:
                check_finite(arr)
        self.spatial_ndim = 3 if "Z" in self.axes else 2
        self._notes: list[str] = []
        if config.mode == "nb2nb" and self.spatial_ndim == 3:
            self._notes.append("3D single-image mode sub-samples in Y and X only")
        self.input, self.target, self.clean, self.noise = input, target, clean, noise
        self.views = [AxisView(a, self.axes, self.spatial_ndim) if a is not None else None for a in (input, target, clean)]
        vin = self.views[0]
        fit_views = [v for v in self.views[:2] if v is not None and not (config.mode == "n2c" and v is self.views[1])]
        self.norm = Normalization.fit(fit_views, seed=config.seed)
        if config.channels == "separate":
            self.groups = [[c] for c in range(vin.n_channels)]
        else:
            self.groups = [list(range(vin.n_channels))]
        depth = config.depth or (4 if self.spatial_ndim == 2 else 3)
        base = config.base_channels or (32 if self.spatial_ndim == 2 else 16)
        self.unet = UNetConfig(in_channels=vin.n_channels, out_channels=vin.n_channels, ndim=self.spatial_ndim,
                               depth=depth, base_channels=base)
        p = config.patch_size
        self.patch = (min(p, vin.spatial_shape[0]),) + (p, p) if self.spatial_ndim == 3 else (p, p)
        self.device = select_device(config.device)
        self._stop = threading.Event()
        self._preview: tuple | None = None
        self._preview_every_s = 2.0
        self.history: dict = {"step": [], "train_loss": [], "val_step": [], "val_loss": [], "val_psnr": [],
                              "steps_done": 0, "elapsed_s": 0.0}
        self._best_states: list = [None] * len(self.groups)
        self._models: list = [None] * len(self.groups)
        self.best_step = 0
        self.best_val_loss: float | None = None
        self._best_metric: dict[int, float] = {}
        self._data_range = self._clean_range()
        # build the samplers now, so size errors surface before the run starts
        self._samplers = [self._make_sampler(g, i) for i, g in enumerate(self.groups)]
        self.data_on_device = self._choose_residency()

    def _choose_residency(self) -> bool:
        """Whether training batches are cut on the device from a resident copy of the data."""
        wanted = self.config.data_on_device
        if wanted is False:
            return False
        ok, why = can_be_resident(self._samplers[0], self.device)
        if wanted is None and self.device.type != "cuda":
            # on the CPU, numpy patches from a background thread cost no more (measured); keep
            # memory low. Apple MPS shares memory with the host and is not measured: stream there too
            return False
        if ok or wanted is True:
            self._notes.append(why if ok else why + " (data_on_device=True: copied anyway)")
            return True
        self._notes.append(why)
        return False

    def _clean_range(self) -> float | None:
        if self.clean is None:
            return None
        c = np.asarray(self.clean) if isinstance(self.clean, np.ndarray) else None
        if c is not None:
            return float(c.max() - c.min())
        v = self.views[2]
        block = v.read(v.n_samples // 2)
        return float(block.max() - block.min())

    def _make_sampler(self, channels: list[int], index: int) -> PatchSampler:
        cfg = self.config
        vin, vtgt, vclean = self.views
        return PatchSampler(
            vin, vtgt, vclean, patch=self.patch, norm=self.norm, channels=channels,
            val_fraction=cfg.val_fraction, nb2nb=cfg.mode == "nb2nb", augment=cfg.augment,
            symmetric=cfg.symmetric and cfg.mode == "n2n", seed=cfg.seed + 1000 * index,
        )

    # ---- control (thread-safe) ------------------------------------------------------------
    def request_stop(self) -> None:
        """Ask the run to stop at the next step; the best model so far is kept."""
        self._stop.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def set_preview(self, region, *, every_s: float = 2.0) -> None:
        """Ask for a :class:`Preview` of the current model on ``region`` every ``every_s`` seconds.

        ``region`` has the input's axes minus the sample axes (e.g. ``YX``, ``CYX`` or ``ZYX``);
        ``None`` turns previews off.
        """
        self._preview = None if region is None else (np.asarray(region, dtype=np.float32),)
        self._preview_every_s = float(every_s)

    # ---- results ------------------------------------------------------------------------------
    def denoiser(self) -> Denoiser:
        """The best model so far (by validation loss) as a :class:`Denoiser`."""
        models = []
        for i, g in enumerate(self.groups):
            sub = UNetConfig(**{**self.unet.to_dict(), "in_channels": len(g), "out_channels": len(g)})
            m = UNet(sub)
            state = self._best_states[i]
            if state is None and self._models[i] is not None:
                state = self._models[i].state_dict()
            if state is None:
                raise TrainingError("No model has been trained yet: start training and let it run at least one step.")
            m.load_state_dict({k: v.detach().cpu() for k, v in state.items()})
            models.append(m)
        history = dict(self.history, best_step=self.best_step, best_val_loss=self.best_val_loss)
        return Denoiser(models, self.groups, self.norm, unet=self.unet, axes=self.axes, config=self.config,
                        noise=self.noise, history=history, info={"device": str(self.device)})

    # ---- the loop --------------------------------------------------------------------------
    def run(self) -> Iterator[Event]:
        """Train, yielding events; returns (as ``StopIteration.value``) the best :class:`Denoiser`.

        Errors raised while running (out of memory, device failures) come out as
        :class:`TrainingError`; the best model so far remains available from :meth:`denoiser`.
        """
        try:
            return (yield from self._run())
        except N2NError:
            raise
        except (RuntimeError, MemoryError, ValueError, OSError) as exc:
            raise TrainingError.from_exception(exc) from exc

    def _run(self) -> Iterator[Event]:
        import torch

        cfg = self.config
        torch.manual_seed(cfg.seed)
        n_groups = len(self.groups)
        total = cfg.steps * n_groups
        notes = list(dict.fromkeys([*self._notes, *(n for s in self._samplers for n in s.notes)]))
        per_epoch = self._samplers[0].train_voxels / float(np.prod(self.patch))
        n_params = sum(count_parameters(UNet(UNetConfig(**{**self.unet.to_dict(), "in_channels": len(g),
                                                              "out_channels": len(g)}))) for g in self.groups)
        yield Started(total_steps=total, device=describe_device(self.device), n_parameters=n_params,
                      patches_per_epoch=per_epoch, notes=tuple(notes))
        t0 = time.perf_counter()
        done = 0
        reason = "completed"
        for gi, group in enumerate(self.groups):
            reason = yield from self._train_group(gi, group, done, total, t0)
            done += self.history["_group_steps"]
            if reason != "completed":
                break
        self.history.pop("_group_steps", None)
        elapsed = time.perf_counter() - t0
        self.history["steps_done"] = done
        self.history["elapsed_s"] = elapsed
        yield Finished(reason=reason, steps_done=done, best_step=self.best_step,
                       best_val_loss=self.best_val_loss, elapsed_s=elapsed)
        return self.denoiser()

    def _train_group(self, gi: int, group: list[int], offset: int, total: int, t0: float):
        import torch

        cfg = self.config
        dev = self.device
        sampler = self._samplers[gi]
        torch.manual_seed(cfg.seed + gi)
        sub = UNetConfig(**{**self.unet.to_dict(), "in_channels": len(group), "out_channels": len(group)})
        model = UNet(sub).to(dev)
        self._models[gi] = model
        on_cuda = dev.type == "cuda"
        # fused Adam: one kernel for all parameters instead of several per tensor
        opt = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate, betas=(0.9, 0.99),
                               **({"fused": True} if on_cuda else {}))
        use_amp = cfg.amp and on_cuda
        adt = amp_dtype(dev)
        scaler = torch.amp.GradScaler("cuda", enabled=use_amp and adt == torch.float16)
        gen = device_generator(dev, cfg.seed + 17 + gi)
        cudnn_benchmark = torch.backends.cudnn.benchmark
        if on_cuda:  # fixed patch shapes: let cuDNN pick the fastest convolution algorithms
            torch.backends.cudnn.benchmark = True
        val_every = cfg.val_every or max(10, cfg.steps // 20)
        log_every = 1 if dev.type == "cpu" else 10
        last_preview = time.perf_counter()
        loss_acc = torch.zeros((), device=dev)
        n_acc = 0
        reason = "completed"
        step = 0
        if self.data_on_device:
            batches = _ResidentBatches(ResidentPatchSampler(sampler, dev, seed=cfg.seed + 1000 * gi), cfg.batch_size)
        else:
            batches = _Prefetcher(sampler, cfg.batch_size, dev)
        t_group = time.perf_counter()
        # a time budget is shared equally by the models of a per-channel run
        budget = cfg.time_budget_s / len(self.groups) if cfg.time_budget_s else None
        try:
            model.train()
            for step in range(1, cfg.steps + 1):
                if self._stop.is_set():
                    reason, step = "stopped", step - 1
                    break
                if budget is not None and time.perf_counter() - t_group >= budget:
                    reason, step = "time budget", step - 1
                    break
                progress = self._progress(step - 1, t_group, budget)
                for g in opt.param_groups:
                    g["lr"] = cfg.learning_rate * _lr_factor(progress)
                xt, yt = batches.next()
                with torch.autocast(dev.type, enabled=use_amp, dtype=adt):
                    if cfg.mode == "nb2nb":
                        loss = neighbor2neighbor_loss(model, xt, gamma=cfg.nb2nb_gamma, generator=gen)
                    else:
                        loss = pixel_loss(model(xt).float(), yt, cfg.loss, progress=progress)
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
                loss_acc += loss.detach().float()
                n_acc += 1
                if step % log_every == 0 or step == cfg.steps:
                    value = float(loss_acc) / n_acc
                    if not math.isfinite(value):
                        raise TrainingError(
                            "Training diverged (the loss became NaN or Inf). Lower the learning rate "
                            f"(now {cfg.learning_rate:g}), or check the input for extreme values."
                        )
                    loss_acc.zero_()
                    n_acc = 0
                    self.history["step"].append(offset + step)
                    self.history["train_loss"].append(value)
                    now = time.perf_counter()
                    elapsed = now - t0
                    rate = step * cfg.batch_size / max(now - t_group, 1e-9)
                    remaining = (total - offset - step) * cfg.batch_size / max(rate, 1e-9)
                    if budget is not None:
                        remaining = min(remaining, max(budget * len(self.groups) - elapsed, 0.0))
                    yield Progress(step=offset + step, total_steps=total,
                                   epoch=step * cfg.batch_size / max(sampler.train_voxels / np.prod(self.patch), 1e-9),
                                   train_loss=value, patches_per_s=rate, elapsed_s=elapsed, eta_s=remaining,
                                   learning_rate=opt.param_groups[0]["lr"],
                                   fraction=(offset + self._progress(step, t_group, budget) * cfg.steps) / total)
                if step % val_every == 0 or step == cfg.steps:
                    event = self._validate(model, sampler, gi, offset + step)
                    if event is not None:
                        yield event
                if self._preview is not None and time.perf_counter() - last_preview >= self._preview_every_s:
                    image = self._predict_preview(model, group)
                    if image is not None:
                        yield Preview(step=offset + step, image=image)
                    last_preview = time.perf_counter()
        except GeneratorExit:
            # the consumer closed the generator (e.g. napari worker.quit()): keep the best model
            reason = "stopped"
            self._keep_latest_or_best(gi, model, offset + step)
            raise
        finally:
            batches.close()
            # prediction runs on tiles of varying shape: leave the global setting as it was
            torch.backends.cudnn.benchmark = cudnn_benchmark
        self._keep_latest_or_best(gi, model, offset + step)
        self.history["_group_steps"] = step
        return reason

    def _progress(self, step: int, t_start: float, budget: float | None) -> float:
        """Fraction of one model's run done: by steps, or by time when a time budget ends it sooner."""
        p = step / self.config.steps
        if budget:
            p = max(p, (time.perf_counter() - t_start) / budget)
        return min(p, 1.0)

    def _keep_latest_or_best(self, gi: int, model, step: int) -> None:
        """At the end of a model's run (or stop): keep its weights unless validation chose others.

        Without a validation band the latest weights are kept. Choosing by the training loss
        instead kept early snapshots when the targets are noisy (camera, Poisson peak 5, 3000
        N2N steps: 24.10 dB for the snapshot of lowest training loss, 24.87 dB for the last
        weights; ``benchmarks/steps_curve.py``).
        """
        validated = self._samplers[gi].has_validation
        if validated and self._best_states[gi] is not None:
            return  # the weights of lowest validation loss are kept
        self._keep(gi, model)
        if not validated:
            self.best_step = step

    def _keep(self, gi: int, model) -> None:
        """Snapshot ``model``'s weights (on the host) as the ones :meth:`denoiser` returns."""
        self._best_states[gi] = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}

    def _validate(self, model, sampler: PatchSampler, gi: int, step: int):
        import torch

        cfg = self.config
        if not sampler.has_validation:
            # nothing held out to choose by: the latest weights are kept (_keep_latest_or_best)
            return None
        model.eval()
        losses, sq_err, n_pix = [], 0.0, 0
        with torch.no_grad():
            for x, y, c in sampler.validation_batches(cfg.batch_size):
                if self._stop.is_set():
                    model.train()
                    return None
                xt = torch.from_numpy(x).to(self.device)
                if cfg.mode == "nb2nb":
                    g = torch.Generator().manual_seed(0)
                    losses.append(float(neighbor2neighbor_loss(model, xt, gamma=0.0, generator=g)))
                    pred = model(xt)
                else:
                    pred = model(xt)
                    yt = torch.from_numpy(y).to(self.device)
                    losses.append(float(pixel_loss(pred, yt, "l1" if cfg.loss == "l0" else cfg.loss)))
                if c is not None:
                    sq_err += float((pred.float().cpu() - torch.from_numpy(c)).square().sum())
                    n_pix += c.size
        model.train()
        val_loss = float(np.mean(losses))
        psnr = None
        if n_pix and self._data_range:
            scale = float(np.mean(self.norm.scale))
            mse = sq_err / n_pix * scale**2
            psnr = float(10 * np.log10(self._data_range**2 / max(mse, 1e-20)))
        is_best = val_loss < self._best_metric.get(gi, math.inf)
        if is_best:
            self._best_metric[gi] = val_loss
            self._keep(gi, model)
            self.best_step = step
            self.best_val_loss = val_loss
        self.history["val_step"].append(step)
        self.history["val_loss"].append(val_loss)
        self.history["val_psnr"].append(psnr)
        return Validated(step=step, val_loss=val_loss, psnr=psnr, is_best=is_best)

    def _predict_preview(self, model, group: list[int]):
        import torch

        (region,) = self._preview
        nd = self.spatial_ndim
        has_c = "C" in self.axes
        arr = region if has_c else region[None]
        if arr.ndim != nd + 1:
            return None
        arr = arr[group] if has_c else arr
        x = torch.from_numpy(np.ascontiguousarray(self.norm.apply(arr, group)[None], dtype=np.float32)).to(self.device)
        model.eval()
        with torch.no_grad():
            y = self.norm.undo(model(x)[0].float().cpu().numpy(), group)
        model.train()
        return y if has_c else y[0]


def train(input, target=None, *, axes: str | None = None, config: TrainConfig | None = None, clean=None,
          noise: dict | None = None, callback=None) -> Denoiser:
    """Train a denoiser and return it (blocking convenience over :class:`Trainer`).

    ``callback(event)`` is called with every event. Ctrl-C stops training and returns the
    best model so far.

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
