"""napari sample data (File → Open Sample → napari-n2n): clean image + noisy pair, no download.

Each sample opens three layers: the clean reference (hidden), "A · … noisy" and "B · … noisy". The
noisy layers record their partner, clean reference, axes and noise model in their metadata, so
the Train and Denoise widgets fill themselves in and report the PSNR against the clean layer.
"""

from __future__ import annotations

from .core.data import samples


def _layer_data(sample: samples.Sample) -> list[tuple]:
    desc = sample.noise.describe()
    clean_name = f"{sample.name} clean"
    # the letter first: napari elides long names in the middle, and A and B must stay apart
    name_a = f"A · {sample.name} noisy · {desc}"
    name_b = f"B · {sample.name} noisy · {desc}"
    lo = float(sample.clean.min())
    hi = float(sample.clean.max())
    common = {"contrast_limits": (lo, hi)}
    if sample.scale is not None:
        common["scale"] = sample.scale
    meta = {
        "clean": clean_name,
        "noise": sample.noise.to_dict(),
        "axes": sample.axes,
        "suggested_loss": sample.noise.suggested_loss,
    }
    return [
        (
            sample.clean,
            {
                "name": clean_name,
                "visible": False,
                **common,
                "metadata": {"napari_n2n": {"role": "clean", "axes": sample.axes}},
            },
            "image",
        ),
        (
            sample.b,
            {
                "name": name_b,
                "visible": False,
                **common,
                "metadata": {"napari_n2n": {"role": "noisy B", "partner": name_a, **meta}},
            },
            "image",
        ),
        (
            sample.a,
            {
                "name": name_a,
                **common,
                "metadata": {"napari_n2n": {"role": "noisy A", "partner": name_b, **meta}},
            },
            "image",
        ),
    ]


def pair_2d() -> list[tuple]:
    """2D: scikit-image's camera with Gaussian noise (sigma 25), clean reference included."""
    return _layer_data(samples.pair_2d())


def volume_3d() -> list[tuple]:
    """3D: a synthesised volume of nuclei with Poisson-Gaussian camera noise, clean reference included."""
    return _layer_data(samples.volume_3d())


def digits() -> list[tuple]:
    """Digits: a mosaic of synthesised MNIST-like digits with heavy Gaussian noise, clean reference included."""
    return _layer_data(samples.digits())
