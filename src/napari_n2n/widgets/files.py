"""napari's File menu for the formats of :mod:`napari_n2n.io`: open NIfTI, save image layers calibrated.

Thin npe2 reader and writer over :func:`~napari_n2n.io.read_image` and
:func:`~napari_n2n.io.write_image`, so napari opens and saves what the command line does:

* reader: NIfTI volumes (``.nii``, ``.nii.gz``; the ``io`` extra), as a layer with the file's
  axes (labels), voxel sizes (scale), origin (translate) and unit;
* writer: one image layer to OME-Zarr (``.ome.zarr``, with a pyramid), NIfTI (``.nii.gz``,
  ``.nii``) or TIFF (``.tif``, ``.tiff``: an ImageJ hyperstack where ImageJ can hold it;
  ``.ome.tif``: OME-TIFF), with the layer's scale, translate, units and axis labels. Of a
  multiscale layer, the full-resolution level is written. napari's Save dialog asks before it
  replaces a file; the file is written atomically.

Nothing here imports napari or Qt: napari calls these functions with paths and plain data.
"""

from __future__ import annotations

import os
from types import SimpleNamespace

#: what the reader opens (napari checks every file it opens against these)
READ_SUFFIXES = (".nii", ".nii.gz")
#: napari's axis label for each of napari-n2n's axes
_LABELS = {"T": "t", "C": "c", "Z": "z", "Y": "y", "X": "x", "S": "s"}


def get_reader(path):
    """The reader of ``path`` if it is a NIfTI file, else ``None`` (napari then asks another plugin)."""
    if isinstance(path, (list, tuple)):
        if len(path) != 1:
            return None
        path = path[0]
    name = os.fspath(path).lower()
    return read_layers if name.endswith(READ_SUFFIXES) else None


def read_layers(path) -> list[tuple]:
    """``[(data, metadata, "image")]`` of the image file at ``path``, placed as the file says."""
    from ..io import read_image
    from ._layers import n2n_metadata

    if isinstance(path, (list, tuple)):
        path = path[0]
    image = read_image(path)
    axes = image.axes or ""
    meta: dict = {"name": os.path.basename(os.fspath(path))}
    if axes:
        meta["axis_labels"] = tuple(_LABELS[a] for a in axes)
        meta["scale"] = tuple(float(image.pixel_size.get(a, 1.0)) for a in axes)
        meta["translate"] = tuple(float(image.translation.get(a, 0.0)) for a in axes)
        if image.unit and image.pixel_size:
            meta["units"] = tuple(image.unit if a in "ZYX" else "pixel" for a in axes)
        meta["metadata"] = n2n_metadata(axes=axes)  # the widgets read the axes from here
    return [(image.data, meta, "image")]


def write_image_layer(path: str, data, meta: dict) -> list[str]:
    """Write one image layer (napari's ``data`` and ``meta``) to ``path``; the path written, in a list."""
    from ..io import write_image

    if meta.get("multiscale") or isinstance(data, list):
        data = data[0]
    axes = _axes(data, meta)
    calibration = _calibration(axes, meta) if axes else {}
    written = write_image(path, data, axes=axes, overwrite=True, **calibration)
    return [os.fspath(written)]


def _axes(data, meta: dict) -> str | None:
    """The layer's axes, as the widgets read them (napari-n2n's record, axis labels, 2D)."""
    from ._layers import known_axes

    layer = SimpleNamespace(
        data=data, metadata=meta.get("metadata") or {}, axis_labels=meta.get("axis_labels")
    )
    return known_axes(layer)[0]


def _calibration(axes: str, meta: dict) -> dict:
    """``pixel_size``, ``unit``, ``translation`` and ``frame_interval`` from the layer's scale, translate and units."""
    from ..io._support import micrometres, seconds, short_unit

    n = len(axes)
    scale = list(meta.get("scale") or [1.0] * n)[-n:]
    translate = list(meta.get("translate") or [0.0] * n)[-n:]
    units = [str(u) for u in (meta.get("units") or ["pixel"] * n)][-n:]
    space = [i for i, a in enumerate(axes) if a in "ZYX"]
    lengths = [i for i in space if micrometres(units[i])]
    unit = short_unit(units[lengths[-1]]) if lengths else None  # X's, in the end; others converted
    if lengths:  # the axes in a unit of length, in X's (an axis in pixels says nothing)
        sizes = {
            axes[i]: float(scale[i]) * micrometres(units[i]) / micrometres(unit) for i in lengths
        }
    else:  # no units: the scales as they are, unless napari's defaults (1 pixel)
        sizes = {axes[i]: float(scale[i]) for i in space if scale[i] != 1.0}
    origin = {axes[i]: float(translate[i]) for i in space if translate[i]}
    interval = None
    if "T" in axes and seconds(units[axes.index("T")]):
        interval = float(scale[axes.index("T")]) * seconds(units[axes.index("T")])
    return {"pixel_size": sizes, "unit": unit, "translation": origin, "frame_interval": interval}
