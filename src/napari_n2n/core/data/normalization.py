"""Robust per-channel standardisation of the data a model trains on and predicts."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..axes import AxisView
from ..checks import require_finite, require_varying
from .outliers import sample

#: percentiles used for robust normalisation (outliers such as hot pixels do not set the scale)
PERCENTILES = (0.5, 99.5)


@dataclass(frozen=True)
class Normalization:
    """Per-channel robust standardisation ``(x - offset) / scale``, stored with the model.

    ``offset`` is the median and ``scale`` a quarter of the spread between the 0.5th and
    99.5th percentiles of the values that are not isolated outliers (close to the standard
    deviation for most images, but not moved by hot pixels or saturated spots). Zero-centred inputs of unit spread matter: a U-Net without
    normalisation layers trains several times faster on them than on data scaled to [0, 1]
    (camera, sigma 25, 50 steps: 26.1 dB vs 15.1 dB in our measurements).

    Parameters
    ----------
    offset, scale : tuple of float
        One value per channel of the data.
    outliers : float
        See the attribute below.
    """

    offset: tuple[float, ...]
    scale: tuple[float, ...]
    #: share of the values seen by :meth:`fit` that were isolated outliers (not stored in model files)
    outliers: float = field(default=0.0, compare=False)

    def shaped(self, channels, ndim_after_channel: int):
        """``(offset, scale)`` arrays for ``channels``, broadcastable over ``(C, *spatial)`` blocks.

        Parameters
        ----------
        channels : sequence of int
            The channels of the block, in its order.
        ndim_after_channel : int
            The block's number of spatial axes.

        Returns
        -------
        offset, scale : ndarray
            float32, of shape ``(len(channels), 1, ...)``.
        """
        off = np.asarray(self.offset, dtype=np.float32)[list(channels)]
        sc = np.asarray(self.scale, dtype=np.float32)[list(channels)]
        shape = (-1,) + (1,) * ndim_after_channel
        return off.reshape(shape), sc.reshape(shape)

    def apply(self, x: np.ndarray, channels=None) -> np.ndarray:
        """Normalise a ``(C, *spatial)`` block.

        Parameters
        ----------
        x : ndarray
            The block.
        channels : sequence of int, optional
            Which of the fitted channels the block holds (default: all, in order).

        Returns
        -------
        ndarray
            ``(x - offset) / scale``.
        """
        off, sc = self.shaped(
            channels if channels is not None else range(len(self.offset)), x.ndim - 1
        )
        return (x - off) / sc

    def undo(self, x: np.ndarray, channels=None) -> np.ndarray:
        """The inverse of :meth:`apply`: ``x * scale + offset``, with the same parameters."""
        off, sc = self.shaped(
            channels if channels is not None else range(len(self.offset)), x.ndim - 1
        )
        return x * sc + off

    def to_dict(self) -> dict:
        """The JSON form stored in model files (with the percentiles, for the record)."""
        return {
            "offset": list(self.offset),
            "scale": list(self.scale),
            "percentiles": list(PERCENTILES),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Normalization:
        """The inverse of :meth:`to_dict`."""
        return cls(tuple(float(v) for v in d["offset"]), tuple(float(v) for v in d["scale"]))

    @classmethod
    def fit(
        cls, views: list[AxisView], *, max_values: int = 1_000_000, seed: int = 0
    ) -> Normalization:
        """Robust per-channel percentiles from one or more views (sampled when large).

        Isolated outliers (hot and dead pixels, impulses: :mod:`napari_n2n.core.data.outliers`) are
        left out of the percentiles, so 1 % of them do not move the scale (they made it 21
        times too large before); their share is kept in :attr:`outliers`.

        Parameters
        ----------
        views : list of AxisView
            The data, with the same channels.
        max_values : int
            Roughly how many values per channel are read, at most.
        seed : int
            Seed of the sampling.

        Returns
        -------
        Normalization
        """
        rng = np.random.default_rng(seed)
        per_channel: list[list[np.ndarray]] = [[] for _ in range(views[0].n_channels)]
        kept_channel: list[list[np.ndarray]] = [[] for _ in range(views[0].n_channels)]
        for view in views:
            voxels = int(np.prod(view.spatial_shape))
            n_read = max(1, min(view.n_samples, max_values // max(voxels, 1)))
            for n in sorted(rng.choice(view.n_samples, size=n_read, replace=False)):
                block = view.read(int(n))
                if not np.isfinite(block).all():
                    require_finite(block, "the image", where=view.where(int(n), ()))
                # one huge sample: a random subset of its voxels
                values, outlier = sample(block, min(voxels, max_values), rng)
                for c in range(values.shape[0]):
                    per_channel[c].append(values[c])
                    kept_channel[c].append(~outlier[c])
        offsets = []
        scales = []
        n_out = 0
        n_all = 0
        for c, parts in enumerate(per_channel):
            values = np.concatenate(parts)
            keep = np.concatenate(kept_channel[c])
            n_out, n_all = n_out + int(values.size - keep.sum()), n_all + values.size
            inliers = values[keep] if keep.sum() >= max(16, keep.size // 2) else values
            median = np.median(values)  # robust as it is: outliers are left out of the spread only
            p_lo, p_hi = np.percentile(inliers, PERCENTILES)
            if not p_hi > p_lo:
                p_lo = float(inliers.min())
                p_hi = float(inliers.max())
            if not p_hi > p_lo:
                p_lo = float(values.min())
                p_hi = float(values.max())
            if not p_hi > p_lo:
                require_varying(values, "the image", channel=c)
            offsets.append(float(median))
            scales.append(float(p_hi - p_lo) / 4.0)
        return cls(tuple(offsets), tuple(scales), outliers=n_out / max(n_all, 1))
