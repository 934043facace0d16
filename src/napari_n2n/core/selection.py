"""Which weights a training run keeps, and the validation pass that decides it.

Two policies, one per situation, each with the note the user sees:

* with a held-out validation region (:attr:`PatchSampler.has_validation
  <napari_n2n.core.sampling.PatchSampler.has_validation>`), the weights of lowest validation
  loss are kept (:class:`KeepBestValidated`);
* without one, the latest weights are kept (:class:`KeepLatest`). Choosing by the training loss
  instead kept early snapshots when the targets are noisy (camera, Poisson peak 5, 3,000 N2N
  steps: 24.10 dB for the snapshot of lowest training loss, 24.87 dB for the last weights;
  ``benchmarks/steps_curve.py``, docs/benchmarks.md @ 6587ee1).

:func:`validate` scores a model on the held-out patches with the run's objective and, when a
clean reference was given, its PSNR (through :func:`napari_n2n.core.metrics.psnr_from_mse`).
For Noise2Noise it also estimates the PSNR *without* a clean image, from the error against the
held-out noisy target minus that target's noise variance (:mod:`napari_n2n.core.estimate`),
in both directions (A → B and B → A), which cancels most of the sampling noise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .estimate import EstimatedQuality, NoisyTargetMSE, pair_data_range
from .metrics import psnr_from_mse
from .normalization import Normalization
from .sampling import PatchSampler


@dataclass(frozen=True)
class ValidationResult:
    """Validation loss of the model, its PSNR against the clean reference (``None`` without one),
    and its PSNR estimated from the noisy target (``None`` unless asked for)."""

    loss: float
    psnr: float | None
    estimate: EstimatedQuality | None = None


def validate(model, sampler: PatchSampler, objective, *, batch_size: int, device, data_range: float | None,
             scale: float, should_stop: Callable[[], bool] = lambda: False,
             estimate_with: Normalization | None = None,
             estimate_range: float | None = None) -> ValidationResult | None:
    """Score ``model`` on ``sampler``'s validation patches; ``None`` if stopped meanwhile.

    ``scale`` converts squared errors of normalised values back to the image's units (the mean
    normalisation scale) for the PSNR, whose peak is ``data_range`` (the clean image's range).

    With ``estimate_with`` (the run's normalisation; for Noise2Noise with zero-mean noise, where
    the target is a second noisy copy) the PSNR against the unseen clean image is estimated from
    the noisy target, in image units, relative to ``data_range`` or, without a clean reference,
    to ``estimate_range`` (the range the run fixed at its first validation; when ``None``,
    :func:`~napari_n2n.core.estimate.pair_data_range` of the region: read it back from
    ``result.estimate.data_range`` and pass it next time).
    """
    import torch

    model.eval()
    losses, sq_err, n_pix = [], 0.0, 0
    acc = NoisyTargetMSE() if estimate_with is not None else None
    pairs: list[tuple[np.ndarray, np.ndarray]] = []
    try:
        with torch.no_grad():
            for x, y, clean in sampler.validation_batches(batch_size):
                if should_stop():
                    return None
                xt = torch.from_numpy(x).to(device)
                yt = None if y is None else torch.from_numpy(y).to(device)
                loss, pred = objective.validation(model, xt, yt)
                losses.append(float(loss))
                if clean is not None:
                    sq_err += float((pred.float().cpu() - torch.from_numpy(clean)).square().sum())
                    n_pix += clean.size
                if acc is not None and y is not None:
                    off, sc = estimate_with.shaped(sampler.channels, x.ndim - 2)
                    fx = pred.float().cpu().numpy()
                    acc.add(fx, y, x, scale=sc)
                    acc.add(model(yt).float().cpu().numpy(), x, y, scale=sc)  # and B -> A
                    if not data_range and estimate_range is None:
                        pairs.append((x * sc + off, y * sc + off))
    finally:
        model.train()
    psnr = None
    if n_pix and data_range:
        psnr = psnr_from_mse(sq_err / n_pix * scale**2, data_range)
    estimate = None
    if acc is not None and acc.n:
        rng = data_range or estimate_range or pair_data_range(np.concatenate([p[0] for p in pairs]),
                                                              np.concatenate([p[1] for p in pairs]))
        estimate = acc.estimate(data_range=rng)
    return ValidationResult(float(np.mean(losses)), psnr, estimate)


def snapshot(model) -> dict:
    """A copy of ``model``'s weights on the host (safe to keep while training goes on)."""
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


class KeepLatest:
    """Keep the weights of the last step (there is nothing held out to choose by)."""

    note = "no validation region: the latest weights are kept"

    def __init__(self):
        self.state: dict | None = None
        self.best_step = 0
        self.best_val_loss: float | None = None

    def offer(self, model, step: int, result: ValidationResult) -> bool:
        """A validation result: whether the weights are kept because of it (never, here)."""
        return False

    def finish(self, model, step: int) -> None:
        """At the end of the run (or a stop): keep the current weights."""
        self.state = snapshot(model)
        self.best_step = step


class KeepBestValidated(KeepLatest):
    """Keep the weights of lowest validation loss (the latest ones until a validation ran)."""

    note = "the weights of lowest validation loss are kept"

    def offer(self, model, step: int, result: ValidationResult) -> bool:
        """Keep ``model``'s weights if ``result`` is the best so far; return whether it was."""
        if result.loss < (self.best_val_loss if self.best_val_loss is not None else math.inf):
            self.state = snapshot(model)
            self.best_step = step
            self.best_val_loss = result.loss
            return True
        return False

    def finish(self, model, step: int) -> None:
        if self.state is None:  # stopped before the first validation: the latest weights
            super().finish(model, step)


def policy_for(sampler: PatchSampler) -> KeepLatest | KeepBestValidated:
    """The selection policy that suits ``sampler``: by validation where it holds a region out."""
    return KeepBestValidated() if sampler.has_validation else KeepLatest()
