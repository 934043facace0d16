"""Plain functions for napari's menus and for napari-workflows: an image in, an image out.

napari builds their panels from the signatures (npe2 ``autogenerate``), and napari-workflows can
record and replay them, since they take and return plain arrays. Progress shows in napari's
activity dock.
"""

from __future__ import annotations

import pathlib
from functools import lru_cache
from typing import TYPE_CHECKING

from ..core.errors import InputError

if TYPE_CHECKING:
    import napari

#: suffixes of the model files a function accepts
MODEL_SUFFIXES = (".n2n", ".zip")


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
        The noisy image (any axes the model accepts).
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
        The denoised image, float32, same shape as ``image``.
    """
    from napari.utils import progress

    from ..core.inference.predict import PredictOptions
    from ..core.progress import drain

    path = pathlib.Path(model_file)
    if not path.is_file() or not path.name.lower().endswith(MODEL_SUFFIXES):
        raise InputError(
            f"Choose a model file (.n2n or .bioimageio.zip); {str(path) or 'none'} is not one."
        )
    model = _load(str(path.resolve()), path.stat().st_mtime_ns, allow_package_code)
    options = PredictOptions(tile=tile or None)
    gen = model.predict_iter(image, axes=axes.strip() or None, options=options)
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
