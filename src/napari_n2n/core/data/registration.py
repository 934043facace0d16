"""Registration of neighbouring frames before they are paired (frame-to-frame training).

A time-lapse paired frame by frame (:func:`~napari_n2n.core.data.pairs.stack_neighbours`) trains
a network to predict frame ``t + 1`` from frame ``t``; where the scene moved between them, it
learns to blur. Following Ehret et al. ("Model-blind video denoising via frame-to-frame
training", CVPR 2019), frame ``t + 1`` is warped onto frame ``t`` first:

``"shift"``
    one global sub-pixel translation per frame pair (or per volume), by phase correlation
    (:func:`skimage.registration.phase_cross_correlation`, upsampled 20×);
``"flow"``
    the shift, then the local motion left by optical flow: iterative Lucas–Kanade
    (:func:`skimage.registration.optical_flow_ilk`, radius 7, 3 warps) on the frames binned 2×
    and smoothed, its field filled into flat regions by normalised convolution. Measured on a
    512² crop of ``camera`` deformed smoothly by up to 2 px, Gaussian noise σ 0.1 (clean frame
    warped by the estimated field, RMS error against the original): Lucas–Kanade binned 0.026
    in 0.37 s (0.028 in 0.38 s with 3 warps and the filling, as shipped); TV-L1
    (:func:`~skimage.registration.optical_flow_tvl1`) at full size 0.028 in 2.2 s, binned 0.033
    in 0.5 s; unregistered 0.073 (2-core CPU shared with other jobs);
``"none"``
    no warp;
``"auto"``
    chooses from the motion measured on a few frame pairs (:func:`choose_method`).

Pixels the warp cannot fill (sampled outside the frame) or trust (a smoothed residual far
above the noise, e.g. occlusions) are returned as an invalid mask; the pairs put NaN there,
which the training loss excludes (:func:`~napari_n2n.core.training.losses.pixel_loss`).
A displacement field ``d`` (one component per spatial axis) maps the moving frame onto the
fixed one: ``warped(p) = moving(p + d(p))``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..errors import InputError

#: the choices of the ``register`` option, as the CLI and widgets show them
REGISTER_CHOICES = ("auto", "none", "shift", "flow")
#: the methods ``auto`` resolves to (what a model file records)
METHODS = ("none", "shift", "flow")
Register = Literal["auto", "none", "shift", "flow"]

#: below this global shift (px) and without local motion, frames are not registered
SHIFT_THRESHOLD_PX = 0.2
#: flow is chosen when it leaves this share (or less) of the smoothed residual energy of the shift
FLOW_GAIN = 0.7
#: a smoothed residual above this many robust standard deviations is not trusted
RESIDUAL_SIGMAS = 6.0
_FLOW_BIN = 2
_FLOW_RADIUS = 7
_FLOW_WARPS = 3  # as accurate as the default 7 on the measurement below, 2.4x faster
_FLOW_SMOOTH_PX = 4.0
_RESIDUAL_SMOOTH_PX = 2.0


@dataclass(frozen=True)
class Motion:
    """The motion measured between two frames.

    Attributes
    ----------
    shift : tuple of float
        The global translation of the moving frame against the fixed one, px per spatial axis
        (positive: the content moved towards larger indices).
    flow : float or None
        The local motion left after the shift: mean magnitude of the residual flow, px
        (``None`` where not measured).
    flow_gain : float or None
        The smoothed residual energy after the flow, as a share of that after the shift
        (below :data:`FLOW_GAIN`: the flow explains motion the shift does not).
    """

    shift: tuple[float, ...]
    flow: float | None = None
    flow_gain: float | None = None

    @property
    def shift_px(self) -> float:
        """The length of the global shift, px."""
        return float(np.hypot.reduce(np.asarray(self.shift))) if self.shift else 0.0

    def describe(self) -> str:
        """One line: the shift and the local flow."""
        shift = ", ".join(f"{s:+.2f}" for s in self.shift)
        text = f"shift ({shift}) px, |shift| {self.shift_px:.2f} px"
        if self.flow is not None:
            text += f", local flow {self.flow:.2f} px"
        return text


def _smooth(image: np.ndarray, sigma: float) -> np.ndarray:
    from scipy import ndimage as ndi

    return ndi.gaussian_filter(image.astype(np.float32, copy=False), sigma)


def _bin(image: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
    """Mean-bin by 2 along every axis of at least 64 px (noise down, flow faster)."""
    factors = tuple(_FLOW_BIN if n >= 64 else 1 for n in image.shape)
    cut = tuple(slice(0, n - n % f) for n, f in zip(image.shape, factors))
    image = image[cut]
    shape = []
    for n, f in zip(image.shape, factors):
        shape += [n // f, f]
    return image.reshape(shape).mean(axis=tuple(range(1, 2 * image.ndim, 2))), factors


def measure_shift(fixed: np.ndarray, moving: np.ndarray) -> tuple[float, ...]:
    """The global sub-pixel translation of ``moving`` against ``fixed`` (phase correlation).

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import ndimage as ndi
    >>> rng = np.random.default_rng(0)
    >>> a = ndi.gaussian_filter(rng.random((64, 64)), 2)
    >>> [round(s, 1) for s in measure_shift(a, ndi.shift(a, (1.5, -0.5), mode="wrap"))]
    [1.5, -0.5]
    """
    from skimage.filters import window
    from skimage.registration import phase_cross_correlation

    # smoothed (σ 1 px: the noise's high frequencies out) and windowed (no edge effects)
    fixed, moving = _smooth(np.asarray(fixed), 1.0), _smooth(np.asarray(moving), 1.0)
    hann = window("hann", fixed.shape).astype(np.float32)
    total = np.zeros(fixed.ndim)
    for _ in range(2):  # the estimate, then the shift left after warping by it
        shifted = moving if not total.any() else warp(moving, total)[0]
        shift, _, _ = phase_cross_correlation(
            (fixed - fixed.mean()) * hann,
            (shifted - shifted.mean()) * hann,
            upsample_factor=20,
            normalization=None,
        )
        total = total - shift
    return tuple(float(s) for s in total)


def warp(moving: np.ndarray, displacement: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``moving`` sampled at ``p + displacement(p)`` (cubic spline), and where that lies inside.

    Parameters
    ----------
    moving : numpy.ndarray
        The frame (spatial axes only).
    displacement : numpy.ndarray
        ``(ndim, *moving.shape)``, or ``(ndim,)`` for one translation.

    Returns
    -------
    warped, valid : numpy.ndarray
        The warped frame (float32) and a boolean mask of the pixels sampled inside the frame.
    """
    from scipy import ndimage as ndi

    moving = np.asarray(moving, np.float32)
    displacement = np.asarray(displacement, np.float32)
    grid = np.indices(moving.shape, dtype=np.float32)
    if displacement.ndim == 1:
        displacement = displacement.reshape((-1,) + (1,) * moving.ndim)
    coords = grid + displacement
    warped = ndi.map_coordinates(moving, coords, order=3, mode="nearest").astype(np.float32)
    valid = np.ones(moving.shape, bool)
    for c, n in zip(coords, moving.shape):
        valid &= (c >= -0.5) & (c <= n - 0.5)  # within half a pixel of the frame
    return warped, valid


