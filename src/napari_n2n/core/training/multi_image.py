"""One model trained on several images of different sizes, as one set.

A training run takes one image (with its target and clean reference), or lists of them of equal
length (:func:`training_sets`). Every image gets its own
:class:`~napari_n2n.core.training.sampling.PatchSampler` (its own validation region); a
:class:`MultiSampler` draws each patch from image ``k`` with probability proportional to its
training voxels, so every pixel is equally likely whatever image it is in. The images share one
set of axes, one channel count and one normalisation (fitted to all of them).

Every random choice of a batch comes from the generator of its step (``rng``, see
:class:`~napari_n2n.core.training.batches.StepRandomness`), so a resumed multi-image run draws the same
batches as one that never stopped, and the processes of a ``torchrun`` run draw different ones.
"""

from __future__ import annotations

import numpy as np

from ..axes import AxisView
from ..checks import require_training_data
from ..data.normalization import Normalization
from ..errors import InputError
from .sampling import PatchSampler


def training_sets(
    input, target=None, clean=None, *, mode: str, masked_target: bool = False
) -> list[tuple]:
    """The images trained as one set: one image, or several.

    Each set passes :func:`~napari_n2n.core.checks.require_training_data` (its number ``k`` named
    in the message when there are several).

    Parameters
    ----------
    input : array-like or list
        The noisy input, or a list of them.
    target, clean : array-like, list or None
        As ``input`` (lists of the same length), or ``None``.
    mode : {"n2n", "n2c", "nb2nb"}
        The training mode (what the target must be).
    masked_target : bool, optional
        NaN target pixels are masked (registered neighbour pairs), not errors.

    Returns
    -------
    list of tuple
        ``[(input, target, clean), ...]``.

    Raises
    ------
    InputError
        If the lists differ in length, a set fails the checks of one training image, or the
        images differ in their number of dimensions (one set of axes is given for all).
    """
    many = isinstance(input, list | tuple)
    inputs = list(input) if many else [input]
    if not inputs:
        raise InputError("No input image given: give at least one.")

    def per_input(x, name):
        if x is None:
            return [None] * len(inputs)
        if isinstance(x, list | tuple) != many or (many and len(x) != len(inputs)):
            raise InputError(f"Give one {name} per input image ({len(inputs)}), or none.")
        return list(x) if many else [x]

    sets = []
    for k, trio in enumerate(
        zip(inputs, per_input(target, "target"), per_input(clean, "clean image"))
    ):
        try:
            sets.append(require_training_data(*trio, mode=mode, masked_target=masked_target))
        except InputError as exc:
            raise (InputError(f"Image {k + 1} of {len(inputs)}: {exc}") if many else exc) from None
    dims = [s[0].ndim for s in sets]
    if len(set(dims)) > 1:
        shapes = ", ".join("×".join(str(n) for n in s[0].shape) for s in sets)
        raise InputError(
            f"The images trained together have different numbers of dimensions ({shapes}); they share "
            "one set of axes. Train on images of one kind (all 2D, or all ZYX, ...)."
        )
    return sets


def training_views(sets: list[tuple], axes: str, spatial_ndim: int) -> list[list[AxisView | None]]:
    """The axis views of the images trained together.

    Parameters
    ----------
    sets : list of tuple
        ``(input, target, clean)`` per image (``None`` where absent).
    axes : str
        Their axes (one set for all).
    spatial_ndim : int
        2 or 3.

    Returns
    -------
    list of list
        An :class:`~napari_n2n.core.axes.AxisView` (or ``None``) per array of ``sets``.

    Raises
    ------
    InputError
        If the inputs differ in their number of channels.
    """
    views = [
        [None if a is None else AxisView(a, axes, spatial_ndim) for a in trio] for trio in sets
    ]
    counts = [vs[0].n_channels for vs in views]
    if len(set(counts)) > 1:
        raise InputError(
            f"The images trained together have different numbers of channels ({counts}). Give images "
            "with the same channels."
        )
    return views


