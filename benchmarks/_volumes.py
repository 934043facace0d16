"""The volumes of the time-to-quality benchmark (``time_to_quality.py --volumes``) and BM4D on them.

* ``brain EPI σ20``: the first frame of nibabel's bundled ``example4d.nii.gz`` (a real brain EPI
  volume, 128×96×24 voxels of 2 × 2 × 2.2 mm, shipped with nibabel's tests under its MIT licence;
  no download), as ZYX 24×96×128, stretched to 0-255 between its 0.5 and 99.8 percentiles, with
  Gaussian noise σ 20. Its voxel size comes from the file (z 1.1× the pixel: an isotropic network).
* ``z-stack PG``: a fluorescence-like confocal stack made here: nuclei of 5-10 pixels radius on a
  dim background, blurred by a PSF 3× longer in z than in xy, sampled with a z-step of 3 pixel
  sizes (32×128×128, voxel size 3 × 1 × 1), Poisson-Gaussian noise (gain 4, read σ 10 on 0-255).

Neither is in the training data of the bundled general 3D model (``scripts/train_general_3d.py``
trains on its own synthetic volumes, made by other code and seeds, and on no real volume).
"""

from __future__ import annotations

import time


def brain_epi():
    """``(clean ZYX float32 on 0-255, voxel size (z, y, x))``."""
    from pathlib import Path

    import nibabel
    import numpy as np

    path = Path(nibabel.__file__).parent / "tests" / "data" / "example4d.nii.gz"
    img = nibabel.load(path)
    vol = np.asarray(img.dataobj[..., 0], dtype=np.float32).T  # x, y, z → z, y, x
    lo, hi = np.percentile(vol, [0.5, 99.8])
    vol = np.clip((vol - lo) / (hi - lo), 0, 1) * 255.0
    zooms = [float(v) for v in img.header.get_zooms()[:3]][::-1]
    return vol.astype(np.float32), tuple(zooms)


def zstack(seed: int = 11, zstep: int = 3):
    """``(clean ZYX float32 on 0-255, voxel size (z, y, x))``: nuclei, blurred, sampled every ``zstep``."""
    import numpy as np
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    shape = (32 * zstep, 128, 128)
    vol = np.full(shape, 12.0, np.float32)
    for _ in range(90):
        c = [rng.uniform(0, s) for s in shape]
        r = rng.uniform(5, 10) * rng.uniform(0.8, 1.2, 3)
        lo = [max(int(ci - ri - 3), 0) for ci, ri in zip(c, r)]
        hi = [min(int(ci + ri + 4), s) for ci, ri, s in zip(c, r, shape)]
        grids = np.meshgrid(
            *[np.arange(a, b, dtype=np.float32) for a, b in zip(lo, hi)], indexing="ij"
        )
        d = np.sqrt(sum(((g - ci) / ri) ** 2 for g, ci, ri in zip(grids, c, r)))
        box = (slice(lo[0], hi[0]), slice(lo[1], hi[1]), slice(lo[2], hi[2]))
        vol[box] += rng.uniform(60, 180) / (1 + np.exp((d - 1) * 8))
    texture = gaussian_filter(rng.standard_normal(shape).astype(np.float32), 1.5)
    vol *= 1 + 0.2 * texture / texture.std()
    vol = gaussian_filter(vol, (3.0, 1.0, 1.0))[::zstep]
    vol = np.clip(vol / np.percentile(vol, 99.9) * 230.0, 0, 255)
    return vol.astype(np.float32), (float(zstep), 1.0, 1.0)


#: name → (clean volume maker, noise name, noise parameters)
VOLUMES = {
    "brain EPI σ20": (brain_epi, "gaussian", dict(sigma=20.0)),
    "z-stack PG": (zstack, "poisson_gaussian", dict(gain=4.0, read_sigma=10.0)),
}


def make_volume_pair(name: str, seed: int = 0):
    """``(clean, a, b, noise, voxel size)`` of a benchmark volume."""
    from napari_n2n import make_noise, synthesize_pair

    maker, noise_name, params = VOLUMES[name]
    clean, voxel = maker()
    noise = make_noise(noise_name, **params)
    a, b = synthesize_pair(clean, noise, seed=seed)
    return clean, a, b, noise, voxel


def bm4d_psnr(clean, a, noise) -> tuple[float, float]:
    """(PSNR, seconds) of BM4D on ``a`` given the true noise model (Anscombe VST for Poisson-Gaussian)."""
    from bm4d import bm4d

    from _baselines import denoise_with_true_noise
    from napari_n2n import psnr

    t = time.perf_counter()
    out = denoise_with_true_noise(a, noise, bm4d)
    return psnr(clean, out), time.perf_counter() - t
