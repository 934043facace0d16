"""Image-quality metrics against a clean reference (scikit-image)."""

from __future__ import annotations

import numpy as np


def _range(clean: np.ndarray, data_range: float | None) -> float:
    if data_range is not None:
        return float(data_range)
    r = float(np.max(clean) - np.min(clean))
    return r if r > 0 else 1.0


def psnr_from_mse(mse: float, data_range: float) -> float:
    """PSNR in dB of a mean squared error ``mse`` for a signal whose peak-to-peak range is ``data_range``.

    Parameters
    ----------
    mse : float
        The mean squared error (floored at 1e-20).
    data_range : float
        The signal's peak-to-peak range.

    Returns
    -------
    float

    Examples
    --------
    >>> psnr_from_mse(1.0, 255.0)
    48.1308036086791
    """
    return float(10 * np.log10(float(data_range) ** 2 / max(float(mse), 1e-20)))


def psnr(clean, image, *, data_range: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB.

    Parameters
    ----------
    clean : array-like
        The clean reference.
    image : array-like
        The image to score, the same shape.
    data_range : float, optional
        The signal's peak-to-peak range (default: the clean image's range; 1 if it is flat).

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> clean = np.linspace(0, 255, 100).reshape(10, 10)
    >>> round(psnr(clean, clean + 1.0), 2)
    48.13
    """
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
    """Structural similarity (2D or 3D), scikit-image's.

    Parameters
    ----------
    clean : array-like
        The clean reference (each side at least 7 pixels).
    image : array-like
        The image to score, the same shape.
    data_range : float, optional
        The signal's peak-to-peak range (default: the clean image's range; 1 if it is flat).
    channel_axis : int, optional
        The axis of channels, if any.

    Returns
    -------
    float
        1 for identical images.
    """
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
