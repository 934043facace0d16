"""Where training pairs come from.

Four sources, one result type (:class:`Pair`):

* :meth:`Pair.synthetic` — two noisy copies of a clean image (for experiments and for
  Noise2Clean comparison; ``clean`` is kept).
* :func:`two_images` — two noisy acquisitions of the same scene (repeated exposures, split
  detectors).
* :func:`stack_neighbours` — consecutive frames/slices of one noisy stack: frame ``t`` is the
  input, ``t + 1`` the target, optionally registered onto frame ``t`` first
  (:mod:`~napari_n2n.core.data.registration`) when the scene moves between neighbours.
* :func:`single_image` — one noisy image with no partner: trained by neighbour sub-sampling
  (Neighbor2Neighbor, Huang et al., CVPR 2021); ``target`` is ``None``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..axes import default_axes, validate_axes
from ..checks import require_numeric, require_same_shape
from ..errors import InputError
from .noise import NoiseModel, synthesize_pair
from .registration import Register, register_frames


@dataclass(frozen=True)
class Pair:
    """Training data: ``input`` and ``target`` (``None`` for single-image mode) with their axes.

    Train on it with :meth:`Trainer.from_pair <napari_n2n.core.training.train.Trainer.from_pair>`.

    Parameters
    ----------
    input : array-like
        The image the network sees.
    target : array-like or None
        The image it learns to predict: a second noisy copy, or ``None`` (single-image mode).
    axes : str
        The axes of both, e.g. ``"YX"`` or ``"SZYX"``.
    mode : str
        ``"n2n"`` for two noisy images, ``"nb2nb"`` for one (see :func:`single_image`).
    clean : array-like, optional
        The clean image, where known (for PSNR reporting).
    noise : dict, optional
        The noise model that made a synthetic pair (:meth:`NoiseModel.to_dict`).
    register : str
        How the target was registered onto the input (``"none"``, ``"shift"``, ``"flow"``;
        see :func:`stack_neighbours`); when registered, target pixels the warp could not fill
        or trust are NaN and the training loss leaves them out.
    motions : tuple, optional
        The :class:`~napari_n2n.core.data.registration.Motion` of each frame pair, where measured.
    """

    input: object
    target: object | None
    axes: str
    mode: str = "n2n"
    clean: object | None = None
    noise: dict | None = None
    register: str = "none"
    motions: tuple = ()

    @classmethod
    def synthetic(
        cls, clean, noise: NoiseModel, *, axes: str | None = None, seed: int | None = 0
    ) -> Pair:
        """Two independent noisy copies of ``clean``, which the pair keeps for PSNR reporting.

        Parameters
        ----------
        clean : array-like
            The clean image.
        noise : NoiseModel
            The noise drawn for each copy (see :func:`~napari_n2n.core.data.noise.make_noise`).
        axes : str, optional
            The image's axes (default: from its number of dimensions).
        seed : int or None
            Seed of the noise; ``None`` draws fresh noise each call.

        Returns
        -------
        Pair
            ``input`` and ``target`` are the two noisy copies (float32).

        Examples
        --------
        >>> import numpy as np
        >>> from napari_n2n import Gaussian, Pair
        >>> pair = Pair.synthetic(np.zeros((8, 8)), Gaussian(sigma=1.0), seed=0)
        >>> pair.axes, pair.input.shape, pair.noise["name"]
        ('YX', (8, 8), 'gaussian')
        """
        clean = require_numeric(np.asarray(clean), "the clean image")
        axes = validate_axes(axes, clean.ndim) if axes else default_axes(clean.ndim)
        a, b = synthesize_pair(clean, noise, seed=seed)
        return cls(a, b, axes, "n2n", clean=clean, noise=noise.to_dict())


def synthetic_pair(
    clean, noise: NoiseModel, *, axes: str | None = None, seed: int | None = 0
) -> Pair:
    """The same as :meth:`Pair.synthetic`, kept for callers inside the package.

    ``napari_n2n.synthetic_pair`` is deprecated in favour of :meth:`Pair.synthetic`.
    """
    return Pair.synthetic(clean, noise, axes=axes, seed=seed)


def two_images(a, b, *, axes: str | None = None, clean=None) -> Pair:
    """Two noisy images of the same scene.

    Parameters
    ----------
    a, b : array-like
        The two images, one shape (numpy or dask).
    axes : str, optional
        The image's axes (default: from its number of dimensions, see
        :func:`~napari_n2n.core.axes.default_axes`).
    clean : array-like, optional
        The clean image, where known (for PSNR reporting).

    Returns
    -------
    Pair
        ``a`` is the input, ``b`` the target.
    """
    a, b = require_numeric(a, "the first image"), require_numeric(b, "the second image")
    require_same_shape(a, b, names=("the first image", "the second image"))
    axes = validate_axes(axes, a.ndim) if axes else default_axes(a.ndim)
    return Pair(a, b, axes, "n2n", clean=clean)


def stack_neighbours(
    stack,
    *,
    axis: int = 0,
    axes: str | None = None,
    clean=None,
    pairing: Literal["consecutive", "even-odd"] = "consecutive",
    register: Register = "none",
) -> Pair:
    """Pairs of neighbouring frames/slices of ``stack`` along ``axis``.

    ``pairing="consecutive"``: every frame with the next, (t, t+1), so each frame is in two
    pairs; ``"even-odd"``: frame 2k with frame 2k+1, each frame in one pair (for stacks acquired
    as repeated exposures, e.g. two frames per time point). The pairing axis becomes a sample
    axis (``S``) of the result, so a ``ZYX`` stack paired along Z trains a 2D model on ``SYX``
    data. Views, not copies, are used, unless the frames are registered.

    ``register`` warps each target frame onto its input frame first (see
    :mod:`~napari_n2n.core.data.registration`): ``"shift"`` (global sub-pixel translation),
    ``"flow"`` (the shift, then local optical flow), ``"none"``, or ``"auto"`` (chosen from the
    motion measured on a few pairs). A registered target is a float32 copy in memory whose
    pixels the warp could not fill or trust are NaN (left out of the training loss).

    Parameters
    ----------
    stack : array-like
        3 or more dimensions.
    axis : int
        The axis to pair along: time (T), slices (Z) or samples (S).
    axes : str, optional
        The image's axes (default: from its number of dimensions, see
        :func:`~napari_n2n.core.axes.default_axes`).
    clean : array-like, optional
        The clean stack, where known; cut like the input.
    pairing : {"consecutive", "even-odd"}
        Which frames make pairs, as above.
    register : {"none", "auto", "shift", "flow"}
        Register the target frames onto the input frames first, as above.

    Returns
    -------
    Pair

    Examples
    --------
    >>> import numpy as np
    >>> pair = stack_neighbours(np.zeros((5, 16, 16)), axes="TYX")
    >>> pair.input.shape, pair.axes
    ((4, 16, 16), 'SYX')
    >>> stack_neighbours(np.zeros((5, 16, 16)), axes="ZYX", pairing="even-odd").input.shape
    (2, 16, 16)
    """
    stack = require_numeric(stack, "the stack")
    if stack.ndim < 3:
        raise InputError(
            f"Pairing neighbouring frames needs a stack (3 or more dimensions); this image is {stack.ndim}D. "
            "Use single-image mode for one 2D image."
        )
    axis = axis % stack.ndim
    if stack.shape[axis] < 2:
        raise InputError(
            f"The stack has only {stack.shape[axis]} frame(s) along axis {axis}; pairing needs at least 2."
        )
    axes = validate_axes(axes, stack.ndim) if axes else default_axes(stack.ndim)
    if axes[axis] in "YX" or axes[axis] == "C":
        raise InputError(
            f"Cannot pair along axis {axes[axis]}: choose a time (T), slice (Z) or sample (S) axis."
        )
    # the pairing axis becomes a sample axis: S if free, else T
    letter = next((l for l in "ST" if l == axes[axis] or l not in axes), None)
    if letter is None:
        raise InputError(
            f"Cannot pair along {axes[axis]} of {axes!r}: S and T are both taken. Merge S and T first."
        )
    new_axes = axes[:axis] + letter + axes[axis + 1 :]
    idx_a = [slice(None)] * stack.ndim
    idx_b = [slice(None)] * stack.ndim
    if pairing == "even-odd":
        n = stack.shape[axis] // 2 * 2
        idx_a[axis], idx_b[axis] = slice(0, n, 2), slice(1, n, 2)
    elif pairing == "consecutive":
        idx_a[axis], idx_b[axis] = slice(0, -1), slice(1, None)
    else:
        raise InputError(
            f"Unknown pairing {pairing!r}: choose 'consecutive' (t with t+1) or 'even-odd' (2k with 2k+1)."
        )
    a = stack[tuple(idx_a)]
    b = stack[tuple(idx_b)]
    c = None if clean is None else clean[tuple(idx_a)]
    if register == "none":
        return Pair(a, b, new_axes, "n2n", clean=c)
    frames = range(stack.shape[axis])[idx_a[axis]]
    partners = range(stack.shape[axis])[idx_b[axis]]
    done = register_frames(
        stack, axis=axis, axes=axes, pairs=list(zip(frames, partners)), method=register
    )
    return Pair(
        a, done.target, new_axes, "n2n", clean=c, register=done.method, motions=tuple(done.motions)
    )


def single_image(image, *, axes: str | None = None, clean=None) -> Pair:
    """One noisy image, trained by neighbour sub-sampling (``mode="nb2nb"``).

    Parameters
    ----------
    image : array-like
        The noisy image.
    axes : str, optional
        The image's axes (default: from its number of dimensions, see
        :func:`~napari_n2n.core.axes.default_axes`).
    clean : array-like, optional
        The clean image, where known (for PSNR reporting).

    Returns
    -------
    Pair
        Its ``target`` is ``None``.
    """
    image = require_numeric(image, "the noisy image")
    axes = validate_axes(axes, image.ndim) if axes else default_axes(image.ndim)
    return Pair(image, None, axes, "nb2nb", clean=clean)
