"""OME-Zarr images (OME-NGFF 0.5 on zarr v3; 0.4 read too).

Level 0 is read lazily; images are written with axes, pixel size, translation and a pyramid.
Reading opens the store without loading it: :attr:`ImageData.data` is level 0 of the first
multiscale image as a zarr array, read block by block by the tiler. A bare zarr array (no OME
metadata) is read as an array whose axes are its dimension names, where those are axis
letters. Writing creates an image the way napari-ome-zarr and other OME-Zarr readers expect
it: axes ordered time, channel, space (the data are transposed where needed), a scale and a
translation per level, levels halved in Y and X down to :data:`PYRAMID_MIN` pixels, chunks of
a few MB compressed with blosc-zstd. The metadata are built with yaozarrs' models (so they are
valid OME-NGFF 0.5), the arrays with zarr-python ≥ 3. Both come with the ``io`` extra.

The chunked, resumable writer of a prediction (:mod:`napari_n2n.ondisk.output`) creates the store
with :func:`create_image`, fills level 0 chunk by chunk and builds the pyramid with
:func:`write_pyramid`.
"""

from __future__ import annotations

import itertools
import math
import warnings
from pathlib import Path

import numpy as np

from ..core.errors import InputError
from ._formats import ImageData, LazyFile, unreadable
from ._support import ome_unit, require, seconds, short_unit

#: levels of the pyramid are halved in Y and X until both fit in this many pixels
PYRAMID_MIN = 256
#: at most this many levels (level 0 included)
MAX_LEVELS = 8
#: napari-n2n's own group attributes (beside "ome"): how the image was made, whether it is complete
ATTRS_KEY = "napari_n2n"
#: axis letters in the order OME-NGFF requires (time, then channel or a custom axis, then space)
_ORDER = "TSCZYX"
_TYPES = {"T": "time", "C": "channel", "Z": "space", "Y": "space", "X": "space"}


def _zarr(what: str = "Reading OME-Zarr"):
    return require("zarr", what)


def _is_store(path: Path) -> bool:
    return path.is_dir() and any((path / n).exists() for n in ("zarr.json", ".zgroup", ".zarray"))


# ---- reading -------------------------------------------------------------------------------------
def _axis_letter(axis) -> str | None:
    """napari-n2n's letter for an OME axis (a dict, or a name in OME 0.3), or None."""
    name, kind = (
        (axis, None) if isinstance(axis, str) else (str(axis.get("name", "")), axis.get("type"))
    )
    name = name.lower()
    if kind == "time" or (kind is None and name == "t"):
        return "T"
    if kind == "channel" or (kind is None and name == "c"):
        return "C"
    if name in ("z", "y", "x") and kind in (None, "space"):
        return name.upper()
    return None


def _transforms(items) -> tuple[list[float] | None, list[float] | None]:
    scale = translation = None
    for t in items or []:
        if t.get("type") == "scale" and "scale" in t:
            scale = [float(v) for v in t["scale"]]
        elif t.get("type") == "translation" and "translation" in t:
            translation = [float(v) for v in t["translation"]]
    return scale, translation


def _multiscale(node, path: Path) -> dict:
    attrs = dict(node.attrs)
    ome = attrs.get("ome", attrs)
    ms = ome.get("multiscales") if isinstance(ome, dict) else None
    if ms:
        return ms[0]
    if isinstance(ome, dict) and (
        "plate" in ome or "bioformats2raw.layout" in ome or "well" in ome
    ):
        raise InputError(
            f"{path} is an OME-Zarr collection (plate, well or bioformats2raw), not one image. "
            f"Give the path of one image inside it, e.g. {path / '0'}."
        )
    raise InputError(
        f"{path} is a zarr group but not an OME-Zarr image (it has no multiscales metadata). Give an "
        "OME-Zarr image, or the path of a zarr array inside it."
    )


