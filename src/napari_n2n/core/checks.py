"""The input checks, each written once with one wording.

Every check raises :class:`~napari_n2n.core.errors.InputError` with a message that says what
was wrong and what to do. ``name`` is how the message refers to the data: ``"the input"``,
``"the target"``, ``"layer 'camera noisy A'"``. Callers add context by naming the data, never by
writing their own copy of a check.

Examples
--------
>>> require_same_shape(np.zeros((4, 4)), np.zeros((4, 4)))
>>> require_numeric(np.array(["a"]), "the input")
Traceback (most recent call last):
...
napari_n2n.core.errors.InputError: The input holds <U1 values, not numbers. Choose a grayscale or multi-channel image.
"""

from __future__ import annotations

import numpy as np

from .errors import InputError


def _cap(name: str) -> str:
    return name[:1].upper() + name[1:]


def require_numeric(array, name: str = "the image"):
    """Return ``array`` (lists become numpy arrays) if it holds numbers; else raise :class:`InputError`.

    Arrays (numpy, dask, zarr, memmap) are returned as they are, never loaded.

    Parameters
    ----------
    array : array-like
        The data.
    name : str
        How the message names the data (see the module docstring).

    Returns
    -------
    array-like
        ``array``, or a numpy array made from a list.
    """
    if array is None:
        raise InputError(f"{_cap(name)} is missing. Give an image (a numpy, dask or zarr array).")
    if not hasattr(array, "shape") or not hasattr(array, "dtype"):
        try:
            array = np.asarray(array)
        except (TypeError, ValueError) as exc:
            raise InputError(
                f"{_cap(name)} is not an array ({type(array).__name__}). Give an image."
            ) from exc
    if np.dtype(array.dtype).kind not in "biuf":
        raise InputError(
            f"{_cap(name)} holds {array.dtype} values, not numbers. "
            "Choose a grayscale or multi-channel image."
        )
    return array


def require_seed(seed, *, allow_none: bool = False) -> None:
    """Raise :class:`InputError` unless ``seed`` is a whole number from 0 (or ``None`` where allowed).

    Parameters
    ----------
    seed : object
        The seed given.
    allow_none : bool
        Whether ``None`` (fresh randomness) is allowed.
    """
    if seed is None and allow_none:
        return
    if not (
        isinstance(seed, int | np.integer) and not isinstance(seed, bool) and 0 <= seed < 2**63
    ):
        raise InputError(f"The seed must be a whole number from 0 (e.g. 0 or 42), got {seed!r}.")


def require_not_empty(array, name: str = "the image") -> None:
    """Raise :class:`InputError` if ``array`` has a zero-length axis (``None`` passes: nothing to check).

    Parameters
    ----------
    array : array-like or None
        The data.
    name : str
        How the message names the data (see the module docstring).
    """
    if array is not None and any(int(s) == 0 for s in array.shape):
        raise InputError(
            f"{_cap(name)} is empty (shape {tuple(int(s) for s in array.shape)}). "
            "Choose data that holds an image."
        )


def require_finite(values, name: str = "the image", *, where: str = "") -> None:
    """Raise :class:`InputError` if in-memory ``values`` hold NaN or Inf.

    Lazy arrays (dask, zarr) are not read here: the code that reads them block by block calls
    this on each block, with ``where`` naming the block (e.g. ``" (sample 3)"``).

    Parameters
    ----------
    values : array-like
        The data; only a float numpy array is checked.
    name : str
        How the message names the data (see the module docstring).
    where : str
        Appended to the name in the message.
    """
    if not isinstance(values, np.ndarray) or values.dtype.kind != "f":
        return
    if not np.isfinite(values).all():
        raise InputError(
            f"{_cap(name)} contains NaN or Inf values{where}. Replace them first "
            "(e.g. with numpy.nan_to_num) and try again."
        )


def require_varying(
    values: np.ndarray, name: str = "the image", *, channel: int | None = None
) -> None:
    """Raise :class:`InputError` if in-memory ``values`` are constant (nothing to denoise).

    Parameters
    ----------
    values : array-like
        The data (read whole).
    name : str
        How the message names the data (see the module docstring).
    channel : int, optional
        The channel ``values`` hold, for the message.
    """
    values = np.asarray(values)
    if values.size == 0 or values.min() != values.max():
        return
    first = values.flat[0]
    what = "empty (every value is 0)" if first == 0 else f"constant (every value is {first})"
    where = f"Channel {channel} of {name}" if channel is not None else _cap(name)
    raise InputError(
        f"{where} is {what}; there is nothing to denoise. Choose data that holds an image."
    )


def require_same_shape(a, b, *, names: tuple[str, str] = ("the input", "the target")) -> None:
    """Raise :class:`InputError` unless ``a`` and ``b`` (a pair) have the same shape.

    Parameters
    ----------
    a, b : array-like
        The two arrays.
    names : tuple of str
        How the message names them.
    """
    sa = tuple(int(s) for s in a.shape)
    sb = tuple(int(s) for s in b.shape)
    if sa != sb:
        raise InputError(
            f"{_cap(names[1])} has shape {sb} but {names[0]} has {sa}; the two images of a pair must "
            "show the same scene with the same shape (crop or register them first)."
        )


def require_training_data(input, target, clean, *, mode: str, masked_target: bool = False):
    """The checks of a training run's arrays.

    Numbers, a target exactly when ``mode`` needs one, equal shapes, not empty, no NaN or Inf
    (in a ``masked_target`` NaN marks pixels left out of the loss; some must be left in).

    Parameters
    ----------
    input : array-like
        The noisy input.
    target : array-like or None
        The target; ``None`` only in single-image mode.
    clean : array-like or None
        The clean image, where known.
    mode : str
        The run's mode (``"n2n"``, ``"n2c"``, ``"nb2nb"``).
    masked_target : bool, optional
        The target is a registered neighbour frame whose NaN pixels are masked.

    Returns
    -------
    input, target, clean
        As given, lists made arrays.
    """
    input = require_numeric(input, "the input")
    target = None if target is None else require_numeric(target, "the target")
    clean = None if clean is None else require_numeric(clean, "the clean image")
    if mode == "nb2nb" and target is not None:
        raise InputError(
            "Single-image mode (nb2nb) takes no target; remove the target or choose mode n2n."
        )
    if mode != "nb2nb" and target is None:
        raise InputError(
            f"Mode {mode} needs a target image (the second noisy copy for n2n, the clean image for n2c). "
            "With only one noisy image, choose mode nb2nb."
        )
    for name, arr in (("the target", target), ("the clean image", clean)):
        if arr is not None:
            require_same_shape(input, arr, names=("the input", name))
    for name, arr in (("the input", input), ("the target", target), ("the clean image", clean)):
        if arr is not None:
            require_not_empty(arr, name)
            if not (masked_target and arr is target):
                require_finite(arr, name)
    # (registered targets are in memory; a lazy one is checked patch by patch)
    if masked_target and isinstance(target, np.ndarray) and not np.isfinite(target).any():
        raise InputError(
            "The registered target has no pixel the warp could fill: the frames do not overlap. "
            "Check the stack's axes, or train without registration."
        )
    return input, target, clean
