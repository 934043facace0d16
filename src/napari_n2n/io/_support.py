"""What the formats share: importing an optional library of the ``io`` extra, and units of length and time."""

from __future__ import annotations

import importlib

from ..core.errors import InputError

#: the extra that brings the libraries of the large-data formats (zarr, yaozarrs, nibabel, dask.distributed)
EXTRA = "io"

#: OME-NGFF unit names → the short ones napari-n2n shows and TIFF stores
_SHORT = {
    "micrometer": "µm",
    "nanometer": "nm",
    "millimeter": "mm",
    "centimeter": "cm",
    "meter": "m",
    "angstrom": "Å",
    "picometer": "pm",
}
_SPELLINGS = {
    "micron": "µm",
    "microns": "µm",
    "um": "µm",
    "\\u00b5m": "µm",
    "μm": "µm",
    "mum": "µm",
}

#: micrometres in one unit of length (short names)
_UM = {"pm": 1e-6, "Å": 1e-4, "nm": 1e-3, "µm": 1.0, "mm": 1e3, "cm": 1e4, "m": 1e6}
#: seconds in one unit of time (OME, ImageJ and OME-NGFF spellings)
_SECONDS = {
    "ms": 1e-3,
    "millisecond": 1e-3,
    "s": 1.0,
    "sec": 1.0,
    "second": 1.0,
    "min": 60.0,
    "minute": 60.0,
    "h": 3600.0,
    "hour": 3600.0,
}


def require(module: str, what: str):
    """Import and return ``module``; a one-line :class:`InputError` naming the extra if it is missing.

    ``what`` says what needs it (``"Reading OME-Zarr"``).
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise InputError(
            f"{what} needs {module.split('.')[0]}, from the optional extra: "
            f"pip install 'napari-n2n[{EXTRA}]'."
        ) from exc


def short_unit(unit: str | None) -> str | None:
    """``"µm"`` for ``"micrometer"``, ``"micron"`` or ``"um"``; other units as given."""
    if not unit:
        return None
    low = str(unit).strip().lower()
    return _SHORT.get(low) or _SPELLINGS.get(low) or str(unit).strip()


def ome_unit(unit: str | None) -> str | None:
    """The OME-NGFF name of a unit of length (``"micrometer"`` for ``"µm"``), or ``None`` if it has none."""
    short = short_unit(unit)
    names = {v: k for k, v in _SHORT.items()}
    if short in names:
        return names[short]
    return short if short in _SHORT else None


def micrometres(unit: str | None) -> float | None:
    """How many micrometres one ``unit`` is (``1000.0`` for ``"mm"``), or ``None`` for no unit of length.

    Examples
    --------
    >>> micrometres("micron"), micrometres("nm"), micrometres("pixel")
    (1.0, 0.001, None)
    """
    return _UM.get(short_unit(unit) or "")


def seconds(unit: str | None) -> float | None:
    """How many seconds one ``unit`` of time is (``60.0`` for ``"min"``); ``None`` if unknown.

    Examples
    --------
    >>> seconds("sec"), seconds("ms"), seconds("frame")
    (1.0, 0.001, None)
    """
    return _SECONDS.get(str(unit or "").strip().lower())
