"""Functions for napari's menus and for napari-workflows: an image in, an image out.

napari builds their panels from the signatures (npe2 ``autogenerate``). Both run one prediction
path (:func:`_predict`); progress shows in napari's activity dock.

* :func:`denoise_layer`, the *Layers → Filter → Denoising → Denoise with a model file* command:
  takes the layer, so the result is placed where its source is (scale, translate, affine, units
  and axis labels copied) and named after it. Of a multiscale (pyramid) layer, as an OME-Zarr
  opens, the full-resolution level is denoised, and the result is one full-resolution layer
  (level 0's scale); for images larger than memory, the Denoise dock writes a pyramid on disk.
* :func:`denoise`, plain arrays in and out, for napari-workflows and scripts (of a pyramid, its
  first level is denoised).
"""

from __future__ import annotations

import pathlib
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

from ..core.errors import InputError

if TYPE_CHECKING:
    import napari

#: suffixes of the model files a function accepts
MODEL_SUFFIXES = (".n2n", ".zip")


def denoise_layer(
    image: napari.layers.Image,
    model_file: pathlib.Path = pathlib.Path(),
    axes: str = "",
    tile: int = 0,
    allow_package_code: bool = False,
) -> napari.types.LayerDataTuple:
    """Denoise an image layer with a trained model; the result is placed where the layer is.

    Parameters
    ----------
    image : napari.layers.Image
        The noisy image layer (single-scale, or multiscale: its full-resolution level).
    model_file : Path
        A model saved by napari-n2n (``.n2n``) or a BioImage Model Zoo package
        (``.bioimageio.zip``, needs ``napari-n2n[bmz]``).
    axes : str
        The image's axes, e.g. ``"YX"``, ``"ZYX"``, ``"TYX"``; empty: the layer's axis labels,
        or inferred.
    tile : int
        Tile side in pixels; 0: automatic.
    allow_package_code : bool
        Let a Zoo package run the Python code it ships (only for packages you trust).

    Returns
    -------
    LayerDataTuple
        ``(denoised, {name, scale, translate, affine, units, axis_labels, metadata}, "image")``.
        A second run on the same layer with the same model replaces its result.
    """
    from ._layers import image_data, known_axes, n2n_metadata, parse_axes, placement

    path = _model_path(model_file)
    data = image_data(image)  # checked; of a pyramid, level 0 (lazy stays lazy)
    result = _predict(
        data,
        path,
        axes=parse_axes(axes) or known_axes(image)[0],
        tile=tile,
        allow_code=allow_package_code,
    )
    meta = {
        "name": f"{image.name} denoised with {path.stem}",
        **placement(image),
        "metadata": n2n_metadata(role="denoised", source=image.name, model=path.name),
    }
    return result, meta, "image"


def denoise(
    image: napari.types.ImageData,
    model_file: pathlib.Path = pathlib.Path(),
    axes: str = "",
    tile: int = 0,
    allow_package_code: bool = False,
) -> napari.types.ImageData:
    """Denoise ``image`` with a trained model: a ``.n2n`` file or a BioImage Model Zoo package.

    Parameters
    ----------
    image : array
        The noisy image (any axes the model accepts); of a multiscale image (a list of levels),
        the first, full-resolution level.
    model_file : Path
        A model saved by napari-n2n (``.n2n``) or a BioImage Model Zoo package
        (``.bioimageio.zip``, needs ``napari-n2n[bmz]``).
    axes : str
        The image's axes, e.g. ``"YX"``, ``"ZYX"``, ``"TYX"``, ``"CYX"``; empty: inferred.
    tile : int
        Tile side in pixels; 0: automatic.
    allow_package_code : bool
        Let a Zoo package run the Python code it ships (only for packages you trust).

    Returns
    -------
    array
        The denoised image, float32, the shape of ``image`` (of its first level).
    """
    if isinstance(image, Sequence) and len(image):  # napari's multiscale data: levels
        image = image[0]
    return _predict(
        image,
        _model_path(model_file),
        axes=axes.strip() or None,
        tile=tile,
        allow_code=allow_package_code,
    )


def _model_path(model_file) -> pathlib.Path:
    path = pathlib.Path(model_file)
    if not path.is_file() or not path.name.lower().endswith(MODEL_SUFFIXES):
        raise InputError(
            f"Choose a model file (.n2n or .bioimageio.zip); {str(path) or 'none'} is not one."
        )
    return path


def _predict(data, path: pathlib.Path, *, axes: str | None, tile: int, allow_code: bool):
    """The one prediction path of the functions: ``data`` denoised by the model at ``path``, with progress."""
    from napari.utils import progress

    from ..core.inference.predict import PredictOptions
    from ..core.progress import drain

    model = _load(str(path.resolve()), path.stat().st_mtime_ns, allow_code)
    gen = model.predict_iter(data, axes=axes, options=PredictOptions(tile=tile or None))
    with progress(desc=f"Denoising with {path.name}") as bar:

        def show(event):
            bar.total = event.total
            bar.update(event.done - bar.n)

        return drain(gen, show)


@lru_cache(maxsize=2)
def _load(path: str, mtime_ns: int, allow_code: bool):
    """The model at ``path``, loaded once while the file is unchanged (a workflow replays the call often)."""
    from ..loading import load_model

    return load_model(path, allow_code=allow_code)
