"""A sensor's defect pixels on the command line: ``train --defects`` and ``predict --defects``.

The pixels are found and filled by :mod:`napari_n2n.core.data.defects`; here the option's value
(``auto``, ``none`` or a map's path) is read, the user told what was filled, and the positions
passed from the trained model to predict.
"""

from __future__ import annotations

import sys

import numpy as np

from ._common import read_image


def fill_defects(choice: str, data, target, axes: str):
    """``(data, target, info)``: the training images with the sensor's defect pixels filled.

    ``choice`` is ``--defects``: ``"auto"`` (the isolated outliers at the same place in input and
    target), ``"none"``, or the path of a defect map. ``info`` is what the model file keeps for
    predict: ``{"defects": {"frame": (Y, X), "y": [...], "x": [...]}}`` (the positions that are
    defects in every frame), or ``{}``.
    """
    from ..core.data import defects

    if choice == "none":
        return data, target, {}
    images = data if isinstance(data, list) else [data]
    targets = target if isinstance(target, list) else [target] * len(images)
    frame = images[0].shape[axes.index("Y")], images[0].shape[axes.index("X")]
    given = None
    if choice != "auto":
        given = defects.read_map(read_image(choice, "defect map").data, frame, choice)
    filled = []
    filled_targets = []
    every_frame = []
    for image, other in zip(images, targets):
        if not isinstance(image, np.ndarray) or (
            other is not None and not _plain_like(other, image)
        ):
            # a lazy array is read as training goes, a target of another shape is refused by the
            # trainer's checks, and a registered neighbour (NaN where the warp left no pixel) no
            # longer holds a defect at the input's place: left as they are
            filled.append(image)
            filled_targets.append(other)
            continue
        yx_last = defects.yx_last(image, axes)
        if given is not None:
            mask = np.broadcast_to(given, yx_last.shape)
        elif other is not None and other.shape == image.shape:
            mask = defects.shared_defects(yx_last, defects.yx_last(other, axes))
        else:
            mask = np.zeros(yx_last.shape, dtype=bool)
        if mask.any():
            # a sensor's defect is found in most frames (noise may hide it in a few)
            every_frame.append(mask.reshape(-1, *frame).mean(axis=0) >= 0.5)
            count = int(mask.sum())
            print(
                f"napari-n2n: {count} defect pixel(s) ({100 * mask.mean():.2g} %) "
                + (
                    "of the defect map"
                    if given is not None
                    else "at the same place in input and target (hot or dead pixels)"
                )
                + " filled from their neighbours before training (--defects none keeps them)",
                file=sys.stderr,
            )
        filled.append(defects.fill_frames(image, mask, axes))
        filled_targets.append(None if other is None else defects.fill_frames(other, mask, axes))
    record = {}
    if every_frame and images[0].shape == images[-1].shape:
        ys, xs = np.nonzero(np.logical_and.reduce(every_frame))
        if 0 < ys.size <= 100_000:
            record = {"defects": {"frame": list(frame), "y": ys.tolist(), "x": xs.tolist()}}
    if not isinstance(data, list):
        return filled[0], filled_targets[0], record
    return filled, (filled_targets if isinstance(target, list) else target), record


def _plain_like(target, image) -> bool:
    """Whether ``target`` is an in-memory array of ``image``'s shape with no NaN (not warped)."""
    if not isinstance(target, np.ndarray) or target.shape != image.shape:
        return False
    return not (target.dtype.kind == "f" and np.isnan(target).any())


def known_defects_filled(den, choice: str, axes: str, *images):
    """``images`` (numpy arrays or ``None``) with the defect pixels of ``choice`` filled.

    ``choice`` is ``--defects``: ``"auto"`` (the positions the model file keeps, when the frames
    fit them), ``"none"`` or the path of a defect map. A lazy array is passed on as it is.
    """
    from ..core.data import defects

    first = images[0]
    frame = first.shape[axes.index("Y")], first.shape[axes.index("X")]
    if choice == "none":
        return images
    if choice == "auto":
        kept = getattr(den, "info", {}).get("defects")
        if not kept or tuple(kept["frame"]) != frame:
            return images
        marks = np.zeros(frame, dtype=bool)
        marks[kept["y"], kept["x"]] = True
    else:
        marks = defects.read_map(read_image(choice, "defect map").data, frame, choice)
    filled = [
        defects.fill_frames(image, marks, axes) if isinstance(image, np.ndarray) else image
        for image in images
    ]
    print(
        f"napari-n2n: {int(marks.sum())} defect pixel(s) filled before denoising", file=sys.stderr
    )
    return filled
