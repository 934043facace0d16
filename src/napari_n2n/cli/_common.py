"""What the sub-commands share: reading and writing image files, the package version."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.checks import require_numeric
from ..core.errors import InputError


def package_version() -> str:
    from .. import __version__

    return __version__


def add_pair_outputs(parser) -> None:
    """The options of a command that writes a pair: ``--out-a``, ``--out-b`` and the ``--seed`` of its randomness."""
    parser.add_argument("--out-a", required=True, help="where to write image A")
    parser.add_argument("--out-b", required=True, help="where to write image B")
    parser.add_argument("--seed", type=int, default=0)


def read_image(path: str, what: str = "image") -> np.ndarray:
    """Read a TIFF (or .npy) file; user errors become :class:`InputError`."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{what.capitalize()} file {path} does not exist. Check the path.")
    if p.suffix.lower() == ".npy":
        try:
            arr = np.load(p, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise InputError(f"{path} is not a readable .npy array ({exc}). Save it with numpy.save.") from exc
    else:
        import tifffile

        try:
            arr = tifffile.imread(p)
        except Exception as exc:  # tifffile raises several types for non-TIFF files
            raise InputError(
                f"{path} is not a TIFF image ({type(exc).__name__}). Give a .tif/.tiff file (or a .npy array)."
            ) from exc
    require_numeric(arr, str(path))
    if arr.ndim < 2:
        raise InputError(f"{path} is {arr.ndim}D; an image needs at least 2 dimensions (Y, X).")
    return arr


def write_image(path: str, array: np.ndarray) -> None:
    p = Path(path)
    if not p.parent.exists():
        raise InputError(f"Cannot write {path}: folder {p.parent} does not exist. Create it first.")
    if p.suffix.lower() == ".npy":
        np.save(p, array)
        return
    import tifffile

    tifffile.imwrite(p, array)
