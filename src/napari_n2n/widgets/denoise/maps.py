"""The Denoise widget's job, and what it offers beyond one plain prediction: test-time
augmentation (the mean over flips/rotations, :mod:`napari_n2n.core.inference.tta`) and uncertainty
layers (where the predictions of A and B disagree; the residual, what was removed)."""

from __future__ import annotations

import numpy as np

from .._layers import n2n_metadata, unique_name

#: the test-time augmentations offered: (label, number of transforms)
TTA = [
    ("off", 1),
    ("2 (and the 180° turn)", 2),
    ("4 (all 90° turns)", 4),
    ("8 (all flips and turns)", 8),
]


def uncertainty_fields():
    """The form's fields: test-time augmentation (a ComboBox), "uncertainty layers" (a CheckBox), and the one
    row that holds both (one line of the dock)."""
    from magicgui.widgets import CheckBox, ComboBox

    from .._base import row

    tta = ComboBox(
        label="test-time augment.",
        choices=TTA,
        value=1,
        tooltip="Average the predictions of flipped/rotated copies: a little lower error, "
        "each transform costs one more prediction",
    )
    maps = CheckBox(
        text="uncertainty layers",
        value=False,
        tooltip="Residual (what was removed: noise only, unless structure was removed) and, "
        "with a pair partner, where the predictions of A and B disagree",
    )
    return tta, maps, row(tta, maps, label="test-time aug.")


def denoise_job(
    denoiser,
    images: list,
    *,
    axes: str | None = None,
    tile=None,
    tta: int = 1,
    maps: bool = False,
    scored: bool = False,
):
    """Generator: denoise one image, or the pair ``images`` (averaged), yielding ``(done, total)`` tiles.

    First yields ``("warning", text)`` when the image is far from the model's training data.
    Returns the prediction; with ``maps`` or test-time augmentation (``tta`` > 1) of a pair, a
    :class:`~napari_n2n.core.inference.tta.PairResult` (the mean with its disagreement and residual maps).
    With ``scored`` (a clean reference will score the result), the metrics' libraries are
    imported here, off the main thread (scipy.stats: 0.3-0.8 s the first time).
    """
    from ...core.inference.ood import check_image
    from ...core.inference.tta import denoise_pair_iter, predict_tta_iter
    from ...core.progress import relay

    if scored:
        from skimage.metrics import peak_signal_noise_ratio  # noqa: F401  (lazy: loads scipy.stats)

    warning = check_image(denoiser, images[0], axes=axes)
    if warning:
        yield ("warning", warning)
    if len(images) == 2 and (tta > 1 or maps):
        gen = denoise_pair_iter(denoiser, images[0], images[1], axes=axes, tile=tile, tta=tta)
    elif tta > 1:
        gen = predict_tta_iter(denoiser, images[0], axes=axes, tile=tile, transforms=tta)
    elif len(images) == 1:
        gen = denoiser.predict_iter(images[0], axes=axes, tile=tile)
    else:
        gen = denoiser.predict_pair_iter(images[0], images[1], axes=axes, tile=tile)
    return (yield from relay(gen, lambda progress: (progress.done, progress.total)))


def split_result(result, image, *, maps: bool) -> tuple[np.ndarray, dict]:
    """The denoised image, and the uncertainty maps by name when ``maps`` (else none)."""
    from ...core.inference.tta import PairResult, residual

    found = {}
    if isinstance(result, PairResult):
        found = {"A/B disagreement": result.disagreement, "residual": result.residual}
        result = result.mean
    elif maps:
        found = {"residual": residual(np.asarray(image), result)}
    return result, (found if maps else {})


def add_map_layers(viewer, maps: dict, *, source: str, model: str, placement: dict) -> list:
    """Add the uncertainty layers (hidden, over the result); return them."""
    added = []
    for what, data in maps.items():
        if what == "residual":
            top = float(np.percentile(np.abs(data), 99.5)) or 1.0
            style = dict(colormap="gray", contrast_limits=(-top, top))
        else:
            style = dict(
                colormap="magma", contrast_limits=(0.0, float(np.percentile(data, 99.5)) or 1.0)
            )
        added.append(
            viewer.add_image(
                data,
                name=unique_name(viewer, f"{source} {what}"),
                visible=False,
                metadata=n2n_metadata(role=what, source=source, model=model),
                **style,
                **placement,
            )
        )
    return added
