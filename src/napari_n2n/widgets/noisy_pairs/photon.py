"""The photon split of Noisy pairs: a true Noise2Noise pair from one photon-count layer
(:func:`napari_n2n.core.data.photon.photon_split`), the alternative to single-image training."""

from __future__ import annotations

import numpy as np

from .._layers import axes_for, image_data


def photon_fields(choices):
    """The source's fields: the layer (from ``choices``), "estimate gain and offset", the gain and the offset."""
    from magicgui.widgets import CheckBox, ComboBox, FloatSpinBox

    layer = ComboBox(
        label="photon counts",
        choices=choices,
        tooltip="A raw image that counts photons (not background-subtracted)",
    )
    auto = CheckBox(text="estimate gain and offset from the image", value=True)
    gain = FloatSpinBox(
        label="gain",
        value=1.0,
        min=1e-9,
        max=1e9,
        step=0.1,
        tooltip="Image units per photon (camera ADU per electron)",
    )
    offset = FloatSpinBox(
        label="offset",
        value=0.0,
        min=-1e9,
        max=1e9,
        step=1.0,
        tooltip="The image's value with no light (camera baseline)",
    )
    return layer, auto, gain, offset


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
