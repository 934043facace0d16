"""numpy ``.npy`` files: the array only (no axes, no pixel sizes, never a pickle)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.errors import InputError
from ._formats import ImageData


class NpyFormat:
    """``.npy``, read without unpickling; says nothing about axes."""

    name = "numpy"
    suffixes = (".npy",)

    @staticmethod
    def sniff(path: Path) -> bool:
        try:
            with open(path, "rb") as f:
                return f.read(6) == b"\x93NUMPY"
        except OSError:
            return False

    def read(self, path: Path) -> ImageData:
        try:
            data = np.load(path, allow_pickle=False)
        except Exception as exc:  # empty, truncated, pickled or not numpy at all
            raise InputError(f"{path} is not a readable .npy array ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0] if str(exc) else 'empty file'}). Save it with numpy.save.") from exc
        return ImageData(data, source=str(path))

    def write(self, path: Path, data, *, axes=None, pixel_size=None, unit=None) -> None:
        with open(path, "wb") as f:  # a file object: numpy.save would add .npy to a name without it
            np.save(f, np.asarray(data), allow_pickle=False)
