"""The motion between neighbouring frames of a stack, before pairing them (issue #26).

:func:`check_motion` measures, for up to ``max_pairs`` frame pairs, the global shift and the
local flow left after it (:func:`~napari_n2n.core.data.registration.measure_motion`), says
whether the frames need registering before they are paired, and with which method
(what ``register="auto"`` would choose, :func:`~napari_n2n.core.data.registration.choose_method`).
Its :attr:`MotionCheck.finding` joins the findings of the pair check
(:func:`~napari_n2n.core.data.paircheck.check_pair`) in the CLI and the Noisy pairs widget.

Examples
--------
>>> import numpy as np
>>> from scipy import ndimage as ndi
>>> base = ndi.gaussian_filter(np.random.default_rng(0).random((96, 96)), 2)
>>> movie = np.stack([ndi.shift(base, (0, 1.5 * t), mode="nearest") for t in range(3)])
>>> check = check_motion(movie, axis=0, axes="TYX")
>>> check.method, check.finding.severity
('shift', 'warning')
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from .paircheck import Finding
from .registration import SHIFT_THRESHOLD_PX, Motion, choose_method, measure_motion


@dataclass(frozen=True)
class MotionCheck:
    """The motion measured between neighbouring frames.

    Attributes
    ----------
    frames : tuple of int
        The first frame of each measured pair (``t``: frames ``t`` and ``t + 1``).
    motions : tuple of Motion
        The motion of each measured pair.
    method : str
        The registration the frames need: ``"none"``, ``"shift"`` or ``"flow"``.
    """

    frames: tuple[int, ...]
    motions: tuple[Motion, ...]
    method: str

    @property
    def needed(self) -> bool:
        """Whether the frames should be registered before they are paired."""
        return self.method != "none"

    @property
    def max_shift_px(self) -> float:
        """The largest global shift between neighbours, px."""
        return max((m.shift_px for m in self.motions), default=0.0)

    @property
    def max_flow_px(self) -> float:
        """The largest local flow left after the shift, px."""
        return max((m.flow or 0.0 for m in self.motions), default=0.0)

    @property
    def finding(self) -> Finding:
        """The check's result in plain words, as a pair-check finding (topic ``"motion"``)."""
        measured = (
            f"Motion between neighbouring frames ({len(self.motions)} pairs): global shift up to "
            f"{self.max_shift_px:.2f} px, local flow up to {self.max_flow_px:.2f} px."
        )
        if self.method == "none":
            return Finding(
                "motion",
                "ok",
                f"{measured} The frames can be paired as they are (below "
                f"{SHIFT_THRESHOLD_PX:g} px and no local motion).",
            )
        what = "a global drift" if self.method == "shift" else "local motion"
        return Finding(
            "motion",
            "warning",
            f"{measured} The scene moves ({what}): unregistered, the network learns the motion "
            f"as blur. Register the frames before pairing: register '{self.method}' (or 'auto').",
        )

    def table(self) -> str:
        """One line per measured pair: frames, shift and flow."""
        return "\n".join(
            f"  frames {t}-{t + 1}: {m.describe()}" for t, m in zip(self.frames, self.motions)
        )

    def to_dict(self) -> dict:
        """The measurements as plain numbers (JSON-ready)."""
        return {
            "method": self.method,
            "pairs": [
                {"frame": t, "shift_px": list(m.shift), "flow_px": m.flow, "flow_gain": m.flow_gain}
                for t, m in zip(self.frames, self.motions)
            ],
        }


def check_motion(stack, *, axis: int, axes: str, max_pairs: int = 12) -> MotionCheck:
    """Measure the motion between neighbouring frames of ``stack`` along ``axis``.

    Parameters
    ----------
    stack : array-like
        The stack (frames are read one pair at a time).
    axis : int
        The frames' axis (T, Z or S).
    axes : str
        The stack's axes; the spatial ones (Z, Y, X other than ``axis``) are measured together,
        channels on their mean, other axes at their first index.
    max_pairs : int
        Pairs measured at most, spread evenly over the stack (about 0.5 s each per 512² frame).

    Returns
    -------
    MotionCheck
    """
    n = stack.shape[axis]
    if n < 2:
        raise InputError(f"The stack has {n} frame(s) along {axes[axis]}: pairing needs 2.")
    firsts = sorted({int(round(v)) for v in np.linspace(0, n - 2, min(n - 1, max_pairs))})
    motions = [measure_motion(*_frames(stack, axis, axes, t)) for t in firsts]
    return MotionCheck(tuple(firsts), tuple(motions), choose_method(motions))


def _frames(stack, axis: int, axes: str, t: int) -> tuple[np.ndarray, np.ndarray]:
    """Frames ``t`` and ``t + 1``: spatial axes only, channels averaged, others at index 0."""
    out = []
    for k in (t, t + 1):
        index = tuple(
            k if i == axis else slice(None) if a in "ZYXC" else 0 for i, a in enumerate(axes)
        )
        frame = np.asarray(stack[index], np.float32)
        kept = [a for i, a in enumerate(axes) if i != axis and a in "ZYXC"]
        if "C" in kept:
            frame = frame.mean(axis=kept.index("C"))
        out.append(frame)
    return out[0], out[1]
