"""What an image file holds (:class:`ImageData`) and the table of formats, chosen by the file's suffix."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from ..core.errors import InputError, N2NError


@dataclass(frozen=True)
class ImageData:
    """An image read from a file, with what the file says about it.

    Attributes
    ----------
    data : array-like
        The pixels (numpy, or a lazy array for formats that read on demand).
    axes : str or None
        The axes as the file states them, in napari-n2n's letters (``"YX"``, ``"TYX"``,
        ``"ZYX"``, ``"YXC"`` for colour, ...); ``None`` when the file does not say.
    pixel_size : dict
        Size of a pixel along the axes the file gives one for, e.g. ``{"Y": 0.1, "X": 0.1,
        "Z": 0.5}``, in ``unit``. Empty when the file says nothing.
    unit : str or None
        Unit of ``pixel_size`` (``"µm"``, ...), where the file says.
    source : str
        The path it was read from.
    translation : dict
        Position of the first pixel along the axes the file gives one for (OME-Zarr
        translation, NIfTI origin), in ``unit``. Empty when the file says nothing.
    extra : dict
        What only the same format can write back (a NIfTI file's affine and header); a
        writer of another format ignores it.
    frame_interval : float or None
        Time between two frames (the ``T`` axis), in seconds, where the file says (ImageJ
        ``finterval``, OME ``TimeIncrement``).
    """

    data: object
    axes: str | None = None
    pixel_size: dict = field(default_factory=dict)
    unit: str | None = None
    source: str = ""
    translation: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    frame_interval: float | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        """The pixels' shape."""
        return tuple(int(s) for s in self.data.shape)

    @property
    def ndim(self) -> int:
        """The pixels' number of dimensions."""
        return len(self.data.shape)

    def metadata(self) -> dict:
        """The keyword options of :func:`~napari_n2n.io.write_image` that carry this image's metadata (not its axes)."""
        return dict(
            pixel_size=self.pixel_size,
            unit=self.unit,
            translation=self.translation,
            extra=self.extra,
            frame_interval=self.frame_interval,
        )


class ImageFormat(Protocol):
    """One file format: a name, its suffixes, a reader and a writer.

    ``read(path)`` returns an :class:`ImageData` (user errors as :class:`InputError`);
    ``write(path, data, axes=..., pixel_size=..., unit=..., translation=..., extra=...,
    frame_interval=...)`` writes a new file at ``path``
    (the temporary file of a :class:`~napari_n2n.core.files.Destination`: a format never
    writes to the destination itself). ``sniff(path)``, where given, tells whether a file
    of an unknown suffix is of this format. A format whose files are folders (zarr) sets
    ``folder = True``: its writer then fills a temporary folder, renamed into place whole.
    """

    name: str
    suffixes: tuple[str, ...]

    def read(self, path: Path) -> ImageData:
        """Read a file of this format.

        Parameters
        ----------
        path : pathlib.Path
            The file (or folder, for a ``folder`` format).

        Returns
        -------
        ImageData
            The pixels (numpy, or a lazy array for large files) with what the file states.

        Raises
        ------
        InputError
            If the file cannot be read as this format.
        """
        ...

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
        frame_interval: float | None = None,
    ) -> None:
        """Write ``data`` as a new file at ``path``, with what the format can hold.

        Parameters
        ----------
        path : pathlib.Path
            The temporary file (or folder) of a :class:`~napari_n2n.core.files.Destination`.
        data : array-like
            The pixels.
        axes : str, optional
            Their axes.
        pixel_size : dict, optional
            Axis letter → pixel size.
        unit : str, optional
            The unit of the pixel sizes.
        translation : dict, optional
            Axis letter → position of the first pixel.
        extra : dict, optional
            The format's own metadata (see :class:`ImageData`).
        frame_interval : float, optional
            Seconds between two frames of the ``T`` axis.
        """
        ...


#: the registered formats, in the order they are tried for files of unknown suffix
FORMATS: list = []


def register(fmt) -> None:
    """Add a format; a later one with the same suffix takes precedence.

    Parameters
    ----------
    fmt : ImageFormat
        An object with ``name``, ``suffixes``, ``read`` and ``write`` (and optionally ``sniff``
        and ``folder``).
    """
    FORMATS.insert(0, fmt)