def estimate_flow(fixed: np.ndarray, moving: np.ndarray) -> np.ndarray:
    """A smooth displacement field that maps ``moving`` onto ``fixed`` (see the module notes)."""
    from scipy import ndimage as ndi
    from skimage.registration import optical_flow_ilk

    small_f, factors = _bin(np.asarray(fixed, np.float32))
    small_m, _ = _bin(np.asarray(moving, np.float32))
    small_f, small_m = _smooth(small_f, 1.0), _smooth(small_m, 1.0)
    flow = optical_flow_ilk(small_f, small_m, radius=_FLOW_RADIUS, num_warp=_FLOW_WARPS)
    # normalised convolution: the flow of textured pixels (weight |grad|^2) fills flat ones,
    # where the noise alone decides Lucas-Kanade's answer
    weight = sum(np.square(g) for g in np.gradient(small_f))
    sigma = _FLOW_SMOOTH_PX / max(factors)
    norm = _smooth(weight, sigma) + 1e-12
    full = []
    for component, f in zip(flow, factors):
        component = _smooth(component * weight, sigma) / norm
        zoom = [n / s for n, s in zip(fixed.shape, component.shape)]
        up = ndi.zoom(component * f, zoom, order=1, grid_mode=True, mode="nearest")
        full.append(up[tuple(slice(0, n) for n in fixed.shape)])
    return np.stack(full)