def read_ome_zarr(path: Path) -> ImageData:
    """Level 0 of the OME-Zarr image at ``path``, lazily, with what its metadata state.

    Parameters
    ----------
    path : pathlib.Path
        The image's folder (a multiscale group, or a bare zarr array).

    Returns
    -------
    ImageData
        A zarr array with the axes, pixel sizes, unit and translation of level 0.

    Raises
    ------
    InputError
        If the folder is not a zarr store, or its metadata are damaged.
    """
    zarr = _zarr()
    try:
        node = zarr.open(str(path), mode="r")
    except Exception as exc:  # zarr raises many types for folders that are not stores
        raise unreadable(path, "zarr store", exc, "Give an OME-Zarr image.") from exc
    try:
        if isinstance(node, zarr.Array):
            return _read_bare_array(node, path)
        return _read_image(node, path)
    except InputError:
        raise
    except Exception as exc:  # metadata of the wrong types, arrays zarr refuses to open
        raise InputError(
            f"{path}: its OME-Zarr metadata are damaged ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}). Rewrite the store, or use another copy."
        ) from exc


def _read_image(node, path: Path) -> ImageData:
    """Level 0 of a multiscale group, with what its metadata state."""
    ms = _multiscale(node, path)
    datasets = ms.get("datasets") or []
    if not datasets:
        raise InputError(
            f"{path}: its multiscales metadata list no datasets. The store is damaged; rewrite it."
        )
    level0 = _level0(node, datasets[0].get("path"), path)
    meta_axes = ms.get("axes") or []
    letters = [_axis_letter(a) for a in meta_axes]
    axes = "".join(letters) if len(letters) == level0.ndim and None not in letters else None
    if axes and len(set(axes)) != len(axes):
        axes = None
    if meta_axes and axes is None:
        warnings.warn(
            f"{path}: its axes metadata ({', '.join(str(_axis_name(a)) for a in meta_axes)}) do not "
            f"fit its {level0.ndim}D image {tuple(level0.shape)}; they are ignored. Give the axes "
            "(--axes) if the default is wrong.",
            UserWarning,
            stacklevel=4,
        )
    sizes = {}
    origin = {}
    unit = None
    interval = None
    if axes:
        scale, translation = _level0_transforms(ms, datasets[0])
        sizes, origin, unit = _calibration(axes, meta_axes, scale, translation)
        interval = _frame_interval(axes, meta_axes, scale)
    return ImageData(
        LazyFile(level0, path, "OME-Zarr image"),
        axes=axes,
        pixel_size=sizes,
        unit=unit if sizes else None,
        source=str(path),
        translation=origin,
        frame_interval=interval,
    )


def _frame_interval(axes: str, meta_axes: list, scale) -> float | None:
    """Seconds between two frames: the ``T`` axis's scale, where its unit is one of time."""
    if "T" not in axes or not scale or not isinstance(meta_axes[axes.index("T")], dict):
        return None
    per = seconds(meta_axes[axes.index("T")].get("unit"))
    return float(scale[axes.index("T")]) * per if per else None


def _axis_name(axis):
    return axis.get("name") if isinstance(axis, dict) else axis


def _level0(node, name, path: Path):
    """The array of level 0, named in the metadata; only a path inside the store."""
    if not isinstance(name, str) or not name or any(p in (".", "..") for p in name.split("/")):
        raise InputError(
            f"{path}: level 0's path {name!r} in its metadata does not name an array inside the "
            "store. The store is damaged (or crafted); rewrite it."
        )
    try:
        return node[name]
    except KeyError as exc:
        raise InputError(
            f"{path}: level 0 ({name!r}) named in its metadata is missing. The store "
            "is incomplete or damaged; rewrite it."
        ) from exc


def _read_bare_array(node, path: Path) -> ImageData:
    """A zarr array outside any multiscale group: its axes from its dimension names, if any."""
    names = getattr(node.metadata, "dimension_names", None) or ()
    letters = [_axis_letter(n) for n in names if n]
    axes = "".join(letters) if len(letters) == node.ndim and None not in letters else None
    return ImageData(
        LazyFile(node, path, "zarr array"),
        axes=axes if axes and len(set(axes)) == len(axes) else None,
        source=str(path),
    )


def _level0_transforms(ms: dict, dataset: dict) -> tuple[list | None, list | None]:
    """Level 0's scale and translation, composed with the multiscale's own transformations."""
    scale, translation = _transforms(dataset.get("coordinateTransformations"))
    outer_scale, outer_translation = _transforms(ms.get("coordinateTransformations"))
    if outer_scale and scale:
        scale = [a * b for a, b in zip(scale, outer_scale)]
        translation = [t * s for t, s in zip(translation or [0.0] * len(scale), outer_scale)]
    if outer_translation:
        translation = [
            a + b for a, b in zip(translation or [0.0] * len(outer_translation), outer_translation)
        ]
    return scale, translation