def head(path, n: int) -> bytes:
    """The first ``n`` bytes of the file ``path`` (fewer if it is shorter; empty if it cannot be read)."""
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError:
        return b""


def unreadable(path, what: str, exc: BaseException, what_to_do: str, empty: str = "") -> InputError:
    """The error for a file a reader cannot read: ``"X is not a readable TIFF image (ValueError: ...). Give ..."``."""
    first = str(exc).splitlines()[0] if str(exc) else empty
    return InputError(
        f"{path} is not a readable {what} ({type(exc).__name__}: {first}). {what_to_do}"
    )


class LazyFile:
    """A lazily read array of a file whose reads turn a library's errors into one line naming the file.

    A damaged chunk or block is found only when it is read, long after the file was opened
    (blosc's ``RuntimeError`` for a garbled zarr chunk, nibabel's for a cut NIfTI volume):
    this view of the library's array raises an :class:`InputError` that names the file and
    says what to do instead. Everything else (``shape``, ``dtype``, ``chunks``, ...) is the
    array's own.

    Parameters
    ----------
    array : array-like
        The library's lazy array (zarr array, nibabel proxy).
    path : str or PathLike
        The file, for the message.
    what : str
        Its format, for the message (``"OME-Zarr image"``).

    Examples
    --------
    >>> view = LazyFile(np.arange(6).reshape(2, 3), "a.npy", "array")
    >>> view.shape, int(view[1, 2])
    ((2, 3), 5)
    >>> LazyFile(np.zeros(0), "b.ome.zarr", "OME-Zarr image")["x"]  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    napari_n2n.core.errors.InputError: b.ome.zarr: a part of the OME-Zarr image could not be read (IndexError: ...
    """

    def __init__(self, array, path, what: str):
        self.array = array
        self.path = path
        self.what = what

    @property
    def shape(self) -> tuple[int, ...]:
        """The array's shape."""
        return tuple(self.array.shape)

    @property
    def dtype(self):
        """The array's dtype."""
        return self.array.dtype

    @property
    def ndim(self) -> int:
        """The array's number of axes."""
        return len(self.array.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __getattr__(self, name):
        if name == "array":  # not set yet (a copy being made): no recursion
            raise AttributeError(name)
        return getattr(self.array, name)

    def __getitem__(self, key):
        try:
            return self.array[key]
        except (N2NError, MemoryError):
            raise
        except Exception as exc:  # the libraries raise many types for damaged data
            first = str(exc).splitlines()[0] if str(exc) else ""
            raise InputError(
                f"{self.path}: a part of the {self.what} could not be read ({type(exc).__name__}: "
                f"{first}). The file is damaged or truncated; write it again, or use another copy."
            ) from exc

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self[...], dtype=dtype)

    def __repr__(self) -> str:
        return f"LazyFile({self.path!r}, shape={self.shape}, dtype={self.dtype})"


def known_suffixes() -> str:
    return ", ".join(dict.fromkeys(s for f in reversed(FORMATS) for s in f.suffixes))


def format_for(path: str | os.PathLike, *, writing: bool = False):
    """The format of ``path`` from its suffix (the longest that matches, so ``.ome.tif`` beats ``.tif``).

    A file of unknown suffix is read by the first format whose ``sniff`` recognises it; for
    writing, the suffix must be known.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    writing : bool
        Whether the file is to be written (no sniffing).

    Returns
    -------
    ImageFormat

    Raises
    ------
    InputError
        If no format fits, listing the known suffixes.

    Examples
    --------
    >>> format_for("stack.ome.zarr").name, format_for("out.TIF", writing=True).name
    ('OME-Zarr', 'TIFF')
    """
    name = Path(os.fspath(path)).name.lower()
    matches = [(len(s), f) for f in FORMATS for s in f.suffixes if name.endswith(s)]
    if matches:
        return max(matches, key=lambda m: m[0])[1]
    if not writing:
        for fmt in FORMATS:
            sniff: Callable | None = getattr(fmt, "sniff", None)
            if sniff is not None and sniff(Path(os.fspath(path))):
                return fmt
        raise InputError(
            f"{path} is not an image file napari-n2n reads. Give a file ending in {known_suffixes()}."
        )
    raise InputError(
        f"Cannot tell the format to write {path} in from its name. "
        f"Give a name ending in {known_suffixes()}."
    )