def sampler_for(
    views: list[list[AxisView | None]],
    config,
    *,
    patch: tuple[int, ...],
    norm: Normalization,
    channels: list[int],
    seed: int,
) -> PatchSampler | MultiSampler:
    """The patch sampler of one model.

    Parameters
    ----------
    views : list of list
        The axis views of the images, ``[[input, target, clean], ...]``.
    config : TrainConfig
        The run's options (validation band, mode, augmentation, symmetry).
    patch : tuple of int
        The training patch's shape.
    norm : Normalization
        The normalisation of the run.
    channels : list of int
        The channels the model takes.
    seed : int
        Seeds the patch positions.

    Returns
    -------
    PatchSampler or MultiSampler
        A :class:`PatchSampler` for one image, a :class:`MultiSampler` for several.
    """
    samplers = [
        PatchSampler(
            *trio,
            patch=patch,
            norm=norm,
            channels=channels,
            val_fraction=config.val_fraction,
            nb2nb=config.mode == "nb2nb",
            augment=config.augment,
            symmetric=config.symmetric and config.mode == "n2n" and config.register == "none",
            masked_target=config.register != "none",
            seed=seed + k,
        )
        for k, trio in enumerate(views)
    ]
    return samplers[0] if len(samplers) == 1 else MultiSampler(samplers, seed=seed)


class MultiSampler:
    """Patches from several images of different sizes (one :class:`PatchSampler` each), trained as one set.

    Each patch comes from image ``k`` with probability proportional to its training voxels;
    validation runs over the held-out region of every image. Its training data are never
    resident on the device (:func:`~napari_n2n.core.training.batches.choose_residency`): patches are read per batch.
    """

    def __init__(self, samplers: list[PatchSampler], *, seed: int = 0):
        self.samplers = list(samplers)
        first = self.samplers[0]
        self.norm, self.channels, self.patch, self.read_patch = (
            first.norm,
            first.channels,
            first.patch,
            first.read_patch,
        )
        self.rng = np.random.default_rng(seed)
        sizes = np.array([s.train_voxels for s in self.samplers], dtype=np.float64)
        self.weights = sizes / sizes.sum()
        self.notes = list(dict.fromkeys(n for s in self.samplers for n in s.notes))
        self.notes.append(
            f"{len(self.samplers)} images, patches drawn in proportion to their size "
            f"({', '.join(f'{w:.0%}' for w in self.weights)})"
        )

    @property
    def has_validation(self) -> bool:
        """Whether any image has a held-out region."""
        return any(s.has_validation for s in self.samplers)

    @property
    def train_voxels(self) -> int:
        """Voxels of the training regions of all images."""
        return sum(s.train_voxels for s in self.samplers)

    def sample_batch(
        self, batch_size: int, *, rng: np.random.Generator | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """A random batch, each patch from an image drawn in proportion to its size.

        Parameters
        ----------
        batch_size : int
            Patches in the batch.
        rng : numpy.random.Generator, optional
            All choices come from it (default: the sampler's own generator).

        Returns
        -------
        tuple
            ``(x, y)`` as :meth:`PatchSampler.sample_batch`.
        """
        rng = self.rng if rng is None else rng
        counts = np.bincount(
            rng.choice(len(self.samplers), size=batch_size, p=self.weights),
            minlength=len(self.samplers),
        )
        parts = [s.sample_batch(int(n), rng=rng) for s, n in zip(self.samplers, counts) if n]
        x = np.concatenate([p[0] for p in parts])
        y = None if parts[0][1] is None else np.concatenate([p[1] for p in parts])
        order = rng.permutation(len(x))
        return x[order], None if y is None else y[order]

    def validation_batches(self, batch_size: int):
        """The validation batches of every image in turn.

        Parameters
        ----------
        batch_size : int
            Patches per batch.

        Yields
        ------
        tuple
            ``(x, y, clean)`` as :meth:`PatchSampler.validation_batches`.
        """
        for s in self.samplers:
            yield from s.validation_batches(batch_size)
