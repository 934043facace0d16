"""What the formats of the ``io`` extra share: importing an optional library, and units of length."""

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
