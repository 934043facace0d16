"""TIFF files (tifffile): axes and pixel sizes from the file's own metadata.

Axes come from tifffile's series axes, which it takes from ImageJ hyperstack, OME-XML and
tifffile's own JSON metadata, and from the samples per pixel (``S``: an RGB(A) image's colour).
They are translated to napari-n2n's letters: ``S`` (colour samples) and ``C`` become ``C``;
``T``, ``Z``, ``Y``, ``X`` stay; a file whose axes include anything else (``Q`` unknown, ``I``
an unlabelled sequence of pages) says nothing usable, so its axes are ``None``.

A file larger than :data:`LAZY_BYTES` is opened lazily (tifffile's zarr view of its first
series, ``aszarr``, when zarr from the ``io`` extra is installed): the tiler then reads it block
by block and never holds it whole.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from ._formats import ImageData, LazyFile, head, unreadable

#: tifffile series axes → napari-n2n axes
_LETTERS = {"S": "C", "C": "C", "T": "T", "Z": "Z", "Y": "Y", "X": "X"}
#: micrometres per TIFF resolution unit (2: inch, 3: centimetre)
_UNIT_UM = {2: 25400.0, 3: 10000.0}
_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
#: files whose first series is larger than this are read lazily (where zarr is installed)
LAZY_BYTES = 1 << 30


def _lazy(series, path):
    """A zarr array over ``series`` (level 0) that reads on demand, or None without zarr."""
    try:
        import zarr
    except ImportError:
        return None
    return LazyFile(zarr.open(series.aszarr(level=0), mode="r"), path, "TIFF image")


def our_axes(tiff_axes: str) -> str | None:
    """napari-n2n's axes for tifffile's series axes.

    Parameters
    ----------
    tiff_axes : str
        tifffile's letters (``S`` colour samples, ``Q`` unknown, ``I`` a sequence, ...).

    Returns
    -------
    str or None
        ``None`` if they say nothing usable.

    Examples
    --------
    >>> our_axes("TYXS"), our_axes("IYX")
    ('TYXC', None)
    """
    if any(a not in _LETTERS for a in tiff_axes):
        return None
    axes = "".join(_LETTERS[a] for a in tiff_axes)
    return axes if len(set(axes)) == len(axes) else None  # C and S together: two channel axes


def _pixel_sizes(tf) -> tuple[dict, str | None]:
    """``({"Y": ..., "X": ..., "Z": ...}, unit)`` from OME, ImageJ or tifffile metadata and the resolution tags."""
    if tf.is_ome:
        try:
            pixels = next(
                e for e in ET.fromstring(tf.ome_metadata).iter() if e.tag.endswith("Pixels")
            )
            sizes = {
                a: float(pixels.get(f"PhysicalSize{a}"))
                for a in "XYZ"
                if pixels.get(f"PhysicalSize{a}")
            }
            return sizes, pixels.get("PhysicalSizeXUnit", "µm") if sizes else None
        except (ET.ParseError, StopIteration, ValueError):
            return {}, None
    page = tf.pages[0]
    meta = tf.imagej_metadata or tf.shaped_metadata and tf.shaped_metadata[0] or {}
    sizes, unit = {}, meta.get("unit")
    tags = page.tags
    for axis, tag in (("X", "XResolution"), ("Y", "YResolution")):
        if tag in tags:
            num, den = tags[tag].value
            if num and den and (num, den) != (1, 1):
                sizes[axis] = den / num
    res_unit = int(tags["ResolutionUnit"].value) if "ResolutionUnit" in tags else 1
    if sizes and unit is None and res_unit in _UNIT_UM:
        sizes, unit = {a: v * _UNIT_UM[res_unit] for a, v in sizes.items()}, "µm"
    if meta.get("spacing"):
        sizes["Z"] = float(meta["spacing"])
    if unit in ("micron", "um", "\\u00B5m"):
        unit = "µm"
    return (sizes, unit) if sizes else ({}, None)


class TiffFormat:
    """``.tif`` / ``.tiff``; read with the axes and pixel sizes the file states, written with them."""

    name = "TIFF"
    suffixes = (".tif", ".tiff")

    @staticmethod
    def sniff(path: Path) -> bool:
        """Whether ``path`` is a TIFF file, whatever its name."""
        return head(path, 4) in _MAGIC

    def read(self, path: Path) -> ImageData:
        """Read ``path`` (see :meth:`ImageFormat.read <napari_n2n.io.ImageFormat.read>`)."""
        import tifffile

        data = None
        try:
            tf = tifffile.TiffFile(path)
            try:
                series = tf.series[0]
                data = _lazy(series, path) if series.nbytes > LAZY_BYTES else None
                if data is None:
                    data = series.asarray()
                axes = our_axes(series.axes)
                sizes, unit = _pixel_sizes(tf)
            finally:
                if isinstance(data, np.ndarray) or data is None:  # a lazy view keeps the file open
                    tf.close()
        except Exception as exc:  # tifffile raises many types for damaged or foreign files
            raise unreadable(path, "TIFF image", exc, "Give a .tif/.tiff file.") from exc
        if (
            axes is not None and len(axes) != data.ndim
        ):  # pragma: no cover - tifffile keeps them in step
            axes = None
        return ImageData(data, axes=axes, pixel_size=sizes, unit=unit, source=str(path))

    def write(
        self,
        path: Path,
        data,
        *,
        axes: str | None = None,
        pixel_size: dict | None = None,
        unit: str | None = None,
        **_,
    ) -> None:  # TIFF has no place for a translation
        """Write ``data`` to ``path`` (see :meth:`ImageFormat.write <napari_n2n.io.ImageFormat.write>`)."""
        import tifffile

        data = np.asarray(data)
        options: dict = {"bigtiff": data.nbytes > 2**32 - 2**25}
        metadata: dict = {}
        if axes and axes.endswith("C") and data.shape[-1] in (3, 4) and data.ndim == len(axes):
            # colour last: stored as RGB(A) samples, which every TIFF reader understands
            options["photometric"] = "rgb"
            if data.shape[-1] == 4:
                options["extrasamples"] = ["unassalpha"]
            metadata["axes"] = axes[:-1].replace("S", "Q") + "S"
        else:
            options["photometric"] = "minisblack"
            if axes:
                metadata["axes"] = axes.replace("S", "Q")  # tifffile's S means colour samples
        pixel_size = pixel_size or {}
        if "X" in pixel_size and "Y" in pixel_size:
            options["resolution"] = (1.0 / pixel_size["X"], 1.0 / pixel_size["Y"])
            if not unit:  # tifffile's default unit is the inch, which readers convert
                options["resolutionunit"] = 1  # NONE: the sizes come back as given
        if "Z" in pixel_size:
            metadata["spacing"] = pixel_size["Z"]
        if unit and pixel_size:
            metadata["unit"] = unit
        tifffile.imwrite(path, data, metadata=metadata, **options)
