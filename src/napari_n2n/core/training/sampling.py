"""Training patches: random crops (with augmentation) and a held-out validation region.

Patches are *sampled* from the arrays at every step (never all materialised), so a large
time-lapse or a disk-backed volume costs memory for one batch only. A band at the end of the
X axis (or, where the image is too narrow, the last sample of a stack) is held out for
validation, so the model is judged on pixels it never trained on. Which weights are kept is
decided in :mod:`napari_n2n.core.training.selection`.
"""

from __future__ import annotations

import numpy as np

from ..axes import AxisView, default_axes, validate_axes
from ..checks import require_finite
from ..data.normalization import Normalization
from ..errors import InputError

#: the smallest patch side a U-Net trains on
MIN_PATCH = 8


def patch_advice(axis: str, size: int, need: int, *, nb2nb: bool = False) -> str:
    """Why an image cannot give patches of the size asked for, and a size that works.

    Parameters
    ----------
    axis : str
        The axis too short (``"Z"``, ``"Y"`` or ``"X"``).
    size : int
        The image's pixels along it.
    need : int
        The pixels a patch reads along it.
    nb2nb : bool, optional
        Single-image mode (it reads patches twice as large in Y and X).

    Returns
    -------
    str
        The message.

    Examples
    --------
    >>> patch_advice("X", 100, 128)
    'The image is smaller than the patch: X is 100 pixels but the patch needs 128. Choose a patch size of at most 100.'
    """
    factor = 2 if nb2nb and axis in "YX" else 1
    extra = " (single-image mode reads patches twice as large)" if factor == 2 else ""
    fits = size // factor  # any side from MIN_PATCH works (the U-Net pads what it needs)
    if fits >= MIN_PATCH:
        return (
            f"The image is smaller than the patch: {axis} is {size} pixels but the patch needs {need}{extra}. "
            f"Choose a patch size of at most {fits}."
        )
    return (
        f"The image is too small to train on: {axis} is {size} pixel{'s' * (size != 1)}, and the smallest patch "
        f"needs {MIN_PATCH * factor}{extra}. If {axis} is not a spatial axis (colours, time), give the image's "
        "axes (e.g. YXC for a colour image, TYX for a time series)."
    )


def augment(
    blocks: list[np.ndarray], rng: np.random.Generator, spatial_ndim: int
) -> list[np.ndarray]:
    """Apply one random flip/rot90 to each block identically.

    Parameters
    ----------
    blocks : list of numpy.ndarray or None
        ``(C, *spatial)`` blocks of one patch (input, target, ...); ``None`` stays ``None``.
    rng : numpy.random.Generator
        For the random choices.
    spatial_ndim : int
        2 or 3.

    Returns
    -------
    list of numpy.ndarray or None
        The transformed blocks, contiguous.
    """
    axes = list(range(1, 1 + spatial_ndim))
    for ax in axes:
        if rng.random() < 0.5:
            blocks = [None if b is None else np.flip(b, ax) for b in blocks]
    ref = next(b for b in blocks if b is not None)
    if ref.shape[-1] == ref.shape[-2]:
        k = int(rng.integers(4))
        if k:
            blocks = [None if b is None else np.rot90(b, k, axes=(-2, -1)) for b in blocks]
    return [None if b is None else np.ascontiguousarray(b) for b in blocks]


