"""TIFF files (tifffile): axes, pixel sizes and frame interval read from the file's metadata and written so other tools read them.

Axes come from tifffile's series axes, which it takes from ImageJ hyperstack, OME-XML and
tifffile's own JSON metadata, and from the samples per pixel (``S``: an RGB(A) image's colour).
They are translated to napari-n2n's letters: ``S`` (colour samples) and ``C`` become ``C``;
``T``, ``Z``, ``Y``, ``X`` stay; a file whose axes include anything else (``Q`` unknown, ``I``
an unlabelled sequence of pages) says nothing usable, so its axes are ``None``.

A file larger than :data:`LAZY_BYTES` is opened lazily (tifffile's zarr view of its first
series, ``aszarr``, when zarr from the ``io`` extra is installed): the tiler then reads it block
by block and never holds it whole.

Written, by which tools read what (each checked with tifffile's own ImageJ and OME parsers):

* a name ending in ``.ome.tif`` / ``.ome.tiff``: an **OME-TIFF**, with ``PhysicalSizeX/Y/Z``,
  their units and ``TimeIncrement`` in the OME-XML (Bio-Formats, QuPath, OMERO; without a unit,
  OME's default, µm, applies), and the X/Y resolution also in the TIFF tags;
* otherwise an **ImageJ hyperstack** where ImageJ can hold the image (uint8, uint16 or float32;
  axes in ImageJ's order ``TZCYX``, or 8-bit RGB): the resolution tags in pixels per unit of the
  description (ResolutionUnit NONE, as ImageJ itself writes), ``spacing``, ``unit`` and
  ``finterval`` in its description (Fiji, Bio-Formats);
* else (float64, int32, ... or axes ImageJ has no order for) a **plain TIFF** with the resolution
  tags in pixels per centimetre, which any TIFF reader converts, and tifffile's JSON description
  (axes, spacing, unit, frame interval).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._formats import ImageData, LazyFile, head, unreadable
from ._support import micrometres, seconds, short_unit

#: tifffile series axes → napari-n2n axes
_LETTERS = {"S": "C", "C": "C", "T": "T", "Z": "Z", "Y": "Y", "X": "X"}
#: micrometres per TIFF resolution unit (2: inch, 3: centimetre)
_UNIT_UM = {2: 25400.0, 3: 10000.0}
_INCH = 2
_CENTIMETRE = 3
_NONE = 1
#: the dtypes an ImageJ hyperstack holds (its 8-bit, 16-bit and 32-bit images)
_IMAGEJ_DTYPES = (np.uint8, np.uint16, np.float32)
#: ImageJ's order of axes
_IMAGEJ_ORDER = "TZCYX"
#: ImageJ's names of units of length (what its own files say)
_IMAGEJ_UNITS = {"µm": "micron", "Å": "angstrom"}
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


def _calibration(tf) -> tuple[dict, str | None, float | None]:
    """``({"Y": ..., "X": ..., "Z": ...}, unit, frame interval)`` from OME, ImageJ or tifffile metadata and the resolution tags."""
    if tf.is_ome:
        return _ome_calibration(tf.ome_metadata)
    page = tf.pages[0]
    meta = tf.imagej_metadata or tf.shaped_metadata and tf.shaped_metadata[0] or {}
    unit = short_unit(meta.get("unit"))
    sizes = {}
    tags = page.tags
    for axis, tag in (("X", "XResolution"), ("Y", "YResolution")):
        if tag in tags:
            num, den = tags[tag].value
            if num and den and (num, den) != (1, 1):
                sizes[axis] = den / num
    res_unit = int(tags["ResolutionUnit"].value) if "ResolutionUnit" in tags else _NONE
    # napari-n2n 0.1 wrote its sizes as given with tifffile's default unit, the inch, beside a
    # unit in its JSON description: those stay as stated
    legacy = res_unit == _INCH and unit and not tf.is_imagej
    if sizes and res_unit in _UNIT_UM and not legacy:  # physical tags: into the stated unit
        factor = micrometres(unit)
        sizes = {a: v * _UNIT_UM[res_unit] / (factor or 1.0) for a, v in sizes.items()}
        unit = unit if factor else "µm"
    if meta.get("spacing"):
        sizes["Z"] = float(meta["spacing"])
    interval = _frame_interval(meta.get("finterval"), meta.get("tunit") or "s")
    return (sizes, unit, interval) if sizes else ({}, None, interval)


def _frame_interval(value, unit) -> float | None:
    """``value`` in ``unit`` as seconds; ``None`` where either says nothing usable."""
    try:
        interval = float(value) * (seconds(unit) or float("nan"))
    except (TypeError, ValueError):
        return None
    return interval if interval > 0 else None


def _ome_calibration(xml: str) -> tuple[dict, str | None, float | None]:
    """Pixel sizes (in the unit of X, OME's default µm), their unit and the time increment of the first image."""
    try:
        pixels = next(e for e in ET.fromstring(xml).iter() if e.tag.endswith("Pixels"))
    except (ET.ParseError, StopIteration):
        return {}, None, None
    unit = short_unit(pixels.get("PhysicalSizeXUnit", "µm"))
    sizes = {}
    for a in "XYZ":
        try:
            size = float(pixels.get(f"PhysicalSize{a}") or "nan")
        except ValueError:
            continue
        own = micrometres(pixels.get(f"PhysicalSize{a}Unit", "µm"))
        if size > 0:  # not NaN (absent), not zero
            sizes[a] = size * own / micrometres(unit) if own and micrometres(unit) else size
    interval = _frame_interval(pixels.get("TimeIncrement"), pixels.get("TimeIncrementUnit", "s"))
    return (sizes, unit, interval) if sizes else ({}, None, interval)


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
                sizes, unit, interval = _calibration(tf)
            finally:
                if isinstance(data, np.ndarray) or data is None:  # a lazy view keeps the file open
                    tf.close()
        except Exception as exc:  # tifffile raises many types for damaged or foreign files
            raise unreadable(path, "TIFF image", exc, "Give a .tif/.tiff file.") from exc
        if (
            axes is not None and len(axes) != data.ndim
        ):  # pragma: no cover - tifffile keeps them in step
            axes = None
        return ImageData(
            data,
            axes=axes,
            pixel_size=sizes,
            unit=unit,
            source=str(path),
            frame_interval=interval,
        )

    def write(
        self,
        path: Path,
        data,
        *,
        axes: str | None = None,
        pixel_size: dict | None = None,
        unit: str | None = None,
        frame_interval: float | None = None,
        **_,
    ) -> None:  # TIFF has no place for a translation
        """Write ``data`` to ``path``: OME-TIFF, ImageJ or plain TIFF (see the module's docstring)."""
        import tifffile

        data = np.asarray(data)
        if axes is None and data.ndim == 2:
            axes = "YX"
        sizes = {a: float(v) for a, v in (pixel_size or {}).items() if a in "ZYX" and v}
        calibration = _Calibration(sizes, short_unit(unit), frame_interval or None)
        if path.name.lower().endswith((".ome.tif", ".ome.tiff")):
            data, options = _ome(data, axes, calibration)
        else:
            options = _imagej(data, axes, calibration) or _plain(data, axes, calibration)
        tifffile.imwrite(path, data, **options)


#: beyond this many bytes a TIFF needs 64-bit offsets (BigTIFF, which ImageJ's own reader lacks)
_CLASSIC_BYTES = 2**32 - 2**25


@dataclass(frozen=True)
class _Calibration:
    """What a written TIFF says about its pixels: sizes of Z, Y, X in ``unit``, seconds between frames."""

    sizes: dict
    unit: str | None
    interval: float | None

    def resolution(self, *, tags_unit: int) -> dict:
        """The ``resolution`` and ``resolutionunit`` options of tifffile for X and Y (none without both).

        ``tags_unit`` NONE: pixels per unit of the description (ImageJ's way); CENTIMETRE:
        pixels per centimetre where the unit is a length (any reader's way), else NONE.
        """
        if "X" not in self.sizes or "Y" not in self.sizes:
            return {}
        um = micrometres(self.unit) if tags_unit == _CENTIMETRE else None
        scale = 1e4 / um if um else 1.0
        return {
            "resolution": (scale / self.sizes["X"], scale / self.sizes["Y"]),
            "resolutionunit": _CENTIMETRE if um else _NONE,
        }


def _layout(data: np.ndarray, axes: str | None) -> tuple[str | None, dict]:
    """The axes and photometric options of tifffile: colour last (3 or 4) as RGB(A) samples, else grey planes."""
    if axes and axes.endswith("C") and data.shape[-1] in (3, 4) and data.ndim == len(axes):
        # colour last: stored as RGB(A) samples, which every TIFF reader understands
        options: dict = {"photometric": "rgb"}
        if data.shape[-1] == 4:
            options["extrasamples"] = ["unassalpha"]
        return axes[:-1].replace("S", "Q") + "S", options
    # tifffile's S means colour samples: napari-n2n's S (a series) is an unnamed axis there
    return (axes.replace("S", "Q") if axes else None), {"photometric": "minisblack"}


def _imagej(data: np.ndarray, axes: str | None, cal: _Calibration) -> dict | None:
    """The options of ``imwrite`` for an ImageJ hyperstack, or ``None`` where ImageJ cannot hold the image."""
    if data.dtype.type not in _IMAGEJ_DTYPES or not axes or data.nbytes > _CLASSIC_BYTES:
        return None
    tiff_axes, options = _layout(data, axes)
    grey = tiff_axes.removesuffix("S")
    if grey != tiff_axes and (data.dtype != np.uint8 or data.shape[-1] != 3):
        return None  # ImageJ's colour images are 8-bit RGB
    ranks = [_IMAGEJ_ORDER.find(a) for a in grey]
    if not grey.endswith("YX") or -1 in ranks or ranks != sorted(ranks):
        return None
    metadata: dict = {"axes": tiff_axes}
    if "Z" in cal.sizes:
        metadata["spacing"] = cal.sizes["Z"]
    if cal.unit and cal.sizes:
        metadata["unit"] = _IMAGEJ_UNITS.get(cal.unit, cal.unit)
    if cal.interval:
        metadata["finterval"] = cal.interval  # ImageJ's time unit is the second by default
    return {"imagej": True, "metadata": metadata, **options, **cal.resolution(tags_unit=_NONE)}


def _plain(data: np.ndarray, axes: str | None, cal: _Calibration) -> dict:
    """The options of ``imwrite`` for a plain TIFF: resolution tags per centimetre, the rest in tifffile's JSON."""
    tiff_axes, options = _layout(data, axes)
    metadata: dict = {"axes": tiff_axes} if tiff_axes else {}
    if "Z" in cal.sizes:
        metadata["spacing"] = cal.sizes["Z"]
    if cal.unit and cal.sizes:
        metadata["unit"] = cal.unit
    if cal.interval:
        metadata["finterval"] = cal.interval
    return {
        "metadata": metadata,
        "bigtiff": data.nbytes > _CLASSIC_BYTES,
        **options,
        **cal.resolution(tags_unit=_CENTIMETRE),
    }


def _ome(data: np.ndarray, axes: str | None, cal: _Calibration) -> tuple[np.ndarray, dict]:
    """The data (channels before Y and X, as OME stores planes) and the options of ``imwrite`` for an OME-TIFF."""
    tiff_axes, options = _layout(data, axes)
    if tiff_axes and "C" in tiff_axes and tiff_axes.index("C") > tiff_axes.index("Y"):
        grey = tiff_axes.replace("C", "")
        order = grey[: grey.index("Y")] + "C" + grey[grey.index("Y") :]
        data = np.transpose(data, [tiff_axes.index(a) for a in order])
        tiff_axes = order
    metadata: dict = {"axes": tiff_axes} if tiff_axes else {}
    length = cal.unit is None or micrometres(cal.unit) is not None  # OME's sizes are lengths
    for a in "XYZ":
        if a in cal.sizes and length:
            metadata[f"PhysicalSize{a}"] = cal.sizes[a]
            if cal.unit:  # without one, OME's default: µm
                metadata[f"PhysicalSize{a}Unit"] = cal.unit
    if cal.interval:
        metadata["TimeIncrement"], metadata["TimeIncrementUnit"] = cal.interval, "s"
    resolution = _Calibration(cal.sizes, cal.unit or "µm", None).resolution(tags_unit=_CENTIMETRE)
    return data, {
        "ome": True,
        "metadata": metadata,
        "bigtiff": data.nbytes > _CLASSIC_BYTES,
        **options,
        **(resolution if length else {}),
    }
