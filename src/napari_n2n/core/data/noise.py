"""Noise models and noisy-pair synthesis.

Each noise model turns a clean image into a noisy copy; :func:`synthesize_pair` draws two
copies with *independent* noise, which is what Noise2Noise trains on. Every model works in
the image's own intensity units and is reproducible from a seed.

Which model fits which data
---------------------------
``Gaussian(sigma)``
    Additive, signal-independent noise: read-out noise of a bright camera, thermal noise,
    MRI magnitude images at high SNR. ``sigma`` is in the image's units (25 on a 0–255 image).
``Poisson(peak)``
    Photon shot noise: fluorescence microscopy and low-dose imaging where photon counting
    dominates. The image is scaled so its maximum gives ``peak`` expected photons; lower
    peak means darker, noisier data (peak 5 is very low light, peak 30 moderate).
``PoissonGaussian(gain, read_sigma)``
    The camera model of microscopy: shot noise on the signal in electrons (``image / gain``)
    plus Gaussian read noise of ``read_sigma`` in the image's units.
``Impulse(fraction, kind)``
    Dead/hot pixels and transmission errors: a ``fraction`` of pixels replaced by the
    minimum or maximum (``"salt_pepper"``) or by uniform random values (``"random"``). Not
    zero-mean: train with the L1 or annealed-L0 loss (median / mode seeking).
``Bernoulli(p)``
    Missing samples: each pixel is dropped (zero) with probability ``p``; kept pixels are
    divided by ``1 - p`` so the noisy image is unbiased and L2 training works.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..checks import require_finite, require_numeric, require_seed
from ..errors import InputError

__all__ = [
    "NoiseModel",
    "Gaussian",
    "Poisson",
    "PoissonGaussian",
    "Impulse",
    "Bernoulli",
    "NOISE_MODELS",
    "make_noise",
    "noise_params",
    "noise_from_dict",
    "synthesize_pair",
    "estimate_noise_sigma",
]


def _as_float(image: np.ndarray) -> np.ndarray:
    arr = require_numeric(np.asarray(image), "the clean image")
    require_finite(arr, "the clean image")
    return arr.astype(np.float64, copy=False)


@dataclass(frozen=True)
class NoiseModel:
    """Base class: a noise model is a frozen dataclass with :meth:`apply`.

    Its fields are its parameters; :attr:`name` is how :func:`make_noise` and model files name it.
    """

    name: ClassVar[str] = "none"
    #: the loss that suits this noise in Noise2Noise training
    suggested_loss: ClassVar[str] = "l2"

    def apply(self, clean: np.ndarray, rng: np.random.Generator) -> np.ndarray:  # pragma: no cover
        """One noisy copy of ``clean``.

        Parameters
        ----------
        clean : ndarray
            The clean image (finite numbers, any shape).
        rng : numpy.random.Generator
            Where the noise is drawn from.

        Returns
        -------
        ndarray
            float64, the shape of ``clean``; not clipped.
        """
        raise NotImplementedError

    def to_dict(self) -> dict:
        """``{"name": ..., **parameters}``, which :func:`noise_from_dict` reads back."""
        return {"name": self.name, **dataclasses.asdict(self)}

    def describe(self) -> str:
        """A short text for messages and reports, e.g. ``"gaussian(sigma=25)"``."""
        params = ", ".join(
            f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
            for k, v in dataclasses.asdict(self).items()
        )
        return f"{self.name}({params})"


@dataclass(frozen=True)
class Gaussian(NoiseModel):
    """Additive white Gaussian noise.

    Parameters
    ----------
    sigma : float
        Its standard deviation, in image units (>= 0).
    """

    sigma: float = 25.0
    name: ClassVar[str] = "gaussian"

    def __post_init__(self):
        if not self.sigma >= 0:
            raise InputError(f"Gaussian sigma must be >= 0, got {self.sigma}.")

    def apply(self, clean, rng):
        """One noisy copy of ``clean`` (see :meth:`NoiseModel.apply`)."""
        x = _as_float(clean)
        return x + rng.normal(0.0, self.sigma, size=x.shape)


@dataclass(frozen=True)
class Poisson(NoiseModel):
    """Shot noise: the image scaled to photon counts, each drawn from a Poisson distribution.

    Parameters
    ----------
    peak : float
        The mean number of photons of the brightest pixel (> 0); fewer photons, more noise.
    """

    peak: float = 30.0
    name: ClassVar[str] = "poisson"

    def __post_init__(self):
        if not self.peak > 0:
            raise InputError(f"Poisson peak must be > 0 photons, got {self.peak}.")

    def apply(self, clean, rng):
        """One noisy copy of ``clean`` (see :meth:`NoiseModel.apply`)."""
        x = _as_float(clean)
        if x.min() < 0:
            raise InputError(
                "Poisson noise needs a non-negative clean image; shift or clip it first."
            )
        top = float(x.max()) or 1.0
        photons = rng.poisson(x / top * self.peak)
        return photons * (top / self.peak)


@dataclass(frozen=True)
class PoissonGaussian(NoiseModel):
    """Camera model: Poisson shot noise on ``image / gain`` electrons, plus read noise.

    Parameters
    ----------
    gain : float
        Image units per electron (> 0).
    read_sigma : float
        The standard deviation of the Gaussian read noise, in image units (>= 0).
    """

    gain: float = 2.0
    read_sigma: float = 5.0
    name: ClassVar[str] = "poisson_gaussian"

    def __post_init__(self):
        if not self.gain > 0:
            raise InputError(f"Poisson-Gaussian gain must be > 0, got {self.gain}.")
        if not self.read_sigma >= 0:
            raise InputError(f"Poisson-Gaussian read_sigma must be >= 0, got {self.read_sigma}.")

    def apply(self, clean, rng):
        """One noisy copy of ``clean`` (see :meth:`NoiseModel.apply`)."""
        x = _as_float(clean)
        if x.min() < 0:
            raise InputError(
                "Poisson-Gaussian noise needs a non-negative clean image; shift or clip it first."
            )
        electrons = rng.poisson(x / self.gain)
        return electrons * self.gain + rng.normal(0.0, self.read_sigma, size=x.shape)


@dataclass(frozen=True)
class Impulse(NoiseModel):
    """Impulse noise: a fraction of the pixels replaced by extreme or random values.

    Parameters
    ----------
    fraction : float
        The share of pixels hit, in [0, 1].
    kind : {"salt_pepper", "random"}
        Hit pixels take the image's minimum or maximum, or a uniform value between them.
    """

    fraction: float = 0.1
    kind: str = "salt_pepper"
    name: ClassVar[str] = "impulse"
    suggested_loss: ClassVar[str] = "l1"

    def __post_init__(self):
        if not 0 <= self.fraction <= 1:
            raise InputError(f"Impulse fraction must be in [0, 1], got {self.fraction}.")
        if self.kind not in ("salt_pepper", "random"):
            raise InputError(f"Impulse kind must be 'salt_pepper' or 'random', got {self.kind!r}.")

    def apply(self, clean, rng):
        """One noisy copy of ``clean`` (see :meth:`NoiseModel.apply`)."""
        x = _as_float(clean)
        lo = float(x.min())
        hi = float(x.max())
        hit = rng.random(x.shape) < self.fraction
        out = x.copy()
        if self.kind == "salt_pepper":
            out[hit] = np.where(rng.random(int(hit.sum())) < 0.5, lo, hi)
        else:
            out[hit] = rng.uniform(lo, hi, size=int(hit.sum()))
        return out


@dataclass(frozen=True)
class Bernoulli(NoiseModel):
    """Drop-out: each pixel is zeroed with probability ``p``; survivors are scaled by 1/(1-p).

    Parameters
    ----------
    p : float
        The probability that a pixel is dropped, in [0, 1).
    """

    p: float = 0.5
    name: ClassVar[str] = "bernoulli"

    def __post_init__(self):
        if not 0 <= self.p < 1:
            raise InputError(f"Bernoulli drop probability p must be in [0, 1), got {self.p}.")

    def apply(self, clean, rng):
        """One noisy copy of ``clean`` (see :meth:`NoiseModel.apply`)."""
        x = _as_float(clean)
        keep = rng.random(x.shape) >= self.p
        return np.where(keep, x / (1.0 - self.p), 0.0)


NOISE_MODELS: dict[str, type[NoiseModel]] = {
    cls.name: cls for cls in (Gaussian, Poisson, PoissonGaussian, Impulse, Bernoulli)
}


#: other names of noise models: name → (model, fixed parameters)
ALIASES: dict[str, tuple[str, dict]] = {
    "salt_pepper": ("impulse", {"kind": "salt_pepper"}),
    "saltpepper": ("impulse", {"kind": "salt_pepper"}),
    "poissongaussian": ("poisson_gaussian", {}),
    "dropout": ("bernoulli", {}),
}


def _resolve(name: str) -> tuple[type[NoiseModel], dict]:
    key = name.strip().lower().replace("-", "_")
    key, extra = ALIASES.get(key, (key, {}))
    if key not in NOISE_MODELS:
        raise InputError(f"Unknown noise model {name!r}. Choose one of: {', '.join(NOISE_MODELS)}.")
    return NOISE_MODELS[key], extra


def noise_params(name: str) -> tuple[str, ...]:
    """The parameters that noise model ``name`` takes (its dataclass fields, less those an alias fixes).

    Parameters
    ----------
    name : str
        A name or alias, as for :func:`make_noise`.

    Returns
    -------
    tuple of str

    Examples
    --------
    >>> noise_params("poisson_gaussian"), noise_params("salt_pepper")
    (('gain', 'read_sigma'), ('fraction',))
    """
    cls, extra = _resolve(name)
    return tuple(f.name for f in dataclasses.fields(cls) if f.name not in extra)


def make_noise(name: str, **params) -> NoiseModel:
    """Build a noise model by name, e.g. ``make_noise("gaussian", sigma=25)``.

    Parameters
    ----------
    name : str
        A model's :attr:`~NoiseModel.name` (``"gaussian"``, ``"poisson"``,
        ``"poisson_gaussian"``, ``"impulse"``, ``"bernoulli"``) or an alias such as
        ``"salt_pepper"``; case and ``-``/``_`` do not matter.
    **params
        The model's parameters (see :func:`noise_params`); the others keep their defaults.

    Returns
    -------
    NoiseModel

    Raises
    ------
    InputError
        For an unknown name or parameter, listing what is accepted.

    Examples
    --------
    >>> make_noise("salt-pepper", fraction=0.2)
    Impulse(fraction=0.2, kind='salt_pepper')
    """
    cls, extra = _resolve(name)
    key = cls.name
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = set(params) - fields
    if unknown:
        raise InputError(
            f"Noise model {key!r} takes {', '.join(sorted(fields)) or 'no parameters'}; "
            f"got unexpected {', '.join(sorted(unknown))}."
        )
    return cls(**{**extra, **params})


def noise_from_dict(d: dict | None) -> NoiseModel | None:
    """Inverse of :meth:`NoiseModel.to_dict` (``None`` or ``{}`` gives ``None``).

    Parameters
    ----------
    d : dict or None
        ``{"name": ..., **parameters}``.

    Returns
    -------
    NoiseModel or None
    """
    if not d:
        return None
    d = dict(d)
    return make_noise(d.pop("name"), **d)


def synthesize_pair(
    clean: np.ndarray, noise: NoiseModel, *, seed: int | None = 0, dtype=np.float32
) -> tuple[np.ndarray, np.ndarray]:
    """Two noisy copies of ``clean`` with independent noise drawn from ``noise``.

    Parameters
    ----------
    clean : ndarray
        The clean image, any shape; intensities in its own units.
    noise : NoiseModel
        E.g. ``Gaussian(sigma=25)``.
    seed : int or None
        Seed of the random generator; the same seed gives the same pair.
    dtype : numpy dtype
        Output dtype (float32 by default; noisy values are not clipped).

    Returns
    -------
    a, b : ndarray
        The two noisy copies, the shape of ``clean``.

    See Also
    --------
    napari_n2n.Pair.synthetic : the same pair as training data, keeping ``clean``.

    Examples
    --------
    >>> from skimage import data
    >>> a, b = synthesize_pair(data.camera(), Gaussian(sigma=25), seed=0)
    >>> a.shape, a.dtype
    ((512, 512), dtype('float32'))
    """
    require_seed(seed, allow_none=True)
    rng = np.random.default_rng(seed)
    a = noise.apply(clean, rng).astype(dtype)
    b = noise.apply(clean, rng).astype(dtype)
    return a, b


def estimate_noise_sigma(image: np.ndarray, *, channel_axis: int | None = None) -> float:
    """Estimate the standard deviation of white noise in ``image`` (image units).

    The robust wavelet estimator of Donoho & Johnstone (the one behind
    :func:`skimage.restoration.estimate_sigma`), on the finest diagonal Haar sub-band:
    ``median(|HH|) / 0.6745``, computed on every 2D plane of the last two axes (a few central
    planes for large stacks) and averaged over channels. Image structure barely enters the
    finest diagonal band, so the estimate is close for natural and microscopy images.

    Parameters
    ----------
    image : ndarray
        At least 4×4 pixels in its last two axes.
    channel_axis : int, optional
        The axis of channels, whose estimates are averaged.

    Returns
    -------
    float
        The noise's standard deviation, in the image's units.

    Examples
    --------
    >>> import numpy as np
    >>> noisy = np.random.default_rng(0).normal(100.0, 10.0, (256, 256))
    >>> round(estimate_noise_sigma(noisy))
    10
    """
    arr = np.asarray(image)
    if channel_axis is not None:
        arr = np.moveaxis(arr, channel_axis, 0)
        return float(np.mean([estimate_noise_sigma(c) for c in arr]))
    if arr.ndim < 2 or min(arr.shape[-2:]) < 4:
        raise InputError(
            f"Cannot estimate noise of an image of shape {arr.shape}; it needs at least 4×4 pixels."
        )
    planes = arr.reshape((-1,) + arr.shape[-2:])
    if len(planes) > 8:
        planes = planes[np.linspace(0, len(planes) - 1, 8).astype(int)]
    x = planes.astype(np.float64)
    h = (x.shape[1] // 2) * 2
    w = (x.shape[2] // 2) * 2
    x = x[:, :h, :w]
    hh = (x[:, 0::2, 0::2] - x[:, 0::2, 1::2] - x[:, 1::2, 0::2] + x[:, 1::2, 1::2]) / 2.0
    return float(np.median(np.abs(hh)) / 0.6745)