def _calibration(axes: str, meta_axes: list, scale, translation) -> tuple[dict, dict, str | None]:
    """Pixel sizes, origin and unit of the space axes (Z, Y, X) from level 0's transforms."""
    sizes = {}
    origin = {}
    unit = None
    for i, letter in enumerate(axes):
        if letter not in "ZYX":
            continue
        if scale and i < len(scale):
            sizes[letter] = scale[i]
        if translation and i < len(translation) and translation[i] != 0:
            origin[letter] = translation[i]
        if unit is None and isinstance(meta_axes[i], dict):
            unit = short_unit(meta_axes[i].get("unit"))
    return sizes, origin, unit


# ---- writing -------------------------------------------------------------------------------------
def ome_axes(axes: str) -> str:
    """``axes`` in the order OME-NGFF requires (``"TCZYX"``-like).

    Parameters
    ----------
    axes : str
        Valid axes.

    Returns
    -------
    str

    Raises
    ------
    InputError
        For axes an OME-Zarr image cannot hold (both S and C).

    Examples
    --------
    >>> ome_axes("ZYXC")
    'CZYX'
    """
    if "S" in axes and "C" in axes:
        raise InputError(
            f"An OME-Zarr image has at most one channel-like axis; axes {axes!r} have both S and C. "
            "Write a format without that limit (.tif, .npy), or merge S into T."
        )
    return "".join(a for a in _ORDER if a in axes)


def level_shapes(
    shape: tuple[int, ...], axes: str, levels: int | None = None
) -> list[tuple[int, ...]]:
    """Shapes of the pyramid's levels: Y and X halved (rounding up) per level.

    Parameters
    ----------
    shape : tuple of int
        Level 0's shape.
    axes : str
        Its axes.
    levels : int, optional
        How many levels; ``None`` adds levels until Y and X fit in :data:`PYRAMID_MIN` (at most
        :data:`MAX_LEVELS`).

    Returns
    -------
    list of tuple of int
        Level 0's shape first.

    Examples
    --------
    >>> level_shapes((2, 1000, 700), "CYX")
    [(2, 1000, 700), (2, 500, 350), (2, 250, 175)]
    """
    iy = axes.index("Y")
    ix = axes.index("X")
    shapes = [tuple(int(s) for s in shape)]
    while len(shapes) < (levels or MAX_LEVELS):
        last = shapes[-1]
        if levels is None and max(last[iy], last[ix]) <= PYRAMID_MIN:
            break
        if last[iy] == 1 and last[ix] == 1:
            break
        nxt = list(last)
        nxt[iy], nxt[ix] = math.ceil(last[iy] / 2), math.ceil(last[ix] / 2)
        shapes.append(tuple(nxt))
    return shapes


def default_chunks(
    shape: tuple[int, ...], axes: str, *, spatial: tuple[int, ...] = (1, 1024, 1024)
) -> tuple[int, ...]:
    """Chunks of a level: one per T/S index, every channel together, ``spatial`` (Z, Y, X) clipped to the shape.

    Parameters
    ----------
    shape : tuple of int
        The level's shape.
    axes : str
        Its axes.
    spatial : tuple of int
        The chunk's Z, Y and X sides.

    Returns
    -------
    tuple of int

    Examples
    --------
    >>> default_chunks((3, 2, 40, 5000, 300), "TCZYX")
    (1, 2, 1, 1024, 300)
    """
    size = dict(zip("ZYX", spatial))
    return tuple(
        min(int(s), size[a]) if a in size else (int(s) if a == "C" else 1)
        for a, s in zip(axes, shape)
    )


