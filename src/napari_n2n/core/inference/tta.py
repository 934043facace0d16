"""Test-time augmentation and uncertainty maps, on top of :meth:`Denoiser.predict`.

* :func:`predict_tta` averages the predictions of the 8 flips/rotations of the image in its
  Y–X plane (the dihedral group the network was trained with), each mapped back: the
  network's errors differ between orientations and partly average out.
* :func:`denoise_pair` predicts both images of a pair (optionally with augmentation), and
  returns their mean — the best output a pair gives — with two maps that show where to trust
  it: the **disagreement** between the predictions of A and of B (their noise is independent,
  so where the two predictions differ the network is unsure), and the **residual**
  ``input − output`` (pure noise where the network only removed noise; structure in it means
  the network removed or invented structure).

Each has an ``_iter`` form that yields :class:`~napari_n2n.core.inference.predict.TileProgress` (the
count of tiles over all passes) and returns its result, for progress bars and cancelling.

Examples
--------
>>> from napari_n2n.core.inference.denoiser import Denoiser
>>> from napari_n2n.core.training.start import general_model_path
>>> denoiser = Denoiser.load(general_model_path())
>>> rng = np.random.default_rng(0)
>>> a, b = rng.random((2, 64, 64), dtype="float32")
>>> result = denoise_pair(denoiser, a, b, tta=True)
>>> result.mean.shape, result.disagreement.shape, result.residual.shape
((64, 64), (64, 64), (64, 64))
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..checks import require_same_shape
from ..errors import InputError
from ..events import TileProgress
from ..progress import as_part, drain, in_sequence
from .predict import PredictOptions

__all__ = [
    "DIHEDRAL",
    "transform",
    "untransform",
    "predict_tta",
    "predict_tta_iter",
    "disagreement",
    "residual",
    "PairResult",
    "denoise_pair",
    "denoise_pair_iter",
]

#: the 8 symmetries of the square: (number of 90° rotations, flip along X first)
DIHEDRAL: tuple[tuple[int, bool], ...] = tuple((k, f) for f in (False, True) for k in range(4))


def transform(image, t: tuple[int, bool], yx: tuple[int, int]):
    """Apply a dihedral transform to the Y and X axes of an image.

    Parameters
    ----------
    image : array-like
        numpy or dask.
    t : tuple of (int, bool)
        Quarter turns, and whether to mirror first.
    yx : tuple of int
        The Y and X axes of ``image``.

    Returns
    -------
    array-like
        The transformed image (numpy or dask, like ``image``).
    """
    k, flip = t
    if flip:
        image = np.flip(image, axis=yx[1])
    return np.rot90(image, k, axes=yx) if k else image


def untransform(image, t: tuple[int, bool], yx: tuple[int, int]):
    """The inverse of :func:`transform`.

    Parameters
    ----------
    image : array-like
        A transformed image (numpy or dask).
    t : tuple of (int, bool)
        The transform that made it.
    yx : tuple of int
        The Y and X axes.

    Returns
    -------
    array-like
        The image as it was before ``transform``.

    Examples
    --------
    >>> image = np.arange(6).reshape(2, 3)
    >>> turned = transform(image, (1, True), (-2, -1))
    >>> bool((untransform(turned, (1, True), (-2, -1)) == image).all())
    True
    """
    k, flip = t
    if k:
        image = np.rot90(image, -k, axes=yx)
    return np.flip(image, axis=yx[1]) if flip else image


def _transforms(n: int) -> tuple[tuple[int, bool], ...]:
    if n not in (1, 2, 4, 8):
        raise InputError(f"Test-time augmentation uses 1, 2, 4 or 8 transforms, got {n}.")
    # 2: identity and the 180° rotation; 4: the four rotations; 8: rotations and their mirror images
    return {1: DIHEDRAL[:1], 2: (DIHEDRAL[0], DIHEDRAL[2]), 4: DIHEDRAL[:4], 8: DIHEDRAL}[n]


def _yx(denoiser, image, axes: str | None) -> tuple[str, tuple[int, int]]:
    axes = denoiser.resolve_axes(image, axes)
    return axes, (axes.index("Y"), axes.index("X"))


def _options(options: PredictOptions | None, keywords: dict) -> PredictOptions:
    """The options of one prediction: ``options`` with the keyword options of the caller put in.

    ``dtype`` is left out (each prediction is averaged in float32), and an ``out`` array is
    refused (the passes accumulate their own output).
    """
    keywords = dict(keywords)
    if keywords.pop("out", None) is not None:
        raise InputError("Test-time augmentation accumulates its own output; leave out 'out'.")
    keywords.pop("dtype", None)
    return PredictOptions.of(options, **keywords)


def predict_tta_iter(
    denoiser,
    image,
    *,
    axes: str | None = None,
    transforms: int = 8,
    options: PredictOptions | None = None,
    **predict_options,
) -> Iterator[TileProgress]:
    """Like :func:`predict_tta`, yielding progress over all passes.

    Parameters
    ----------
    denoiser : Denoiser
        A trained model.
    image : array-like
        The image to denoise.
    axes : str, optional
        Its axes.
    transforms : {1, 2, 4, 8}
        How many of the Y–X symmetries to average.
    options : PredictOptions, optional
        Tiling and device as one object.
    **predict_options
        ``tile``, ``overlap``, ``batch_size``, ``device`` of :meth:`Denoiser.predict`.

    Yields
    ------
    TileProgress
        The count of tiles over all passes.

    Returns
    -------
    numpy.ndarray
        The averaged prediction, as ``StopIteration.value``.
    """
    if not hasattr(image, "shape"):
        image = np.asarray(image)
    options = _options(options, predict_options)
    axes, yx = _yx(denoiser, image, axes)
    ts = _transforms(transforms)
    acc = np.zeros(tuple(image.shape), dtype=np.float32)
    for i, t in enumerate(ts):
        gen = denoiser.predict_iter(
            transform(image, t, yx), axes=axes, options=options, dtype="float32"
        )
        pred = yield from as_part(gen, i, len(ts))
        acc += untransform(np.asarray(pred, dtype=np.float32), t, yx)
    acc /= len(ts)
    return acc


def predict_tta(
    denoiser,
    image,
    *,
    axes: str | None = None,
    transforms: int = 8,
    options: PredictOptions | None = None,
    **predict_options,
) -> np.ndarray:
    """Denoise ``image`` as the mean of the predictions of its flipped/rotated copies.

    Parameters
    ----------
    denoiser : Denoiser
        A trained model.
    image : array-like
        As for :meth:`Denoiser.predict` (numpy or dask, any axes with Y and X).
    axes : str, optional
        The image's axes (default as in :meth:`Denoiser.predict`).
    transforms : {1, 2, 4, 8}
        How many of the Y–X symmetries to average (8: all rotations and mirror images).
    options : PredictOptions, optional
        Tiling and device as one object (see
        :class:`~napari_n2n.core.inference.predict.PredictOptions`).
    **predict_options
        ``tile``, ``overlap``, ``batch_size``, ``device`` of :meth:`Denoiser.predict`; a
        keyword wins over the same field of ``options``.

    Returns
    -------
    ndarray
        float32, the image's shape. Costs ``transforms`` predictions.
    """
    return drain(
        predict_tta_iter(
            denoiser, image, axes=axes, transforms=transforms, options=options, **predict_options
        )
    )


def disagreement(
    pred_a, pred_b, *, sigma: float = 1.0, yx: tuple[int, int] = (-2, -1)
) -> np.ndarray:
    """Where the predictions of the two images of a pair differ: an error bar of one prediction.

    ``|f(A) − f(B)| / √2`` estimates the standard deviation of the random part of one
    prediction's error (the part that comes from the noise the network saw), since the noises
    of A and B are independent. With ``sigma > 0`` it is the root of the local mean (Gaussian
    window of ``sigma`` pixels in Y and X) of ``(f(A) − f(B))² / 2``: a smoother, readable map.
    The error of the pair's mean ``(f(A) + f(B)) / 2`` is about ``1/√2`` of it.

    Parameters
    ----------
    pred_a, pred_b : array-like
        The predictions of A and of B, same shape.
    sigma : float, optional
        Smoothing in Y and X, pixels (0: none).
    yx : tuple of int, optional
        The Y and X axes.

    Returns
    -------
    numpy.ndarray
        float32, the predictions' shape.

    Raises
    ------
    InputError
        If the predictions differ in shape.
    """
    a = np.asarray(pred_a, dtype=np.float32)
    b = np.asarray(pred_b, dtype=np.float32)
    if a.shape != b.shape:
        raise InputError(
            f"The two predictions have shapes {a.shape} and {b.shape}; they must match."
        )
    power = np.square(a - b) / 2.0
    if sigma > 0:
        from scipy.ndimage import gaussian_filter

        sig = [0.0] * a.ndim
        sig[yx[0]] = sig[yx[1]] = float(sigma)
        power = gaussian_filter(power, sig, mode="reflect")
    return np.sqrt(power, dtype=np.float32)


def residual(input, output) -> np.ndarray:
    """``input − output``: what the denoiser removed (noise only, where it removed no structure).

    Parameters
    ----------
    input, output : array-like
        The noisy image and its prediction, same shape.

    Returns
    -------
    numpy.ndarray
        float32, their shape.

    Raises
    ------
    InputError
        If they differ in shape.
    """
    x = np.asarray(input, dtype=np.float32)
    y = np.asarray(output, dtype=np.float32)
    if x.shape != y.shape:
        raise InputError(f"Input and output have shapes {x.shape} and {y.shape}; they must match.")
    return x - y


@dataclass(frozen=True)
class PairResult:
    """The denoised pair: its mean and the maps that show where to trust it.

    Attributes
    ----------
    mean : ndarray
        ``(f(A) + f(B)) / 2``, the output to use.
    pred_a, pred_b : ndarray
        The predictions of A and of B.
    disagreement : ndarray
        See :func:`disagreement`.
    residual : ndarray
        ``(A + B) / 2 − mean``: what was removed (see :func:`residual`).
    """

    mean: np.ndarray
    pred_a: np.ndarray
    pred_b: np.ndarray
    disagreement: np.ndarray
    residual: np.ndarray


def denoise_pair_iter(
    denoiser,
    a,
    b,
    *,
    axes: str | None = None,
    tta: bool | int = False,
    sigma: float = 1.0,
    options: PredictOptions | None = None,
    **predict_options,
) -> Iterator[TileProgress]:
    """Like :func:`denoise_pair`, yielding progress over both images.

    Parameters
    ----------
    denoiser : Denoiser
        A trained model.
    a, b : array-like
        The two noisy images of one scene, same shape.
    axes : str, optional
        Their axes.
    tta : bool or {2, 4, 8}
        Test-time augmentation for each prediction.
    sigma : float
        Smoothing of the disagreement map, pixels.
    options : PredictOptions, optional
        Tiling and device as one object.
    **predict_options
        ``tile``, ``overlap``, ``batch_size``, ``device`` of :meth:`Denoiser.predict`.

    Yields
    ------
    TileProgress
        The count of tiles over both images and all passes.

    Returns
    -------
    PairResult
        As ``StopIteration.value``.
    """
    require_same_shape(a, b, names=("A", "B"))
    options = _options(options, predict_options)
    axes, yx = _yx(denoiser, a, axes)
    n = 8 if tta is True else (1 if tta is False else int(tta))
    pa, pb = yield from in_sequence(
        [
            predict_tta_iter(denoiser, img, axes=axes, transforms=n, options=options)
            for img in (a, b)
        ]
    )
    mean = 0.5 * (pa + pb)
    noisy_mean = 0.5 * (np.asarray(a, dtype=np.float32) + np.asarray(b, dtype=np.float32))
    return PairResult(
        mean=mean,
        pred_a=pa,
        pred_b=pb,
        disagreement=disagreement(pa, pb, sigma=sigma, yx=yx),
        residual=residual(noisy_mean, mean),
    )


def denoise_pair(
    denoiser,
    a,
    b,
    *,
    axes: str | None = None,
    tta: bool | int = False,
    sigma: float = 1.0,
    options: PredictOptions | None = None,
    **predict_options,
) -> PairResult:
    """Denoise both images of a pair; return their mean with a disagreement map and the residual.

    Parameters
    ----------
    denoiser : Denoiser
        A trained model.
    a, b : array-like
        The two noisy images of one scene, same shape.
    axes : str, optional
        Their axes (default as in :meth:`Denoiser.predict`).
    tta : bool or {2, 4, 8}
        Test-time augmentation for each prediction (``True``: all 8 transforms).
    sigma : float
        Smoothing of the disagreement map, pixels (0: none).
    options : PredictOptions, optional
        Tiling and device as one object (see
        :class:`~napari_n2n.core.inference.predict.PredictOptions`).
    **predict_options
        ``tile``, ``overlap``, ``batch_size``, ``device`` of :meth:`Denoiser.predict`; a
        keyword wins over the same field of ``options``.

    Returns
    -------
    PairResult
        The mean (the output to use), both predictions, the disagreement map and the residual.

    Raises
    ------
    InputError
        If the two images differ in shape, or do not fit the model.
    """
    return drain(
        denoise_pair_iter(
            denoiser, a, b, axes=axes, tta=tta, sigma=sigma, options=options, **predict_options
        )
    )
