"""Example data with a clean reference, made without any download (numpy + scikit-image only).

Three samples, each a clean image and two independently noisy copies of it, so that a user (or
a test) can train on the pair and measure the PSNR against the clean image:

* :func:`pair_2d` — scikit-image's bundled ``camera`` (512×512) with Gaussian noise, sigma 25;
* :func:`volume_3d` — a synthesised fluorescence-like volume of nuclei (32×128×128, Z sampled
  twice as coarsely as Y and X) with the microscope camera's Poisson-Gaussian noise;
* :func:`digits` — a mosaic of synthesised handwriting-like digits 0–9 (28×28 each, like
  MNIST; scikit-learn is not needed) with heavy Gaussian noise.

Nothing here imports napari; :mod:`napari_n2n._sample_data` turns these into layers.

Examples
--------
>>> s = pair_2d()
>>> s.clean.shape, s.a.shape, s.axes
((512, 512), (512, 512), 'YX')
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .noise import Gaussian, NoiseModel, PoissonGaussian, synthesize_pair

__all__ = ["Sample", "pair_2d", "volume_3d", "digits", "digit_image", "DIGIT_STROKES"]


@dataclass(frozen=True)
class Sample:
    """A clean image, two noisy copies ``a`` and ``b``, the noise model and the axes.

    Parameters
    ----------
    name : str
        What the sample shows (a layer's name).
    clean, a, b : ndarray
        The clean image and its two noisy copies, float32, one shape.
    noise : NoiseModel
        The noise of ``a`` and ``b``.
    axes : str
        Their axes, e.g. ``"YX"``.
    scale : tuple of float, optional
        The pixel spacing per axis, where it is not the same along every axis.
    """

    name: str
    clean: np.ndarray = field(repr=False)
    a: np.ndarray = field(repr=False)
    b: np.ndarray = field(repr=False)
    noise: NoiseModel
    axes: str
    scale: tuple[float, ...] | None = None


def pair_2d(*, sigma: float = 25.0, seed: int = 0) -> Sample:
    """scikit-image's ``camera`` (0–255) and two copies with Gaussian noise.

    Parameters
    ----------
    sigma : float
        The noise's standard deviation (the image spans 0–255).
    seed : int
        Seed of the noise.

    Returns
    -------
    Sample
    """
    from skimage import data

    clean = data.camera().astype(np.float32)
    noise = Gaussian(sigma=sigma)
    a, b = synthesize_pair(clean, noise, seed=seed)
    return Sample("camera", clean, a, b, noise, "YX")


def volume_3d(
    *,
    shape: tuple[int, int, int] = (32, 128, 128),
    n_nuclei: int = 28,
    peak: float = 30.0,
    read_sigma: float = 3.0,
    seed: int = 0,
) -> Sample:
    """A synthesised volume of textured nuclei (photon counts up to about ``peak``) with camera noise.

    Z is sampled at twice the spacing of Y and X (``scale = (2, 1, 1)``), as in a typical
    confocal stack. The noise is Poisson (shot noise, gain 1) plus Gaussian read noise.

    Parameters
    ----------
    shape : tuple of int
        ``(Z, Y, X)``.
    n_nuclei : int
        How many nuclei are placed (they may overlap).
    peak : float
        The brightest voxel's photon count.
    read_sigma : float
        The read noise's standard deviation, in photons.
    seed : int
        Seed of the nuclei and of the noise.

    Returns
    -------
    Sample

    Examples
    --------
    >>> s = volume_3d(shape=(8, 32, 32), n_nuclei=2)
    >>> s.a.shape, s.axes, s.scale
    ((8, 32, 32), 'ZYX', (2.0, 1.0, 1.0))
    """
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    nz, ny, nx = shape
    zz, yy, xx = np.meshgrid(
        np.arange(nz) * 2.0, np.arange(ny), np.arange(nx), indexing="ij", sparse=True
    )
    volume = np.zeros(shape, dtype=np.float32)
    texture = ndimage.gaussian_filter(rng.normal(size=shape).astype(np.float32), 1.5)
    texture /= texture.std() + 1e-9
    for _ in range(n_nuclei):
        cz = rng.uniform(0, nz * 2.0)
        cy = rng.uniform(0, ny)
        cx = rng.uniform(0, nx)
        rz = rng.uniform(6, 11)
        ry = rng.uniform(7, 14)
        rx = rng.uniform(7, 14)
        brightness = rng.uniform(0.45, 1.0)
        inside = ((zz - cz) / rz) ** 2 + ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2
        mask = inside <= 1.0
        volume = np.where(mask, np.maximum(volume, brightness * (1.0 + 0.15 * texture)), volume)
    volume = ndimage.gaussian_filter(volume, (0.6, 1.0, 1.0))
    clean = (0.04 + np.clip(volume, 0, None)) * peak
    clean = (clean / clean.max() * peak).astype(np.float32)
    noise = PoissonGaussian(gain=1.0, read_sigma=read_sigma)
    a, b = synthesize_pair(clean, noise, seed=seed + 1)
    return Sample("nuclei 3D", clean, a, b, noise, "ZYX", scale=(2.0, 1.0, 1.0))


# ---- digits -----------------------------------------------------------------------------------
def _arc(cx, cy, rx, ry, a0, a1, n=10):
    """Points on an elliptical arc in the unit box (angles in degrees, 0 = right, 90 = down)."""
    t = np.radians(np.linspace(a0, a1, n))
    return list(zip(cx + rx * np.cos(t), cy + ry * np.sin(t)))


#: strokes of the digits 0–9 as polylines in the unit box (x to the right, y downwards)
DIGIT_STROKES: dict[int, list[list[tuple[float, float]]]] = {
    0: [_arc(0.5, 0.5, 0.27, 0.4, 0, 360, 24)],
    1: [[(0.33, 0.24), (0.55, 0.08), (0.55, 0.92)]],
    2: [_arc(0.5, 0.3, 0.26, 0.2, 190, 370, 10) + [(0.68, 0.55), (0.22, 0.92), (0.8, 0.92)]],
    3: [_arc(0.5, 0.29, 0.25, 0.2, 200, 450, 12) + _arc(0.5, 0.7, 0.28, 0.22, 270, 520, 12)],
    4: [[(0.66, 0.92), (0.66, 0.08), (0.18, 0.64), (0.86, 0.64)]],
    5: [[(0.78, 0.08), (0.3, 0.08), (0.26, 0.45)] + _arc(0.5, 0.66, 0.28, 0.25, 230, 500, 14)],
    6: [_arc(0.52, 0.5, 0.26, 0.42, 300, 180, 8) + _arc(0.5, 0.68, 0.25, 0.23, 180, 540, 18)],
    7: [[(0.2, 0.08), (0.82, 0.08), (0.42, 0.92)]],
    8: [_arc(0.5, 0.29, 0.22, 0.2, 90, 450, 16), _arc(0.5, 0.71, 0.27, 0.22, -90, 270, 18)],
    9: [_arc(0.5, 0.32, 0.25, 0.23, 0, 360, 18) + [(0.75, 0.32), (0.7, 0.92)]],
}


def digit_image(
    digit: int, *, size: int = 28, rng: np.random.Generator | None = None
) -> np.ndarray:
    """One synthesised handwriting-like digit, ``size``×``size``, intensities in [0, 1].

    Random rotation, scale, shear, shift and stroke width (from ``rng``) make every call look
    like a different hand; ``rng=None`` draws the upright template.

    Parameters
    ----------
    digit : int
        0 to 9.
    size : int
        The image's side, pixels.
    rng : numpy.random.Generator, optional
        Where the random distortions come from.

    Returns
    -------
    ndarray
        float32, ``(size, size)``.
    """
    if rng is None:
        angle = 0.0
        scale = 0.9
        shear = 0.0
        shift = (0.0, 0.0)
        width = 0.08
    else:
        angle = rng.uniform(-0.25, 0.25)
        scale = rng.uniform(0.75, 0.95)
        shear = rng.uniform(-0.25, 0.25)
        shift = tuple(rng.uniform(-0.05, 0.05, size=2))
        width = rng.uniform(0.06, 0.1)
    c = np.cos(angle)
    s = np.sin(angle)
    matrix = scale * np.array([[c, -s], [s, c]]) @ np.array([[1.0, shear], [0.0, 1.0]])
    segments = []
    for stroke in DIGIT_STROKES[int(digit)]:
        pts = (np.asarray(stroke, dtype=float) - 0.5) @ matrix.T + 0.5 + np.asarray(shift)
        segments.extend(zip(pts[:-1], pts[1:]))
    p0 = np.array([a for a, _ in segments])[None]  # (1, M, 2)
    p1 = np.array([b for _, b in segments])[None]
    coords = (
        np.stack(np.meshgrid(np.arange(size), np.arange(size), indexing="xy"), -1).reshape(-1, 1, 2)
        + 0.5
    ) / size
    d = p1 - p0
    t = np.clip(((coords - p0) * d).sum(-1) / np.maximum((d * d).sum(-1), 1e-12), 0, 1)
    dist = np.linalg.norm(coords - (p0 + t[..., None] * d), axis=-1).min(axis=1)
    image = np.clip((width - dist) * size + 0.5, 0.0, 1.0)  # one-pixel anti-aliased edge
    return image.reshape(size, size).astype(np.float32)


def digits(
    *, rows: int = 8, cols: int = 10, size: int = 28, sigma: float = 0.4, seed: int = 0
) -> Sample:
    """A ``rows``×``cols`` mosaic of random synthesised digits (0–1) and two copies with Gaussian noise.

    Like the MNIST experiments of denoising papers, with the digits drawn here (no download,
    no scikit-learn). The mosaic is one 2D image, ``(rows*size, cols*size)``.

    Parameters
    ----------
    rows, cols : int
        The mosaic's digits down and across.
    size : int
        Each digit's side, pixels.
    sigma : float
        The noise's standard deviation (the digits span 0–1).
    seed : int
        Seed of the digits and of the noise.

    Returns
    -------
    Sample
    """
    rng = np.random.default_rng(seed)
    clean = np.zeros((rows * size, cols * size), dtype=np.float32)
    for r in range(rows):
        for c in range(cols):
            clean[r * size : (r + 1) * size, c * size : (c + 1) * size] = digit_image(
                int(rng.integers(10)), size=size, rng=rng
            )
    noise = Gaussian(sigma=sigma)
    a, b = synthesize_pair(clean, noise, seed=seed + 1)
    return Sample("digits", clean, a, b, noise, "YX")