def flow_size(field: np.ndarray, fixed: np.ndarray) -> float:
    """The mean flow magnitude, px, weighted by the image's structure.

    The weight is the smoothed gradient energy: flat regions, where the flow is the noise's,
    count little.
    """
    weight = _smooth(sum(np.square(g) for g in np.gradient(_smooth(fixed, 2.0))), 4.0)
    magnitude = np.sqrt(np.square(field).sum(axis=0))
    return float((magnitude * weight).sum() / max(float(weight.sum()), 1e-12))


def _residual(fixed: np.ndarray, warped: np.ndarray, valid: np.ndarray) -> np.ndarray:
    return _smooth(fixed, _RESIDUAL_SMOOTH_PX) - _smooth(warped, _RESIDUAL_SMOOTH_PX)


def _energy(residual: np.ndarray, valid: np.ndarray) -> float:
    return float(np.mean(np.square(residual[valid]))) if valid.any() else 0.0


def measure_motion(fixed, moving, *, flow: bool = True) -> Motion:
    """The global shift between two frames and, with ``flow``, the local motion left after it.

    Parameters
    ----------
    fixed, moving : array-like
        Two frames (spatial axes only), one shape.
    flow : bool
        Also measure the local flow (slower: about 0.4 s per 512² frame).

    Returns
    -------
    Motion
    """
    fixed, moving = np.asarray(fixed, np.float32), np.asarray(moving, np.float32)
    shift = measure_shift(fixed, moving)
    if not flow:
        return Motion(shift)
    shifted, valid = warp(moving, np.asarray(shift))
    field = estimate_flow(fixed, shifted)
    flowed, valid_f = warp(shifted, field)
    valid_f &= valid
    e_shift = _energy(_residual(fixed, shifted, valid), valid_f)
    e_flow = _energy(_residual(fixed, flowed, valid_f), valid_f)
    return Motion(shift, flow_size(field, fixed), e_flow / e_shift if e_shift > 0 else 1.0)


def choose_method(motions: list[Motion]) -> str:
    """What ``register="auto"`` does for frame pairs with these motions.

    ``"flow"`` when the flow explains clearly more than the shift on most measured pairs
    (residual energy at most :data:`FLOW_GAIN` of the shift's); else ``"shift"`` when a global
    shift reaches :data:`SHIFT_THRESHOLD_PX`; else ``"none"``.
    """
    gains = [m.flow_gain for m in motions if m.flow_gain is not None]
    if gains and np.median(gains) <= FLOW_GAIN:
        return "flow"
    if any(m.shift_px >= SHIFT_THRESHOLD_PX for m in motions):
        return "shift"
    return "none"


def displacement_for(fixed, moving, method: str) -> tuple[np.ndarray, Motion]:
    """The displacement field that maps ``moving`` onto ``fixed`` with ``method``, and the motion.

    Returns
    -------
    displacement, motion
        ``(ndim, *shape)`` float32 (zeros for ``"none"``) and the :class:`Motion` measured.
    """
    fixed, moving = np.asarray(fixed, np.float32), np.asarray(moving, np.float32)
    if method not in METHODS:
        raise InputError(f"Unknown registration {method!r}; choose one of {', '.join(METHODS)}.")
    if method == "none":
        return np.zeros((moving.ndim, *moving.shape), np.float32), Motion(())
    shift = measure_shift(fixed, moving)
    displacement = np.asarray(shift, np.float32).reshape((-1,) + (1,) * moving.ndim)
    displacement = np.broadcast_to(displacement, (moving.ndim, *moving.shape))
    flow = None
    if method == "flow":
        shifted, _ = warp(moving, np.asarray(shift))
        field = estimate_flow(fixed, shifted)
        flow = flow_size(field, fixed)
        displacement = displacement + field
    return np.ascontiguousarray(displacement), Motion(shift, flow)


