"""The photon split of Noisy pairs: a true Noise2Noise pair from one photon-count layer
(:func:`napari_n2n.core.data.photon.photon_split`), the alternative to single-image training."""

from __future__ import annotations

import numpy as np

from .._layers import axes_for, image_data


def split_layer(layer, *, gain: float | None, offset: float | None, seed: int):
    """Split ``layer``'s photon counts into a :class:`~napari_n2n.core.data.pairs.Pair`.

    ``gain``/``offset`` ``None``: estimated from the image. Returns ``(pair, gain, offset, how)``,
    ``how`` saying where gain and offset came from; raises InputError for an image that does not count photons.
    """
    from ...core.data.pairs import two_images
    from ...core.data.photon import photon_scale_for, photon_split

    data = np.asarray(image_data(layer, "photon-count image", check_values=True))
    gain, offset, how = photon_scale_for(data, gain=gain, offset=offset)
    a, b = photon_split(data, gain=gain, offset=offset, seed=seed)
    return two_images(a, b, axes=axes_for(layer, None)), gain, offset, how


def split_note(source: str, layers: list, gain: float, offset: float, how: str) -> str:
    """What the user is told after a split, with what to do next."""
    return (
        f"Split '{source}' into '{layers[0].name}' and '{layers[1].name}' (gain {gain:.4g}, offset "
        f"{offset:.4g}, {how}): each photon went to A or B at random, so their noise is independent. "
        "Next: Train Noise2Noise with A as input and B as target; denoise with the A/B average."
    )
