"""Image-quality metrics against a clean reference (scikit-image)."""

from __future__ import annotations

import numpy as np


def _range(clean: np.ndarray, data_range: float | None) -> float:
    if data_range is not None:
        return float(data_range)
    r = float(np.max(clean) - np.min(clean))
    return r if r > 0 else 1.0


def psnr_from_mse(mse: float, data_range: float) -> float:
    """PSNR in dB of a mean squared error ``mse`` for a signal whose peak-to-peak range is ``data_range``."""
    return float(10 * np.log10(float(data_range) ** 2 / max(float(mse), 1e-20)))


def psnr(clean, image, *, data_range: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB; ``data_range`` defaults to the clean image's range."""
    from skimage.metrics import peak_signal_noise_ratio

    clean = np.asarray(clean, dtype=np.float64)
    return float(
        peak_signal_noise_ratio(
            clean, np.asarray(image, dtype=np.float64), data_range=_range(clean, data_range)
        )
    )


def ssim(
    clean, image, *, data_range: float | None = None, channel_axis: int | None = None
) -> float:
    """Structural similarity (2D or 3D); ``data_range`` defaults to the clean image's range."""
    from skimage.metrics import structural_similarity

    clean = np.asarray(clean, dtype=np.float64)
    return float(
        structural_similarity(
            clean,
            np.asarray(image, dtype=np.float64),
            data_range=_range(clean, data_range),
            channel_axis=channel_axis,
        )
    )