def trusted(fixed: np.ndarray, warped: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """``valid`` less the pixels whose smoothed residual is far above the noise (occlusions)."""
    residual = _residual(np.asarray(fixed, np.float32), warped, valid)
    inside = residual[valid]
    if inside.size:
        spread = 1.4826 * float(np.median(np.abs(inside - np.median(inside))))
        # floor: noise-free frames match to interpolation error, which is no occlusion
        spread = max(spread, 0.01 * float(np.std(fixed)))
        if spread > 0:
            valid = valid & (np.abs(residual) <= RESIDUAL_SIGMAS * spread)
    return valid


def register(fixed, moving, method: str) -> tuple[np.ndarray, np.ndarray, Motion]:
    """``moving`` warped onto ``fixed`` with ``method``, its validity mask, and the motion.

    Parameters
    ----------
    fixed, moving : array-like
        Two frames (spatial axes only), one shape.
    method : {"none", "shift", "flow"}
        The registration (see the module notes).

    Returns
    -------
    warped, valid, motion
        The warped frame (float32), a boolean mask of the pixels the warp filled and trusts,
        and the :class:`Motion` measured.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import ndimage as ndi
    >>> a = ndi.gaussian_filter(np.random.default_rng(0).random((64, 64)), 2)
    >>> warped, valid, motion = register(a, ndi.shift(a, (0, 3)), "shift")
    >>> round(motion.shift[1], 1), bool(valid[:, -1].any()), bool(valid[:, 4:56].all())
    (3.0, False, True)
    """
    moving = np.asarray(moving, np.float32)
    if method == "none":
        return moving, np.ones(moving.shape, bool), Motion(())
    displacement, motion = displacement_for(fixed, moving, method)
    warped, valid = warp(moving, displacement)
    return warped, trusted(fixed, warped, valid), motion


@dataclass(frozen=True)
class Registered:
    """Frames warped onto their partners (:func:`register_frames`).

    Attributes
    ----------
    target : numpy.ndarray
        The warped frames (float32), NaN where ``valid`` is False.
    valid : numpy.ndarray
        Which pixels the warp filled and trusts.
    method : str
        ``"none"``, ``"shift"`` or ``"flow"`` (what ``auto`` chose).
    motions : list of Motion
        The motion of each frame pair (per pair, the first index of the other axes).
    """

    target: np.ndarray
    valid: np.ndarray
    method: str
    motions: list


def _frames(axes: str, axis: int) -> tuple[list[int], int, list[int]]:
    spatial = [i for i, a in enumerate(axes) if a in "ZYX" and i != axis]
    chan = axes.find("C")
    other = [i for i in range(len(axes)) if i not in spatial and i not in (axis, chan)]
    return spatial, chan, other


def _sample(n: int, k: int) -> list[int]:
    return sorted({int(round(i)) for i in np.linspace(0, n - 1, min(n, k))})


def register_frames(
    stack, *, axis: int, axes: str, pairs: list[tuple[int, int]], method: str = "auto"
) -> Registered:
    """Each frame ``b`` of ``pairs`` warped onto its frame ``a`` along ``axis``.

    The spatial axes (Z, Y, X other than ``axis``) are registered together: a ``TZYX`` stack is
    registered volume by volume. Channels share the warp measured on their mean; every index of
    the other axes (S, ...) is registered on its own.

    Parameters
    ----------
    stack : array-like
        The stack (read into memory).
    axis : int
        The axis of the frames.
    axes : str
        The stack's axes.
    pairs : list of (int, int)
        ``(a, b)`` frame indices: ``b`` is warped onto ``a``.
    method : {"auto", "none", "shift", "flow"}
        The registration; ``"auto"`` chooses from 4 pairs (:func:`choose_method`).

    Returns
    -------
    Registered
        Its ``target`` has the frames ``b`` stacked along ``axis``, in the order of ``pairs``.
    """
    if method not in REGISTER_CHOICES:
        raise InputError(
            f"Unknown registration {method!r}; choose one of {', '.join(REGISTER_CHOICES)}."
        )
    spatial, chan, other = _frames(axes, axis)
    order = [axis, *other] + ([chan] if chan >= 0 else []) + spatial
    data = np.asarray(stack, np.float32).transpose(order)
    n_other = int(np.prod([data.shape[1 + k] for k in range(len(other))]))
    data = data.reshape((data.shape[0], n_other, -1, *data.shape[1 + len(other) + (chan >= 0) :]))

    def reference(t, o):
        return data[t, o].mean(axis=0)

    if method == "auto":
        probe = [pairs[i] for i in _sample(len(pairs), 4)]
        method = choose_method([measure_motion(reference(a, 0), reference(b, 0)) for a, b in probe])
    out = np.empty((len(pairs), *data.shape[1:]), np.float32)
    valid = np.ones(out.shape, bool)
    motions = []
    for k, (a, b) in enumerate(pairs):
        for o in range(n_other):
            fixed = reference(a, o)
            moving = reference(b, o)
            if method == "none":
                out[k, o] = data[b, o]
                if o == 0:
                    motions.append(measure_motion(fixed, moving, flow=False))
                continue
            displacement, motion = displacement_for(fixed, moving, method)
            warped, inside = warp(moving, displacement)
            valid[k, o] = trusted(fixed, warped, inside)
            for c in range(data.shape[2]):
                out[k, o, c] = (
                    warped if data.shape[2] == 1 else warp(data[b, o, c], displacement)[0]
                )
            if o == 0:
                motions.append(motion)
    out[~valid] = np.nan
    shape = (len(pairs), *[np.asarray(stack).shape[i] for i in order[1:]])
    inverse = np.argsort(order)
    return Registered(
        out.reshape(shape).transpose(inverse),
        valid.reshape(shape).transpose(inverse),
        method,
        motions,
    )


def neighbour_average(frames, *, axis: int, axes: str, method: str = "flow") -> np.ndarray:
    """Each frame averaged with its neighbours along ``axis``, registered onto it.

    For a denoised time-lapse this is what the A/B average is for a pair: frames ``t - 1`` and
    ``t + 1`` are warped onto frame ``t`` (:func:`register_frames`), and each pixel is the mean
    of the frame and the neighbours the warp filled and trusts there.

    Parameters
    ----------
    frames : array-like
        The (denoised) stack.
    axis : int
        The frames' axis.
    axes : str
        The stack's axes.
    method : {"auto", "none", "shift", "flow"}
        The registration.

    Returns
    -------
    numpy.ndarray
        The averaged stack, float32, the shape of ``frames``.

    Examples
    --------
    >>> import numpy as np
    >>> frames = np.stack([np.full((16, 16), v, np.float32) for v in (1.0, 2.0, 3.0)])
    >>> neighbour_average(frames, axis=0, axes="TYX", method="none")[:, 0, 0].tolist()
    [1.5, 2.0, 2.5]
    """
    data = np.asarray(frames, np.float32)
    n = data.shape[axis]
    if n < 2:
        return data.copy()
    total = np.moveaxis(data.copy(), axis, 0)
    count = np.ones(total.shape, np.float32)
    for pairs, into in (
        ([(t, t + 1) for t in range(n - 1)], slice(0, n - 1)),
        ([(t + 1, t) for t in range(n - 1)], slice(1, n)),
    ):
        done = register_frames(data, axis=axis, axes=axes, pairs=pairs, method=method)
        target = np.moveaxis(done.target, axis, 0)
        valid = np.moveaxis(done.valid, axis, 0)
        total[into] += np.where(valid, target, 0)
        count[into] += valid
    return np.moveaxis(total / count, 0, axis)
