"""The learning-rate schedule: a short linear warm-up, then cosine decay to 2 % of the peak.

A run that starts from a trained model (:mod:`napari_n2n.core.training.start`) warms up over
:data:`FINE_TUNE_WARMUP_STEPS` steps (at most half the run) instead, so that its first steps do
not undo the model.

The schedule is a function of the run's progress (0 → 1, by steps or, under a time budget, by
time), so it has no state of its own: a resumed run continues it from its progress.
"""

from __future__ import annotations

import math

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
    """Learning-rate multiplier at ``progress`` (0 → 1): linear warm-up from 5 %, then cosine decay.

    Examples
    --------
    >>> lr_factor(0.0), lr_factor(0.02), round(lr_factor(1.0), 3)
    (0.05, 1.0, 0.02)
    """
    if progress < warmup:
        return 0.05 + 0.95 * progress / warmup
    t = (progress - warmup) / (1 - warmup)
    return FINAL + (1 - FINAL) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))