class PatchSampler:
    """Draws random training patches and fixed validation patches from a pair of views.

    Parameters
    ----------
    inp, target, clean : AxisView or None
        The noisy input, the training target (another noisy copy, the clean image for
        Noise2Clean, or ``None`` for single-image Neighbor2Neighbor) and an optional clean
        reference used only to report PSNR.
    patch : tuple of int
        Spatial patch size of the network input.
    norm : Normalization
    channels : list of int
        Which channels of the views feed the model.
    val_fraction : float
        Width of the held-out band at the end of X, as a fraction of X (0 disables validation).
    nb2nb : bool
        Read patches twice as large in Y and X, for neighbour sub-sampling.
    masked_target : bool
        NaN target pixels are masked (registered neighbour pairs), not errors.
    """

    def __init__(  # noqa: PLR0913  a sampler's data and its TrainConfig-like settings
        self,
        inp: AxisView,
        target: AxisView | None,
        clean: AxisView | None,
        *,
        patch: tuple[int, ...],
        norm: Normalization,
        channels: list[int],
        val_fraction: float = 0.1,
        nb2nb: bool = False,
        augment: bool = True,
        symmetric: bool = False,
        seed: int = 0,
        max_val_patches: int = 32,
        masked_target: bool = False,
    ):
        self.inp = inp
        self.target = target
        self.clean = clean
        self.masked_target = masked_target
        self.norm = norm
        self.channels = list(channels)
        self.augment = augment
        self.symmetric = symmetric
        self.nb2nb = nb2nb
        self.rng = np.random.default_rng(seed)
        nd = inp.spatial_ndim
        self.patch = tuple(int(p) for p in patch)
        # the patch read from the arrays (twice as large in Y and X for neighbour sub-sampling)
        self.read_patch = tuple(
            p * 2 if (nb2nb and i >= nd - 2) else p for i, p in enumerate(self.patch)
        )
        shape = inp.spatial_shape
        names = "ZYX"[-nd:]
        for name, size, need in zip(names, shape, self.read_patch):
            if size < need:
                raise InputError(patch_advice(name, size, need, nb2nb=nb2nb))
        self.notes: list[str] = []
        self.max_val_patches = max_val_patches
        self._split(val_fraction)

    @classmethod
    def from_arrays(
        cls,
        input,
        target=None,
        clean=None,
        *,
        axes: str | None = None,
        spatial_ndim: int | None = None,
        patch: int | tuple[int, ...] = 64,
        **options,
    ) -> PatchSampler:
        """A sampler over arrays (numpy, dask, zarr) with all channels, normalised as the input.

        Parameters
        ----------
        input, target, clean : array-like or None
            As for the constructor, as arrays.
        axes : str, optional
            Their axes (default ``YX``/``ZYX`` for 2D/3D arrays).
        spatial_ndim : int, optional
            2 or 3 (default 3 when the axes have Z).
        patch : int or tuple of int, optional
            The patch's side, or shape.
        **options
            The other keyword options of the constructor.

        Returns
        -------
        PatchSampler
            The sampler.

        Examples
        --------
        >>> s = PatchSampler.from_arrays(np.random.rand(64, 64), patch=16, seed=0)
        >>> x, y = s.sample_batch(4)
        >>> x.shape, y
        ((4, 1, 16, 16), None)
        """
        axes = validate_axes(axes, input.ndim) if axes else default_axes(input.ndim)
        nd = spatial_ndim or (3 if "Z" in axes else 2)
        views = [None if a is None else AxisView(a, axes, nd) for a in (input, target, clean)]
        norm = Normalization.fit([views[0]])
        patch = (patch,) * nd if isinstance(patch, int) else tuple(patch)
        return cls(
            *views, patch=patch, norm=norm, channels=list(range(views[0].n_channels)), **options
        )

    # ---- regions -------------------------------------------------------------------------
    def _split(self, val_fraction: float) -> None:
        shape = self.inp.spatial_shape
        x_size = shape[-1]
        need = self.read_patch[-1]
        n = self.inp.n_samples
        self.train_samples = list(range(n))
        self.train_box = [(0, s) for s in shape]
        self.val_positions: list[tuple[int, tuple[slice, ...]]] = []
        if val_fraction <= 0:
            self.notes.append("validation disabled")
            return
        width = max(need, int(np.ceil(val_fraction * x_size)))
        if x_size - width >= need:
            self.train_box[-1] = (0, x_size - width)
            val_box = [(0, s) for s in shape[:-1]] + [(x_size - width, x_size)]
            samples = list(range(n))
        elif n >= 2:
            self.train_samples = list(range(n - 1))
            val_box = [(0, s) for s in shape]
            samples = [n - 1]
            self.notes.append(
                "validation on the last sample of the stack (the image is too narrow for a held-out band)"
            )
        else:
            self.notes.append(
                "validation disabled: the image is too small to hold out a band of one patch"
            )
            return
        starts_per_axis = []
        for (a, b), p in zip(val_box, self.read_patch):
            starts = list(range(a, b - p + 1, p)) or [a]
            starts_per_axis.append(starts)
        grid = (
            np.array(np.meshgrid(*starts_per_axis, indexing="ij"))
            .reshape(len(starts_per_axis), -1)
            .T
        )
        positions = [
            (s, tuple(slice(int(o), int(o) + p) for o, p in zip(g, self.read_patch)))
            for s in samples
            for g in grid
        ]
        if len(positions) > 0:
            pick = np.linspace(
                0, len(positions) - 1, num=min(len(positions), self.max_val_patches), dtype=int
            )
            self.val_positions = [positions[i] for i in pick]

    @property
    def has_validation(self) -> bool:
        """Whether the image has a held-out region to validate on."""
        return bool(self.val_positions)

    @property
    def train_voxels(self) -> int:
        """Voxels of the training region, over all samples."""
        return len(self.train_samples) * int(np.prod([b - a for a, b in self.train_box]))

    # ---- reading -------------------------------------------------------------------------
    def _read(self, view: AxisView | None, n: int, sl: tuple[slice, ...]) -> np.ndarray | None:
        if view is None:
            return None
        block = view.read(n, sl)[self.channels]
        if (
            not (self.masked_target and view is self.target) and not np.isfinite(block).all()
        ):  # lazy inputs (dask, zarr) are checked here, patch by patch
            require_finite(block, "the image", where=view.where(n, sl, "patch"))
        return self.norm.apply(block, self.channels)

    def sample_batch(
        self, batch_size: int, *, rng: np.random.Generator | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """A random training batch.

        Parameters
        ----------
        batch_size : int
            Patches in the batch.
        rng : numpy.random.Generator, optional
            The random choices come from it (default: the sampler's own generator, seeded by
            ``seed``).

        Returns
        -------
        tuple
            ``(x, y)``, each ``(B, C, *read_patch)`` float32 (``y`` None for nb2nb).
        """
        rng = self.rng if rng is None else rng
        xs = []
        ys = []
        for _ in range(batch_size):
            n = self.train_samples[int(rng.integers(len(self.train_samples)))]
            sl = tuple(
                slice(o, o + p)
                for o, p in (
                    (int(rng.integers(a, b - p + 1)), p)
                    for (a, b), p in zip(self.train_box, self.read_patch)
                )
            )
            x = self._read(self.inp, n, sl)
            y = self._read(self.target, n, sl)
            if self.augment:
                x, y = augment([x, y], rng, self.inp.spatial_ndim)
            if self.symmetric and y is not None and rng.random() < 0.5:
                x, y = y, x
            xs.append(x)
            ys.append(y)
        x = np.stack(xs).astype(np.float32, copy=False)
        y = None if ys[0] is None else np.stack(ys).astype(np.float32, copy=False)
        return x, y

    def validation_batches(self, batch_size: int):
        """The fixed validation batches.

        Parameters
        ----------
        batch_size : int
            Patches per batch.

        Yields
        ------
        tuple
            ``(x, y, clean)``; ``y`` and ``clean`` may be None.
        """
        for i in range(0, len(self.val_positions), batch_size):
            chunk = self.val_positions[i : i + batch_size]
            x = np.stack([self._read(self.inp, n, sl) for n, sl in chunk])
            y = (
                None
                if self.target is None
                else np.stack([self._read(self.target, n, sl) for n, sl in chunk])
            )
            c = (
                None
                if self.clean is None
                else np.stack([self._read(self.clean, n, sl) for n, sl in chunk])
            )
            yield x, y, c