def image_metadata(
    axes: str,
    n_levels: int,
    *,
    pixel_size: dict | None = None,
    unit: str | None = None,
    translation: dict | None = None,
    frame_interval: float | None = None,
) -> dict:
    """The ``"ome"`` attributes of an image (valid OME-NGFF 0.5).

    Parameters
    ----------
    axes : str
        Its axes, in OME order (:func:`ome_axes`).
    n_levels : int
        Its levels, each halved in Y and X.
    pixel_size : dict, optional
        Axis letter → pixel size of level 0.
    unit : str, optional
        The unit of the pixel sizes.
    translation : dict, optional
        Axis letter → position of level 0's first pixel.
    frame_interval : float, optional
        Seconds between two frames: the scale of the ``T`` axis, in seconds.

    Returns
    -------
    dict
        JSON-ready.
    """
    v05 = require("yaozarrs", "Writing OME-Zarr").v05
    pixel_size, translation = pixel_size or {}, translation or {}
    name = ome_unit(unit)
    meta_axes = []
    for a in axes:
        if a == "T":
            meta_axes.append(v05.TimeAxis(name="t", unit="second" if frame_interval else None))
        elif a == "C":
            meta_axes.append(v05.ChannelAxis(name="c"))
        elif a == "S":
            meta_axes.append(v05.CustomAxis(name="s"))
        else:
            meta_axes.append(
                v05.SpaceAxis(name=a.lower(), unit=name if pixel_size.get(a) else None)
            )
    times = {"T": float(frame_interval or 1.0)}
    base = [float(pixel_size.get(a, 1.0)) if a in "ZYX" else times.get(a, 1.0) for a in axes]
    origin = [float(translation.get(a, 0.0)) if a in "ZYX" else 0.0 for a in axes]
    datasets = []
    for level in range(n_levels):
        f = [2**level if a in "YX" else 1 for a in axes]
        scale = [b * k for b, k in zip(base, f)]
        # a mean over k pixels is centred half a level-0 pixel per extra pixel further on
        shift = [o + (k - 1) * b / 2 for o, b, k in zip(origin, base, f)]
        transforms = [v05.ScaleTransformation(scale=scale)]
        if any(shift):
            transforms.append(v05.TranslationTransformation(translation=shift))
        datasets.append(v05.Dataset(path=str(level), coordinateTransformations=transforms))
    image = v05.Image(multiscales=[v05.Multiscale(axes=meta_axes, datasets=datasets)])
    return image.model_dump(mode="json", exclude_none=True)


def create_image(  # noqa: PLR0913  keywords: the calibration ImageData carries, then the layout
    path: str | Path,
    shape: tuple[int, ...],
    dtype,
    axes: str,
    *,
    pixel_size: dict | None = None,
    unit: str | None = None,
    translation: dict | None = None,
    frame_interval: float | None = None,
    chunks: tuple[int, ...] | None = None,
    levels: int | None = None,
    attrs: dict | None = None,
):
    """Create an empty OME-Zarr image at ``path`` (a new or empty folder).

    Parameters
    ----------
    path : str or pathlib.Path
        The folder.
    shape : tuple of int
        Level 0's shape.
    dtype : numpy dtype
        The pixels' dtype.
    axes : str
        In OME order (:func:`ome_axes`).
    pixel_size : dict, optional
        Axis letter → pixel size of level 0.
    unit : str, optional
        The unit of the pixel sizes.
    translation : dict, optional
        Axis letter → position of level 0's first pixel.
    frame_interval : float, optional
        Seconds between two frames (the ``T`` axis).
    chunks : tuple of int, optional
        Level 0's chunks (default: :func:`default_chunks`); every level has them, clipped to
        its shape.
    levels : int, optional
        See :func:`level_shapes`.
    attrs : dict, optional
        The group's ``napari_n2n`` attributes.

    Returns
    -------
    zarr.Group
    """
    zarr = _zarr("Writing OME-Zarr")
    from zarr.codecs import BloscCodec

    if ome_axes(axes) != axes:
        raise ValueError(
            f"axes {axes!r} are not in OME order"
        )  # pragma: no cover - callers order them
    shapes = level_shapes(shape, axes, levels)
    chunks = tuple(chunks) if chunks else default_chunks(shape, axes)
    group = zarr.open_group(str(path), mode="w", zarr_format=3)
    group.attrs.update(
        {
            "ome": image_metadata(
                axes,
                len(shapes),
                pixel_size=pixel_size,
                unit=unit,
                translation=translation,
                frame_interval=frame_interval,
            ),
            ATTRS_KEY: dict(attrs or {}),
        }
    )
    for level, s in enumerate(shapes):
        group.create_array(
            str(level),
            shape=s,
            chunks=tuple(min(c, n) for c, n in zip(chunks, s)),
            dtype=dtype,
            compressors=(BloscCodec(cname="zstd", clevel=3, shuffle="shuffle"),),
            dimension_names=[a.lower() for a in axes],
            fill_value=0,
        )
    return group


