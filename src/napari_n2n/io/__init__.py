"""Reading and writing image files: one reader/writer per format, chosen by the file's suffix.

:func:`read_image` returns an :class:`ImageData`: the pixels with the axes and pixel sizes the
file states (``None`` / empty where it says nothing). :func:`write_image` writes through a
:class:`~napari_n2n.core.files.Destination`, so every output is checked before the work and
written atomically after it. Formats: TIFF (:mod:`.tiff`), numpy ``.npy`` (:mod:`.npy`),
OME-Zarr (:mod:`.omezarr`) and NIfTI (:mod:`.nifti`), the last two with the ``io`` extra;
another format is a class with ``name``, ``suffixes``, ``read`` and ``write`` (see
:class:`ImageFormat`) passed to :func:`register`.

Examples
--------
>>> import tempfile
>>> import numpy as np
>>> folder = tempfile.TemporaryDirectory()
>>> stack = np.zeros((3, 16, 16), np.float32)
>>> path = write_image(
...     f"{folder.name}/stack.tif", stack, axes="TYX", pixel_size={"Y": 0.1, "X": 0.1}
... )
>>> image = read_image(path)
>>> image.data.shape, image.axes, image.pixel_size
((3, 16, 16), 'TYX', {'X': 0.1, 'Y': 0.1})
>>> path = write_image(f"{folder.name}/out.npy", image.data, axes=image.axes, **image.metadata())
>>> folder.cleanup()
"""

from __future__ import annotations

import os
from pathlib import Path

from ..core.checks import require_not_empty, require_numeric
from ..core.errors import InputError
from ..core.files import Destination
from ._formats import FORMATS, ImageData, ImageFormat, format_for, register
from .nifti import NiftiFormat
from .npy import NpyFormat
from .omezarr import OmeZarrFormat
from .tiff import TiffFormat

__all__ = [
    "FORMATS",
    "ImageData",
    "ImageFormat",
    "format_for",
    "read_image",
    "register",
    "write_image",
]

register(NpyFormat())
register(TiffFormat())
register(NiftiFormat())
register(OmeZarrFormat())


def read_image(path: str | os.PathLike, what: str = "image") -> ImageData:
    """Read an image file in any registered format.

    Parameters
    ----------
    path : str or os.PathLike
        The file (or an OME-Zarr folder); the format comes from its suffix, or from its first
        bytes when the suffix is unknown.
    what : str
        How messages name the file (``"input"``, ``"target"``, ``"clean image"``).

    Returns
    -------
    ImageData
        The pixels (large TIFF and OME-Zarr files lazily) with the axes, pixel sizes and unit
        the file states.

    Raises
    ------
    InputError
        If the file is missing, unreadable, not numbers, not 2D or more, or empty.
    """
    p = Path(os.path.expanduser(os.fspath(path)))
    if not p.exists():
        raise InputError(f"{what.capitalize()} file {path} does not exist. Check the path.")
    if (
        p.is_dir()
        and not any(p.name.lower().endswith(s) for f in FORMATS for s in f.suffixes)
        and not any(
            getattr(f, "sniff", lambda _: False)(p) for f in FORMATS if getattr(f, "folder", False)
        )
    ):
        raise InputError(
            f"{what.capitalize()} {path} is a folder, not an image file. Give the image file's path."
        )
    image = format_for(p).read(p)
    require_numeric(image.data, str(path))
    if image.ndim < 2:
        raise InputError(f"{path} is {image.ndim}D; an image needs at least 2 dimensions (Y, X).")
    require_not_empty(image.data, f"the image in {path}")
    return image


def write_image(  # noqa: PLR0913  the metadata keywords are ImageData's fields (**image.metadata())
    destination: Destination | str | os.PathLike,
    data,
    *,
    axes: str | None = None,
    pixel_size: dict | None = None,
    unit: str | None = None,
    translation: dict | None = None,
    extra: dict | None = None,
    frame_interval: float | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``data`` atomically in the format of the destination's suffix.

    The metadata are stored where the format can hold them; ``**image.metadata()`` passes an
    input's (see :class:`ImageData`).

    Parameters
    ----------
    destination : Destination, str or os.PathLike
        A :class:`~napari_n2n.core.files.Destination` checked earlier (before the work that
        made ``data``), or a path, checked now.
    data : array-like
        The pixels (numpy or dask).
    axes : str, optional
        Their axes.
    pixel_size : dict, optional
        Axis letter → pixel size.
    unit : str, optional
        The unit of the pixel sizes (e.g. ``"µm"``).
    translation : dict, optional
        Axis letter → position of the first pixel.
    extra : dict, optional
        The format's own metadata, as read (e.g. a NIfTI header).
    frame_interval : float, optional
        Seconds between two frames of the ``T`` axis (TIFF keeps it).
    overwrite : bool
        Whether an existing file may be replaced (for a plain path).

    Returns
    -------
    pathlib.Path
        The path written.
    """
    fmt = format_for(destination, writing=True)
    if not isinstance(destination, Destination):
        destination = Destination(
            destination, overwrite=overwrite, folder=getattr(fmt, "folder", False)
        )
    return destination.write(
        lambda tmp: fmt.write(
            tmp,
            data,
            axes=axes,
            pixel_size=pixel_size,
            unit=unit,
            translation=translation,
            extra=extra,
            frame_interval=frame_interval,
        )
    )
