"""The learning-rate schedule: a short linear warm-up, then cosine decay to 2 % of the peak.

The schedule is a function of the run's progress (0 → 1, by steps or, under a time budget, by
time), so it has no state of its own: a resumed run continues it from its progress.
"""

from __future__ import annotations

import math

#: fraction of the run spent warming up
WARMUP = 0.02
#: the learning rate at the end, as a fraction of the peak
FINAL = 0.02


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