def chunk_slices(shape: tuple[int, ...], chunks: tuple[int, ...]):
    """Every chunk of an array of ``shape``, as a tuple of slices, in C order.

    Parameters
    ----------
    shape, chunks : tuple of int
        The array's shape and chunks.

    Yields
    ------
    tuple of slice

    Examples
    --------
    >>> [tuple((s.start, s.stop) for s in sl) for sl in chunk_slices((5, 4), (2, 4))]
    [((0, 2), (0, 4)), ((2, 4), (0, 4)), ((4, 5), (0, 4))]
    """
    ranges = [range(0, s, c) for s, c in zip(shape, chunks)]
    for start in itertools.product(*ranges):
        yield tuple(slice(a, min(a + c, s)) for a, c, s in zip(start, chunks, shape))


def _halve(block: np.ndarray, iy: int, ix: int, dtype) -> np.ndarray:
    """Mean over 2×2 pixels in Y and X (the last row or column of an odd size stands alone)."""
    pad = [(0, 0)] * block.ndim
    pad[iy], pad[ix] = (0, block.shape[iy] % 2), (0, block.shape[ix] % 2)
    b = np.pad(block.astype(np.float32, copy=False), pad, mode="edge")
    shape = list(b.shape)
    shape[ix : ix + 1] = [shape[ix] // 2, 2]
    shape[iy : iy + 1] = [shape[iy] // 2, 2]
    mean = b.reshape(shape).mean(axis=(iy + 1, ix + 2))
    dtype = np.dtype(dtype)
    if dtype.kind in "iub":
        info = np.iinfo(dtype) if dtype.kind in "iu" else None
        mean = np.clip(np.rint(mean), info.min if info else 0, info.max if info else 1)
    return mean.astype(dtype)


def write_pyramid(group, axes: str, *, should_stop=None, threads: int | None = None):
    """Fill levels 1, 2, ... of ``group`` from level 0, chunk by chunk (memory: a few chunks per thread).

    Parameters
    ----------
    group : zarr.Group
        Made by :func:`create_image`, level 0 written.
    axes : str
        Its axes.
    should_stop : callable, optional
        Stops between chunks when it returns True.
    threads : int, optional
        Threads computing a level's chunks (default: the cores, at most 8).

    Yields
    ------
    done, total : int
        Chunks written, of all levels; a caller can show progress and stop between chunks.
    """
    from concurrent.futures import ThreadPoolExecutor

    from ..core.device import available_cores

    iy = axes.index("Y")
    ix = axes.index("X")
    # the levels named in the metadata (listing the group would warn about the ledger beside them)
    arrays = [group[d["path"]] for d in group.attrs["ome"]["multiscales"][0]["datasets"]]
    total = sum(math.prod(math.ceil(s / c) for s, c in zip(a.shape, a.chunks)) for a in arrays[1:])
    threads = threads or min(8, available_cores())

    def one(src, dst, sl):
        read = list(sl)
        read[iy] = slice(2 * sl[iy].start, min(2 * sl[iy].stop, src.shape[iy]))
        read[ix] = slice(2 * sl[ix].start, min(2 * sl[ix].stop, src.shape[ix]))
        dst[sl] = _halve(np.asarray(src[tuple(read)]), iy, ix, dst.dtype)

    done = 0
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="n2n-pyramid") as pool:
        # a level is read only once the one above it is complete
        for src, dst in zip(arrays, arrays[1:]):
            pending = []
            for sl in itertools.chain(chunk_slices(dst.shape, dst.chunks), [None]):
                if sl is not None:
                    pending.append(pool.submit(one, src, dst, sl))
                while pending and (sl is None or len(pending) >= 2 * threads):
                    pending.pop(0).result()
                    done += 1
                    yield done, total
                    if should_stop is not None and should_stop():
                        for f in pending:
                            f.cancel()
                        return


def _permuted(data, axes: str, order: str):
    """A function reading a block of ``data`` (axes ``axes``) given slices in ``order``'s axes."""
    perm = [axes.index(a) for a in order]
    inverse = [order.index(a) for a in axes]

    def read(sl: tuple[slice, ...]) -> np.ndarray:
        return np.transpose(np.asarray(data[tuple(sl[i] for i in inverse)]), perm)

    return read


def write_ome_zarr(
    path: Path,
    data,
    *,
    axes: str | None,
    pixel_size: dict | None = None,
    unit: str | None = None,
    translation: dict | None = None,
    frame_interval: float | None = None,
    attrs: dict | None = None,
) -> None:
    """Write ``data`` as a new OME-Zarr image at ``path``, with its pyramid.

    Parameters
    ----------
    path : pathlib.Path
        The folder (new or empty).
    data : array-like
        Any array (numpy, dask, zarr), read chunk by chunk.
    axes : str or None
        Its axes (``None``: :func:`~napari_n2n.core.axes.default_axes`); written in OME order.
    pixel_size : dict, optional
        Axis letter → pixel size of level 0.
    unit : str, optional
        The unit of the pixel sizes.
    translation : dict, optional
        Axis letter → position of level 0's first pixel.
    frame_interval : float, optional
        Seconds between two frames (the ``T`` axis).
    attrs : dict, optional
        The group's ``napari_n2n`` attributes.
    """
    from ..core.axes import default_axes, validate_axes

    axes = validate_axes(axes, data.ndim) if axes else default_axes(data.ndim)
    order = ome_axes(axes)
    shape = tuple(int(data.shape[axes.index(a)]) for a in order)
    group = create_image(
        path,
        shape,
        np.dtype(data.dtype),
        order,
        pixel_size=pixel_size,
        unit=unit,
        translation=translation,
        frame_interval=frame_interval,
        attrs=dict(attrs or {}, complete=True),
    )
    level0 = group["0"]
    read = _permuted(data, axes, order)
    for sl in chunk_slices(level0.shape, level0.chunks):
        level0[sl] = read(sl)
    for _ in write_pyramid(group, order):
        pass


def n2n_attrs(path: str | Path) -> dict:
    """napari-n2n's attributes of the OME-Zarr group at ``path``.

    Parameters
    ----------
    path : str or pathlib.Path
        The group's folder.

    Returns
    -------
    dict
        Empty if there are none, or ``path`` is not a group.
    """
    zarr = _zarr()
    try:
        return dict(zarr.open_group(str(path), mode="r").attrs.get(ATTRS_KEY) or {})
    except Exception:  # not a group, not a store: nothing of ours
        return {}


def update_n2n_attrs(path: str | Path, **values) -> None:
    """Set napari-n2n's attributes of the group at ``path`` (merged with those there).

    Parameters
    ----------
    path : str or pathlib.Path
        The group's folder.
    **values
        The attributes to set.
    """
    group = _zarr("Writing OME-Zarr").open_group(str(path), mode="r+")
    group.attrs[ATTRS_KEY] = {**dict(group.attrs.get(ATTRS_KEY) or {}), **values}


class OmeZarrFormat:
    """``.ome.zarr`` / ``.zarr`` folders: OME-Zarr images (read lazily; written with a pyramid)."""

    name = "OME-Zarr"
    suffixes = (".ome.zarr", ".zarr")
    folder = True

    @staticmethod
    def sniff(path: Path) -> bool:
        """Whether ``path`` is an OME-Zarr image, whatever its name."""
        return _is_store(path)

    def read(self, path: Path) -> ImageData:
        """Read ``path`` (see :meth:`ImageFormat.read <napari_n2n.io.ImageFormat.read>`)."""
        if not path.is_dir():
            raise InputError(
                f"{path} is a file, but a zarr store is a folder. Give the folder of the OME-Zarr image."
            )
        return read_ome_zarr(path)

    def write(
        self,
        path: Path,
        data,
        *,
        axes: str | None = None,
        pixel_size: dict | None = None,
        unit: str | None = None,
        translation: dict | None = None,
        frame_interval: float | None = None,
        **_,
    ) -> None:
        """Write ``data`` to ``path`` (see :meth:`ImageFormat.write <napari_n2n.io.ImageFormat.write>`)."""
        write_ome_zarr(
            path,
            data,
            axes=axes,
            pixel_size=pixel_size,
            unit=unit,
            translation=translation,
            frame_interval=frame_interval,
        )
