"""Which weights a training run keeps, and the validation pass that decides it.

Two policies, one per situation, each with the note the user sees:

* with a held-out validation region (:attr:`PatchSampler.has_validation
  <napari_n2n.core.training.sampling.PatchSampler.has_validation>`), the weights of lowest validation
  loss are kept (:class:`KeepBestValidated`);
* without one, the latest weights are kept (:class:`KeepLatest`). Choosing by the training loss
  instead kept early snapshots when the targets are noisy (camera, Poisson peak 5, 3,000 N2N
  steps: 24.10 dB for the snapshot of lowest training loss, 24.87 dB for the last weights;
  ``benchmarks/steps_curve.py``, docs/benchmarks.md @ 6587ee1).

:func:`validate` scores a model on the held-out patches with the run's objective and, when a
clean reference was given, its PSNR (through :func:`napari_n2n.core.metrics.psnr_from_mse`).
For Noise2Noise it also estimates the PSNR *without* a clean image, from the error against the
held-out noisy target minus that target's noise variance (:mod:`napari_n2n.core.inference.estimate`),
in both directions (A → B and B → A), which cancels most of the sampling noise.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..data.normalization import Normalization
from ..events import Validated
from ..inference.estimate import EstimatedQuality, NoisyTargetMSE, pair_data_range
from ..metrics import psnr_from_mse
from .sampling import PatchSampler


@dataclass(frozen=True)
class ValidationResult:
    """The scores of one validation.

    Attributes
    ----------
    loss : float
        The validation loss of the model.
    psnr : float or None
        Its PSNR against the clean reference; ``None`` without one.
    estimate : EstimatedQuality or None
        Its PSNR estimated from the noisy target; ``None`` unless asked for.
    """

    loss: float
    psnr: float | None
    estimate: EstimatedQuality | None = None


def validate(  # noqa: PLR0913  one validation pass: the model, its data and the run's policy
    model,
    sampler: PatchSampler,
    objective,
    *,
    batch_size: int,
    device,
    data_range: float | None,
    scale: float,
    should_stop: Callable[[], bool] = lambda: False,
    estimate_with: Normalization | None = None,
    estimate_range: float | None = None,
) -> ValidationResult | None:
    """Score a model on a sampler's validation patches.

    Parameters
    ----------
    model : torch.nn.Module
        The network.
    sampler : PatchSampler
        Gives the validation patches.
    objective : Objective
        The mode's objective (its validation loss).
    batch_size : int
        Patches per forward pass.
    device : torch.device
        Where the model is.
    data_range : float or None
        The clean image's range: the PSNR's peak; ``None`` without a clean reference.
    scale : float
        Converts squared errors of normalised values back to the image's units (the mean
        normalisation scale) for the PSNR.
    should_stop : callable, optional
        Returning True abandons the validation.
    estimate_with : Normalization, optional
        The run's normalisation: estimate the PSNR against the unseen clean image from the
        noisy target, in image units (for Noise2Noise with zero-mean noise, where the target is
        a second noisy copy).
    estimate_range : float, optional
        The estimate's range without a clean reference: the one the run fixed at its first
        validation; when ``None``, :func:`~napari_n2n.core.inference.estimate.pair_data_range`
        of the region (read it back from ``result.estimate.data_range`` and pass it next time).

    Returns
    -------
    ValidationResult or None
        The scores; ``None`` if stopped meanwhile.
    """
    import torch

    model.eval()
    losses = []
    sq_err = 0.0
    n_pix = 0
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
        rng = (
            data_range
            or estimate_range
            or pair_data_range(
                np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs])
            )
        )
        estimate = acc.estimate(data_range=rng)
    return ValidationResult(float(np.mean(losses)), psnr, estimate)


class PsnrEstimates:
    """The PSNR a run estimates without a clean image, model by model.

    Only Noise2Noise with an L2-type loss (``l2``, ``hdr``) estimates it: the target is then a
    second noisy copy whose noise is zero-mean. Not with registered targets: interpolation
    changed their noise, and their masked (NaN) pixels hold none. The data range of each model's estimates is
    fixed at its first validation, so that the estimates of one run compare.

    Parameters
    ----------
    config : TrainConfig
        The run's options (its mode and loss).
    norm : Normalization
        The run's normalisation.
    """

    def __init__(self, config, norm: Normalization):
        estimates = config.mode == "n2n" and config.loss in ("l2", "hdr")
        self.norm = norm if estimates and config.register == "none" else None
        self.ranges: dict[int, float] = {}

    def options(self, group: int) -> dict:
        """The estimate options of :func:`validate` for a model.

        Parameters
        ----------
        group : int
            The model's channel group.

        Returns
        -------
        dict
            ``estimate_with`` and ``estimate_range``; empty when the run estimates nothing.
        """
        return (
            {}
            if self.norm is None
            else {"estimate_with": self.norm, "estimate_range": self.ranges.get(group)}
        )

    def record(self, group: int, result: ValidationResult) -> tuple[float | None, float | None]:
        """Fix the model's data range at its first estimate.

        Parameters
        ----------
        group : int
            The model's channel group.
        result : ValidationResult
            Its validation.

        Returns
        -------
        tuple
            ``(estimated PSNR, its standard error)``, or ``(None, None)``.
        """
        est = result.estimate
        if est is None:
            return None, None
        self.ranges.setdefault(group, est.data_range)
        return est.psnr, est.psnr_stderr


#: the lists of a training history, one value per validation (besides ``step`` and ``train_loss``)
VALIDATION_KEYS = ("val_step", "val_loss", "val_psnr", "val_est_psnr", "val_est_psnr_stderr")


def new_history() -> dict:
    """The training history of a run that has not started.

    Returns
    -------
    dict
        Empty lists of losses and scores, no steps and no time (see
        :class:`~napari_n2n.core.checkpoint.ModelFile`).
    """
    return {
        "step": [],
        "train_loss": [],
        **{k: [] for k in VALIDATION_KEYS},
        "steps_done": 0,
        "elapsed_s": 0.0,
    }


def validate_and_offer(
    model,
    sampler: PatchSampler,
    objective,
    policy,
    history: dict,
    *,
    step: int,
    estimates: PsnrEstimates | None = None,
    group: int = 0,
    **options,
) -> Validated | None:
    """Validate a model, offer it to its keep-policy, and record it in the history.

    Parameters
    ----------
    model : torch.nn.Module
        The network.
    sampler : PatchSampler
        Gives the validation patches.
    objective : Objective
        The mode's objective.
    policy : KeepLatest or KeepBestValidated
        The model's keep-policy.
    history : dict
        The run's history, appended to.
    step : int
        The step of the run.
    estimates : PsnrEstimates, optional
        Of a Noise2Noise run: the PSNR is also estimated without a clean image.
    group : int, optional
        The model's channel group.
    **options
        As for :func:`validate`.

    Returns
    -------
    Validated or None
        The event, or ``None`` if stopped meanwhile.
    """
    result = validate(
        model, sampler, objective, **options, **(estimates.options(group) if estimates else {})
    )
    if result is None:
        return None
    is_best = policy.offer(model, step, result)
    est_psnr, est_err = estimates.record(group, result) if estimates else (None, None)
    n = len(history["val_step"])
    for key, value in zip(VALIDATION_KEYS, (step, result.loss, result.psnr, est_psnr, est_err)):
        # a history saved before estimates: None before
        history.setdefault(key, [None] * n).append(value)
    return Validated(
        step=step,
        val_loss=result.loss,
        psnr=result.psnr,
        is_best=is_best,
        estimated_psnr=est_psnr,
        estimated_psnr_stderr=est_err,
    )


def kept_scores(
    history: dict, step: int, val_loss: float | None
) -> tuple[float | None, float | None, float | None]:
    """The scores of the kept weights, from a run's history.

    Parameters
    ----------
    history : dict
        The run's history (see :func:`new_history`).
    step : int
        The step whose weights are kept.
    val_loss : float or None
        Their validation loss; ``None`` when no validation chose them (nothing to report).

    Returns
    -------
    tuple
        ``(PSNR, estimated PSNR, its standard error)``, each ``None`` when not measured.

    Examples
    --------
    >>> h = dict(new_history(), val_step=[10, 20], val_loss=[0.2, 0.1], val_psnr=[None, None],
    ...          val_est_psnr=[25.0, 27.5], val_est_psnr_stderr=[0.3, 0.2])
    >>> kept_scores(h, 20, 0.1)
    (None, 27.5, 0.2)
    """
    steps = history.get("val_step") or []
    if val_loss is None or step not in steps:
        return None, None, None
    # the last validation of that step (a per-channel run repeats none; a resumed one may)
    i = len(steps) - 1 - steps[::-1].index(step)

    def at(key):
        values = history.get(key) or []
        return values[i] if i < len(values) else None

    return at("val_psnr"), at("val_est_psnr"), at("val_est_psnr_stderr")


def data_range(clean, view) -> float:
    """The peak of the validation PSNR: the clean image's range.

    Parameters
    ----------
    clean : array-like
        The clean reference.
    view : AxisView
        Its axis view (a lazy image is measured on its middle sample).

    Returns
    -------
    float
        Its maximum minus its minimum.
    """
    if isinstance(clean, np.ndarray):
        return float(clean.max() - clean.min())
    block = view.read(view.n_samples // 2)  # lazy: one sample stands for all
    return float(block.max() - block.min())


def snapshot(model) -> dict:
    """A copy of a model's weights on the host (safe to keep while training goes on).

    Parameters
    ----------
    model : torch.nn.Module
        The network.

    Returns
    -------
    dict
        Its state dict, on the CPU.
    """
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


class KeepLatest:
    """Keep the weights of the last step (there is nothing held out to choose by)."""

    note = "no validation region: the latest weights are kept"

    def __init__(self):
        self.state: dict | None = None
        self.best_step = 0
        self.best_val_loss: float | None = None

    def offer(self, model, step: int, result: ValidationResult) -> bool:
        """Offer the weights a validation scored.

        Parameters
        ----------
        model : torch.nn.Module
            The network.
        step : int
            The step of the run.
        result : ValidationResult
            Its scores.

        Returns
        -------
        bool
            Whether the weights are kept because of it (never, here).
        """
        return False

    def finish(self, model, step: int) -> None:
        """At the end of the run (or a stop): keep the current weights.

        Parameters
        ----------
        model : torch.nn.Module
            The network.
        step : int
            The last step of the run.
        """
        self.state = snapshot(model)
        self.best_step = step

    def stored(self, *, final: bool = True) -> tuple[dict, dict] | None:
        """What a resumable state stores of this policy (:mod:`~napari_n2n.core.training.resume`).

        Parameters
        ----------
        final : bool
            Whether the model's training has ended. A model still training has its weights
            stored only once validation chose them; before that, what it keeps is decided when
            it finishes (the resumed run decides it then).

        Returns
        -------
        tuple of (dict, dict) or None
            The kept weights and their entry ``{"best_step", "best_val_loss"}``, or ``None``
            when there is nothing to store.
        """
        if self.state is None or not (final or self.best_val_loss is not None):
            return None
        return self.state, {"best_step": self.best_step, "best_val_loss": self.best_val_loss}

    def restore(self, entry: dict, weights: dict) -> None:
        """Keep ``weights`` again, as a resumable state stored them.

        Parameters
        ----------
        entry : dict
            Their entry in the state, ``{"best_step", "best_val_loss"}`` (see :meth:`stored`).
        weights : dict
            The kept weights (a state dict).
        """
        self.state = weights
        self.best_step = entry["best_step"]
        self.best_val_loss = entry["best_val_loss"]


class KeepBestValidated(KeepLatest):
    """Keep the weights of lowest validation loss (the latest ones until a validation ran)."""

    note = "the weights of lowest validation loss are kept"

    def offer(self, model, step: int, result: ValidationResult) -> bool:
        """Keep the weights if their validation loss is the lowest so far (:meth:`KeepLatest.offer`)."""
        if result.loss < (self.best_val_loss if self.best_val_loss is not None else math.inf):
            self.state = snapshot(model)
            self.best_step = step
            self.best_val_loss = result.loss
            return True
        return False

    def finish(self, model, step: int) -> None:
        """Keep the latest weights if no validation ran (see :meth:`KeepLatest.finish`)."""
        if self.state is None:  # stopped before the first validation: the latest weights
            super().finish(model, step)


def policy_for(sampler: PatchSampler) -> KeepLatest | KeepBestValidated:
    """The selection policy that suits a sampler.

    Parameters
    ----------
    sampler : PatchSampler or MultiSampler
        The model's patches.

    Returns
    -------
    KeepLatest or KeepBestValidated
        By validation where the sampler holds a region out.
    """
    return KeepBestValidated() if sampler.has_validation else KeepLatest()
