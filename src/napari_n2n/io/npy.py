"""numpy ``.npy`` files: the array only (no axes, no pixel sizes, never a pickle)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ._formats import ImageData, head, unreadable


class NpyFormat:
    """``.npy``, read without unpickling; says nothing about axes."""

    name = "numpy"
    suffixes = (".npy",)

    @staticmethod
    def sniff(path: Path) -> bool:
        """Whether ``path`` is a .npy file, whatever its name."""
        return head(path, 6) == b"\x93NUMPY"

    def read(self, path: Path) -> ImageData:
        """Read ``path`` (see :meth:`ImageFormat.read <napari_n2n.io.ImageFormat.read>`)."""
        try:
            data = np.load(path, allow_pickle=False)
        except Exception as exc:  # empty, truncated, pickled or not numpy at all
            raise unreadable(
                path, ".npy array", exc, "Save it with numpy.save.", empty="empty file"
            ) from exc
        return ImageData(data, source=str(path))

    def write(self, path: Path, data, *, axes=None, pixel_size=None, unit=None, **_) -> None:
        """Write ``data`` to ``path`` (see :meth:`ImageFormat.write <napari_n2n.io.ImageFormat.write>`)."""
        with open(path, "wb") as f:  # a file object: numpy.save would add .npy to a name without it
            np.save(f, np.asarray(data), allow_pickle=False)
