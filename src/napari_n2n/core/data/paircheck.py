"""Check that two noisy images make a valid Noise2Noise pair, before training on them.

Noise2Noise needs two images of the *same* scene whose noise is independent and zero-mean.
:func:`check_pair` measures what breaks that in practice and says, in plain words, what to do:

* a residual **shift** between A and B (sample drift, stage jitter): sub-pixel phase
  correlation; a network trained on shifted targets learns a blurred image;
* a **gain/offset** difference (bleaching, lamp or detector drift): ``B ≈ gain·A + offset``;
* **correlated noise** (the noise of neighbouring pixels is not independent: interpolated,
  resampled, compressed or filtered data, some cameras): measured on ``A − B``, which holds
  no image structure;
* the **noise level**, and whether it grows with intensity (photon shot noise) or not;
* **outliers** (hot pixels, impulse noise) that call for the L1 loss;
* **shared noise** (A and B identical, or one derived from the other).

The check warns; it never blocks training. Two findings say that the pair cannot train at
all (severity ``"error"``), each alone, as nothing else can be measured: identical images, and
constant ones. Only unusable input (different shapes, types, images too small) raises
:class:`~napari_n2n.core.errors.InputError`.

Examples
--------
>>> from skimage import data
>>> from napari_n2n.core.data.noise import Gaussian, synthesize_pair
>>> a, b = synthesize_pair(data.camera(), Gaussian(sigma=20), seed=0)
>>> report = check_pair(a, b)
>>> report.ok
True
>>> report.finding("shift").severity
'ok'
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..axes import validate_axes
from ..checks import require_finite, require_numeric, require_same_shape
from ..errors import InputError
from .noise import estimate_noise_sigma
from .noisestats import (
    MIN_SIDE,
    MeanVariance,
    constant_value,
    excess_kurtosis,
    fit_gain_offset,
    fit_mean_variance,
    gain_offset_uncertainty,
    local_mean,
    measure_shift,
    neighbour_correlation,
    overlap,
    planes_of,
    shift_uncertainty,
)

__all__ = ["Finding", "PairCheck", "check_pair"]

#: limits above which a finding becomes a warning (one home for each)
SHIFT_PX = 0.3
#: planes whose shifts scatter by more than this (px) measure noise, not a shift
PLANE_SCATTER_PX = 2.0
GAIN_REL = 0.05
OFFSET_REL = 0.02
CORRELATION = 0.1
SHARED_RATIO = 0.4
EXCESS_KURTOSIS = 2.0


@dataclass(frozen=True)
class Finding:
    """One result of the check, in plain words.

    Attributes
    ----------
    topic : str
        ``"shift"``, ``"intensity"``, ``"correlation"``, ``"noise"``, ``"outliers"``, ``"shared"``
        or ``"content"``.
    severity : str
        ``"ok"`` (nothing to do), ``"info"`` (worth knowing), ``"warning"`` (act before
        training) or ``"error"`` (the pair cannot train a model).
    text : str
        What was measured and, for warnings, what to do.
    """

    topic: str
    severity: str
    text: str

    def __str__(self) -> str:
        mark = {"ok": "ok", "info": "note", "warning": "WARNING", "error": "ERROR"}[self.severity]
        return f"[{mark}] {self.text}"


@dataclass(frozen=True)
class PairCheck:
    """What :func:`check_pair` measured on a pair (A, B), and its findings.

    Attributes
    ----------
    shift : tuple of float
        How far B is displaced relative to A, in pixels, ``(dy, dx)`` (median over the planes
        checked): ``B(y, x) ≈ A(y - dy, x - dx)``.
    shift_error : float
        Standard error of ``shift`` (px), from the spread over image quadrants and planes.
    gain, offset : float
        ``B ≈ gain·A + offset`` (a fit that the noise does not bias).
    gain_error, offset_error : float
        Their standard errors, from the spread over image quadrants.
    correlation : tuple of float
        Correlation of the noise ``A − B`` between neighbouring pixels along Y and X (0 for
        independent noise).
    noise_sigma : float
        Standard deviation of the noise of one image, in A's units, from ``A − B``.
    mean_variance : MeanVariance
        The noise variance against intensity, with its fitted line.
    excess_kurtosis : float
        Tail weight of the noise (0 for Gaussian; large for impulse noise and hot pixels).
    planes : int
        How many 2D planes were checked.
    findings : tuple of Finding
        What the measurements mean, in plain words, one per topic.
    """

    shift: tuple[float, float]
    shift_error: float
    gain: float
    offset: float
    gain_error: float
    offset_error: float
    correlation: tuple[float, float]
    noise_sigma: float
    mean_variance: MeanVariance
    excess_kurtosis: float
    planes: int
    findings: tuple[Finding, ...]

    @property
    def warnings(self) -> tuple[Finding, ...]:
        """The findings to act on."""
        return tuple(f for f in self.findings if f.severity == "warning")

    @property
    def errors(self) -> tuple[Finding, ...]:
        """The findings that say the pair cannot train a model (identical or constant images)."""
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def ok(self) -> bool:
        """True when nothing calls for action."""
        return not self.warnings and not self.errors

    @property
    def poisson_like(self) -> bool:
        """True when the noise variance grows with intensity (photon shot noise)."""
        return self.mean_variance.grows_with_intensity

    def finding(self, topic: str) -> Finding:
        """The finding about one topic.

        Parameters
        ----------
        topic : str
            ``"shift"``, ``"intensity"``, ``"correlation"``, ``"noise"``, ``"outliers"`` or
            ``"shared"`` (see :class:`Finding`).

        Returns
        -------
        Finding
            The finding.

        Raises
        ------
        KeyError
            If no finding has that topic.
        """
        for f in self.findings:
            if f.topic == topic:
                return f
        raise KeyError(topic)

    def summary(self) -> str:
        """The findings, one per line, warnings first."""
        order = {"error": 0, "warning": 1, "info": 2, "ok": 3}
        return "\n".join(str(f) for f in sorted(self.findings, key=lambda f: order[f.severity]))

    def to_dict(self) -> dict:
        """Plain numbers and strings (for JSON, a model file or a table)."""
        mv = self.mean_variance
        return {
            "shift": list(self.shift),
            "shift_error": self.shift_error,
            "gain": self.gain,
            "offset": self.offset,
            "gain_error": self.gain_error,
            "offset_error": self.offset_error,
            "correlation": list(self.correlation),
            "noise_sigma": self.noise_sigma,
            "variance_slope": mv.slope,
            "variance_intercept": mv.intercept,
            "poisson_like": self.poisson_like,
            "excess_kurtosis": self.excess_kurtosis,
            "planes": self.planes,
            "findings": [
                {"topic": f.topic, "severity": f.severity, "text": f.text} for f in self.findings
            ],
        }


# ---- input -----------------------------------------------------------------------------------
def _validated(a, b, axes: str | None):
    """(a, b) with Y and X as the last two axes; raises InputError on unusable input."""
    a, b = require_numeric(a, "image A"), require_numeric(b, "image B")
    require_same_shape(a, b, names=("A", "B"))
    if a.dtype != b.dtype:
        raise InputError(
            f"A is {a.dtype} but B is {b.dtype}; two acquisitions of one scene should have the same "
            "type. Convert both to the same type (e.g. float32) after checking that they are on "
            "the same intensity scale."
        )
    if a.ndim < 2:
        raise InputError(
            f"The images have {a.ndim} dimension(s); a pair check needs 2D images, stacks or volumes."
        )
    if axes is not None:
        axes = validate_axes(axes, a.ndim)
        order = [i for i, c in enumerate(axes) if c not in "YX"] + [
            axes.index("Y"),
            axes.index("X"),
        ]
        a, b = np.transpose(a, order), np.transpose(b, order)
    if min(a.shape[-2:]) < MIN_SIDE:
        raise InputError(
            f"The images are {a.shape[-2]}×{a.shape[-1]} pixels in Y×X; the pair check needs at "
            f"least {MIN_SIDE}×{MIN_SIDE}. Check the axes, or use larger images."
        )
    return a, b


# ---- the check -------------------------------------------------------------------------------
def check_pair(a, b, *, axes: str | None = None, max_planes: int = 8) -> PairCheck:
    """Check whether two noisy images make a valid Noise2Noise pair.

    Parameters
    ----------
    a, b : array-like
        The two noisy images of one scene (numpy, dask, zarr): 2D, a stack or a volume, with the
        same shape and dtype.
    axes : str, optional
        One letter per dimension (e.g. ``"ZYX"``, ``"TCYX"``); default: the last two axes are
        Y and X.
    max_planes : int
        For stacks and volumes, how many 2D planes (evenly spread) are read and checked.

    Returns
    -------
    PairCheck
        The measurements and the findings in plain words (``report.summary()``).

    Raises
    ------
    InputError
        Different shapes or dtypes, non-numeric, non-finite or too small images, or a shift
        that leaves too little overlap to check.
    """
    a, b = _validated(a, b, axes)
    planes_a = planes_of(a, max_planes)
    planes_b = planes_of(b, max_planes)
    for name, planes in (("image A", planes_a), ("image B", planes_b)):
        for p in planes:
            require_finite(p, name)
    flat = {n: constant_value(p) for n, p in (("A", planes_a), ("B", planes_b))}
    if any(v is not None for v in flat.values()):
        return _constant(flat, len(planes_a))

    shifts = np.array([measure_shift(pa, pb) for pa, pb in zip(planes_a, planes_b)])
    dy, dx = (float(v) for v in np.median(shifts, axis=0))
    shift_err = _shift_error(shifts, planes_a, planes_b)
    iy = int(round(dy))
    ix = int(round(dx))
    pairs = [overlap(pa, pb, iy, ix) for pa, pb in zip(planes_a, planes_b)]
    if min(pairs[0][0].shape) < MIN_SIDE:
        raise InputError(
            f"A and B are shifted by ({dy:.0f}, {dx:.0f}) pixels, leaving too little overlap to "
            "check; they may not show the same scene. Register them first."
        )
    gain, offset = fit_gain_offset(pairs)
    gain_err, offset_err = gain_offset_uncertainty(pairs)

    # B brought onto A's scale: what remains of A − B is noise (and whatever breaks the pair)
    diffs = []
    levels = []
    for pa, pb in pairs:
        pb_on_a = (pb - offset) / gain
        diffs.append(pa - pb_on_a)
        levels.append(local_mean(0.5 * (pa + pb_on_a)))
    d = np.concatenate([x.ravel() for x in diffs])
    level = np.concatenate([x.ravel() for x in levels])
    noise_var = float(np.mean((d - d.mean()) ** 2) / 2)
    noise_sigma = float(np.sqrt(noise_var))
    mv = fit_mean_variance(level, d**2 / 2)
    corr = neighbour_correlation(diffs)
    kurt = excess_kurtosis(d, level)
    single_sigma = float(np.mean([estimate_noise_sigma(pa) for pa, _ in pairs]))
    lo, hi = np.percentile(level, (1, 99))
    check = PairCheck(
        shift=(dy, dx),
        shift_error=shift_err,
        gain=gain,
        offset=offset,
        gain_error=gain_err,
        offset_error=offset_err,
        correlation=corr,
        noise_sigma=noise_sigma,
        mean_variance=mv,
        excess_kurtosis=kurt,
        planes=len(planes_a),
        findings=(),
    )
    scene = _Scene(span=float(hi - lo), single_sigma=single_sigma, shifted=bool(iy or ix))
    return dataclasses.replace(check, findings=tuple(_findings(check, scene)))


def _shift_error(shifts: np.ndarray, planes_a: list, planes_b: list) -> float:
    """The standard error of the median shift (px).

    From three planes on, when the planes agree (their shifts scatter by at most
    :data:`PLANE_SCATTER_PX`), the spread of the planes' shifts (robust: the median absolute
    deviation), which also holds a drift that varies between the frames of a time-lapse. Else
    the spread over the quadrants of the first and last plane too: alone they are too
    pessimistic where the scene is sparse, as a quadrant of background measures no shift at
    all (a time-lapse drifting 1.5 px a frame was only "measurable to ±1.9 px" on moon, ±5.5 px
    on a real one, and was not flagged; issue #22). Planes that disagree measure noise: then
    their scatter itself bounds the error.
    """
    n = len(shifts)
    mad = 1.4826 * np.median(np.abs(shifts - np.median(shifts, axis=0)), axis=0)
    # the median of n values is about 1.25 times less precise than their mean
    between = float(1.25 * np.hypot(*mad) / np.sqrt(n))
    if n >= 3 and np.hypot(*mad) <= PLANE_SCATTER_PX:
        return between
    ends = list(zip(planes_a, planes_b))[:: max(1, n - 1)][:2]
    quadrants = max(shift_uncertainty(pa, pb) for pa, pb in ends)
    # planes that disagree by more than a shift's worth measure noise: their scatter bounds it
    return max(quadrants, float(np.hypot(*mad))) if n >= 3 else quadrants


def _constant(flat: dict, planes: int) -> PairCheck:
    """The check of a pair with a constant image: one finding, nothing measured."""
    which = [f"{n} is constant (every pixel {v:.6g})" for n, v in flat.items() if v is not None]
    text = (
        f"{' and '.join(which)}: a constant image holds neither a scene nor noise, so it has no "
        "measurable shift, brightness or noise, and nothing to train on. What to do: check that "
        "the right files, channel or planes were given (e.g. the axes), and that the acquisition "
        "was not blank or saturated."
    )
    nan = float("nan")
    return PairCheck(
        shift=(0.0, 0.0),
        shift_error=nan,
        gain=nan,
        offset=nan,
        gain_error=nan,
        offset_error=nan,
        correlation=(nan, nan),
        noise_sigma=0.0,
        mean_variance=MeanVariance((), (), (), 0.0, 0.0, float("inf")),
        excess_kurtosis=nan,
        planes=planes,
        findings=(Finding("content", "error", text),),
    )


def _px(value: float, error: float) -> str:
    """A shift to the precision it was measured: ``+3.0`` for ±0.08 px, ``+2.94`` for ±0.02 px."""
    return f"{value:+.2f}" if error < 0.05 else f"{value:+.1f}"


@dataclass(frozen=True)
class _Scene:
    """What :func:`check_pair` measured besides a :class:`PairCheck`'s fields, for the findings.

    Attributes
    ----------
    span : float
        The intensity range of the scene (1st to 99th percentile of the local mean).
    single_sigma : float
        The noise level of A alone, estimated from that one image.
    shifted : bool
        Whether the planes were overlapped with a whole-pixel shift.
    """

    span: float
    single_sigma: float
    shifted: bool


def _identical(gain: float, offset: float, shift: tuple[float, float] | None) -> Finding:
    """The one finding of identical images (nothing else about them means anything)."""
    how = []
    if shift is not None:
        how.append(f"B is A moved by {shift[0]:+.0f} px in Y and {shift[1]:+.0f} px in X")
    if (gain, offset) != (1.0, 0.0):
        how.append(f"B = {gain:.4g}·A {offset:+.4g}")
    detail = f" ({'; '.join(how)})" if how else ""
    return Finding(
        "shared",
        "error",
        (
            f"A and B are identical{detail}: there is no "
            "independent noise to learn from, and Noise2Noise cannot train on them (training "
            "refuses the same image as input and target). What to do: give two separate "
            "acquisitions of the scene, or use single-image mode (Neighbor2Neighbor, or a photon "
            "split of a photon-count image) on one of them."
        ),
    )


def _per_plane(planes: int) -> str:
    """``", median over 8 planes"`` for a stack."""
    return f", median over {planes} planes" if planes > 1 else ""


def _findings(check: PairCheck, scene: _Scene) -> list[Finding]:
    """The measurements in plain words, each warning with what to do."""
    dy, dx = check.shift
    shift_err = check.shift_error
    gain = check.gain
    offset = check.offset
    gain_err = check.gain_error
    offset_err = check.offset_error
    corr = check.correlation
    noise_sigma = check.noise_sigma
    mv = check.mean_variance
    kurt = check.excess_kurtosis
    span = scene.span
    single_sigma = scene.single_sigma
    shifted = scene.shifted
    if noise_sigma == 0:
        return [_identical(gain, offset, check.shift if shifted else None)]
    out = []
    size = float(np.hypot(dy, dx))
    if size >= SHIFT_PX and size > 3 * shift_err:
        out.append(
            Finding(
                "shift",
                "warning",
                (
                    f"B is shifted by {_px(dy, shift_err)} px in Y and {_px(dx, shift_err)} px in X relative to A "
                    f"(±{shift_err:.2f} px{_per_plane(check.planes)}). A network "
                    "trained on shifted targets learns a blurred image. What to do: register the images (e.g. "
                    "skimage.registration.phase_cross_correlation and scipy.ndimage.shift) or crop B to match A."
                ),
            )
        )
    elif shift_err > SHIFT_PX / 2:
        out.append(
            Finding(
                "shift",
                "info",
                (
                    f"The shift between A and B is {dy:+.2f}, {dx:+.2f} px, but only measurable to ±{shift_err:.2f} px: the "
                    "images hold little structure for their noise. Make sure they were acquired without the sample moving."
                ),
            )
        )
    else:
        out.append(
            Finding(
                "shift",
                "ok",
                f"A and B are aligned (residual shift {size:.2f} ± {shift_err:.2f} px).",
            )
        )

    off_rel = abs(offset) / span if span > 0 else 0.0
    gain_off = abs(gain - 1) > max(GAIN_REL, 3 * gain_err)
    offset_off = off_rel > OFFSET_REL and abs(offset) > 3 * offset_err
    if gain_off or offset_off:
        out.append(
            Finding(
                "intensity",
                "warning",
                (
                    f"B ≈ {gain:.3f}·A {offset:+.4g}: the two images differ in brightness (bleaching, lamp or detector "
                    "drift). Noise2Noise then learns the average of the two scales. What to do: rescale B as "
                    f"(B {-offset:+.4g}) / {gain:.3f} before training, or acquire the pair under the same conditions."
                ),
            )
        )
    else:
        out.append(
            Finding(
                "intensity",
                "ok",
                f"A and B have the same brightness (B ≈ {gain:.3f}·A {offset:+.3g}).",
            )
        )

    rho = max(corr, key=abs)
    if abs(rho) > CORRELATION:
        cause = (
            " It may come from the residual shift: register first."
            if size >= SHIFT_PX or shifted
            else ""
        )
        out.append(
            Finding(
                "correlation",
                "warning",
                (
                    f"The noise is correlated between neighbouring pixels (correlation {corr[0]:+.2f} along Y, "
                    f"{corr[1]:+.2f} along X; independent noise gives 0). Correlated noise looks like fine structure: "
                    "Noise2Noise keeps part of it and Neighbor2Neighbor (single-image mode) learns it outright. What to do: "
                    "use the raw camera images, not interpolated, resampled, filtered or compressed ones; or bin the data "
                    f"2×2 (which removes most correlation between neighbours).{cause}"
                ),
            )
        )
    else:
        out.append(
            Finding(
                "correlation",
                "ok",
                (
                    f"The noise is independent between neighbouring pixels (correlation {corr[0]:+.2f} along Y, "
                    f"{corr[1]:+.2f} along X)."
                ),
            )
        )

    snr = span / noise_sigma if noise_sigma > 0 else float("inf")
    if mv.grows_with_intensity and kurt <= EXCESS_KURTOSIS:
        zero = mv.zero_signal_level
        out.append(
            Finding(
                "noise",
                "info",
                (
                    f"Noise level σ ≈ {noise_sigma:.3g} per image; it grows with intensity (variance ≈ {mv.slope:.3g}·I "
                    f"{mv.intercept:+.3g}), like photon shot noise: about {mv.slope:.3g} image units per photon"
                    + (f", zero photons at ≈ {zero:.4g}" if np.isfinite(zero) else "")
                    + ". The L2 loss suits it; a single such image can also be split into a pair (photon split)."
                ),
            )
        )
    else:
        out.append(
            Finding(
                "noise",
                "info",
                (
                    f"Noise level σ ≈ {noise_sigma:.3g} per image, about the same at all intensities (signal-"
                    "independent, like camera read noise). The L2 loss suits it."
                ),
            )
        )
    if snr < 2:
        out.append(
            Finding(
                "noise",
                "warning",
                (
                    f"The noise (σ ≈ {noise_sigma:.3g}) is about as large as the image's intensity range ({span:.3g}). "
                    "Training will need many steps. What to do: if resolution allows, bin the data 2×2 (halves the noise), "
                    "or acquire with longer exposures."
                ),
            )
        )

    if kurt > EXCESS_KURTOSIS:
        out.append(
            Finding(
                "outliers",
                "warning",
                (
                    f"The noise has heavy tails (excess kurtosis {kurt:.1f}; Gaussian noise has 0): hot pixels, impulse or "
                    "salt-and-pepper noise. The L2 loss averages outliers into the result. What to do: train with the "
                    "L1 loss (or L0 for strong impulse noise)."
                ),
            )
        )

    if single_sigma > 0 and noise_sigma < SHARED_RATIO * single_sigma:
        out.append(
            Finding(
                "shared",
                "warning",
                (
                    f"A − B holds much less noise (σ ≈ {noise_sigma:.3g}) than A alone appears to (σ ≈ {single_sigma:.3g}): "
                    "A and B may share part of their noise (one derived from the other, fixed-pattern noise, or the same "
                    "frame twice). Noise2Noise keeps shared noise. What to do: use two separate acquisitions."
                ),
            )
        )
    return out
