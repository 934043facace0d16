"""NIfTI-1/2 volumes (``.nii``, ``.nii.gz``; nibabel, from the ``io`` extra): affine and header kept.

The voxel array is used in the file's own index order, i, j, k (, t, ...), which NIfTI ties
to x, y, z (, t): its axes are ``"XYZ"`` (``"XY"``, ``"XYZT"``, ``"XYZTC"``), so nothing is
transposed and a 2D model denoises the slices of the i-j plane. An uncompressed file is read
lazily (nibabel's array proxy reads the blocks asked for); a gzipped one, which can only be
read from its start, is read once, whole. A file scaled by ``scl_slope``/``scl_inter`` is read
in its scaled (float) values.

Written back, the data keep the source's affine and header (codes, units, description, intent),
with the data type of the result. Data from another format are written with their axes put in
NIfTI order (X, Y, Z, T, ...) and an affine made of their pixel sizes and translation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.errors import InputError
from ._formats import ImageData, LazyFile, head, unreadable
from ._support import require, short_unit

#: NIfTI's axes, in the order of its dimensions
_ORDER = "XYZTSC"
_UNITS = {"mm": "mm", "micron": "µm", "meter": "m"}


def _affine_problem(affine: np.ndarray) -> str | None:
    if affine.shape != (4, 4) or not np.isfinite(affine).all():
        return "its affine holds NaN or Inf values"
    if abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        return "its affine is singular (a voxel size of 0)"
    return None


class NiftiFormat:
    """``.nii`` / ``.nii.gz``; the affine and the header are kept for the output."""

    name = "NIfTI"
    suffixes = (".nii", ".nii.gz")

    @staticmethod
    def sniff(path: Path) -> bool:
        """Whether ``path`` is a NIfTI file, whatever its name."""
        start = head(path, 348)  # NIfTI-1 says so at byte 344, NIfTI-2 at byte 4
        return start[344:348] == b"n+1\x00" or start[4:8] == b"n+2\x00"

    def read(self, path: Path) -> ImageData:
        """Read ``path`` (see :meth:`ImageFormat.read <napari_n2n.io.ImageFormat.read>`)."""
        nib = require("nibabel", "Reading NIfTI")
        try:
            img = nib.load(str(path))
            proxy = img.dataobj
            header = img.header
            affine = np.asarray(img.affine, dtype=np.float64)
        except Exception as exc:  # nibabel raises many types for damaged or foreign files
            raise unreadable(path, "NIfTI image", exc, "Give a .nii or .nii.gz file.") from exc
        problem = _affine_problem(affine)
        if problem:
            raise InputError(
                f"{path} has no usable affine: {problem}. Fix its header (qform/sform) with the tool "
                "that wrote it, or convert the volume to TIFF if its placement does not matter."
            )
        scaled = getattr(proxy, "slope", 1.0) != 1.0 or getattr(proxy, "inter", 0.0) != 0.0
        lazy = not str(path).lower().endswith(".gz") and not scaled and hasattr(proxy, "ndim")
        try:
            data = (
                LazyFile(proxy, path, "NIfTI image")
                if lazy
                else (np.asarray(img.get_fdata(dtype=np.float32)) if scaled else np.asarray(proxy))
            )
        except Exception as exc:
            raise InputError(
                f"{path} could not be read to its end ({type(exc).__name__}). The file is truncated "
                "or damaged."
            ) from exc
        ndim = len(data.shape)
        axes = _ORDER[:3][:ndim] + ("T" if ndim >= 4 else "") + ("C" if ndim >= 5 else "")
        axes = axes if len(axes) == ndim else None
        zooms = [float(z) for z in header.get_zooms()]
        sizes = {
            a: zooms[i]
            for i, a in enumerate("XYZ"[: min(3, ndim)])
            if i < len(zooms) and zooms[i] > 0
        }
        unit = _UNITS.get(header.get_xyzt_units()[0])
        origin = {}
        # no rotation: a plain origin
        if np.count_nonzero(affine[:3, :3] - np.diag(np.diag(affine[:3, :3]))) == 0:
            origin = {
                a: float(affine[i, 3])
                for i, a in enumerate("XYZ"[: min(3, ndim)])
                if affine[i, 3] != 0
            }
        return ImageData(
            data,
            axes=axes,
            pixel_size=sizes,
            unit=short_unit(unit),
            source=str(path),
            translation=origin,
            extra={"nifti_affine": affine, "nifti_header": header.copy()},
        )

    def write(
        self,
        path: Path,
        data,
        *,
        axes: str | None = None,
        pixel_size: dict | None = None,
        unit: str | None = None,
        translation: dict | None = None,
        extra: dict | None = None,
        **_,
    ) -> None:  # a frame interval: a NIfTI input's own header keeps its time step
        """Write ``data`` to ``path`` (see :meth:`ImageFormat.write <napari_n2n.io.ImageFormat.write>`)."""
        nib = require("nibabel", "Writing NIfTI")
        data = np.asarray(data)
        extra = extra or {}
        if axes:
            order = "".join(a for a in _ORDER if a in axes)
            data = np.transpose(data, [axes.index(a) for a in order])
        affine = extra.get("nifti_affine")
        header = extra.get("nifti_header")
        if affine is None or (axes and not axes.startswith("XY")):
            affine = np.eye(4)
            for i, a in enumerate("XYZ"):
                affine[i, i] = float((pixel_size or {}).get(a, 1.0))
                affine[i, 3] = float((translation or {}).get(a, 0.0))
            header = None
        cls = (
            nib.Nifti2Image
            if header is not None and isinstance(header, nib.Nifti2Header)
            else nib.Nifti1Image
        )
        img = cls(data, np.asarray(affine), header=header.copy() if header is not None else None)
        img.set_data_dtype(data.dtype)
        if header is None:
            img.header.set_xyzt_units(
                {"µm": "micron", "mm": "mm", "m": "meter"}.get(unit or "", "unknown")
            )
            img.set_qform(np.asarray(affine), code=1)
            img.set_sform(np.asarray(affine), code=1)
        nib.save(img, str(path))
