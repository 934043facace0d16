"""Translate between napari layers and the core: checks, names, placement, metadata.

Every check raises :class:`~napari_n2n.core.errors.InputError` with a message that says what to
do; the widgets show it as a notification. Nothing here imports torch.
"""

from __future__ import annotations

import numpy as np

from ..core.checks import require_finite, require_not_empty, require_numeric, require_varying
from ..core.errors import InputError

#: key of the layer metadata written by napari-n2n (partner layer, clean layer, axes, noise, mode)
META_KEY = "napari_n2n"


# ---- choices ---------------------------------------------------------------------------------
def image_layers(viewer) -> list:
    """The viewer's Image layers (Labels, Points, Shapes, ... are not offered)."""
    from napari.layers import Image

    return [layer for layer in viewer.layers if isinstance(layer, Image)]


#: roles napari-n2n gives layers that are not noisy data: never offered first to train on or
#: denoise, nor followed when added (the results, previews and Denoise's uncertainty maps)
NOT_NOISY = ("clean", "preview", "denoised", "A/B disagreement", "residual")
#: roles of the first layer of a pair (the input side)
FIRST_OF_PAIR = ("noisy A", "frames t")
#: roles of the layers of a pair: noisy data, never offered as a clean reference
PAIR_ROLES = ("noisy A", "noisy B", "frames t", "frames t+1")


def marked_noisy(layer) -> bool:
    """Whether napari-n2n knows ``layer`` is noisy (a layer of a pair, or marked for single-image training)."""
    meta = n2n_meta(layer)
    return meta.get("role") in PAIR_ROLES or meta.get("mode") == "nb2nb"


def is_noisy(layer) -> bool:
    """Whether ``layer`` may be offered first as noisy data (an Image not marked clean, preview or denoised)."""
    from napari.layers import Image

    return isinstance(layer, Image) and n2n_meta(layer).get("role") not in NOT_NOISY


def preferred_noisy(viewer, *, prefer=(), exclude=(), min_ndim: int = 2):
    """The layer a widget offers first as noisy data, or ``None``.

    In order: the layer selected in the layer list, then the layers in ``prefer`` (e.g. the
    one last trained on), then the first layer of a pair (``noisy A``, ``frames t``), then any
    other noisy image, newest first. Layers marked as a clean reference (the samples' and Noisy
    pairs' ``role: clean``), previews and results are never chosen, nor those in ``exclude``
    or with fewer than ``min_ndim`` dimensions.
    """

    def ok(layer) -> bool:
        return (
            layer is not None
            and layer in viewer.layers
            and is_noisy(layer)
            and layer not in exclude
            and getattr(layer.data, "ndim", 0) >= min_ndim
        )

    active = viewer.layers.selection.active
    newest = list(viewer.layers)[::-1]
    firsts = [layer for layer in newest if n2n_meta(layer).get("role") in FIRST_OF_PAIR]
    for layer in [active, *prefer, *firsts, *newest]:
        if ok(layer):
            return layer
    return None


def data_shape(layer) -> tuple[int, ...] | None:
    """The shape of ``layer``'s full-resolution data (``None`` for no layer)."""
    if layer is None:
        return None
    data = layer.data[0] if getattr(layer, "multiscale", False) else layer.data
    return tuple(int(n) for n in getattr(data, "shape", ()))


def fits(reference, layer) -> bool:
    """Whether ``reference`` can stand beside ``layer`` pixel for pixel (same shape, another layer)."""
    return (
        reference is not None
        and layer is not None
        and reference is not layer
        and data_shape(reference) == data_shape(layer)
    )


def layer_choices(viewer, *, none_label: str | None = None) -> list[tuple[str, object]]:
    """``(name, layer)`` choices for a ComboBox, optionally led by ``(none_label, None)``."""
    choices = [(layer.name, layer) for layer in image_layers(viewer)]
    if none_label is not None:
        choices.insert(0, (none_label, None))
    return choices


def compact(*combos, chars: int = 18) -> None:
    """Keep long layer or model names from widening the dock: ComboBoxes size to ``chars`` characters."""
    from qtpy.QtWidgets import QComboBox

    for combo in combos:
        native = combo.native
        native.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        native.setMinimumContentsLength(chars)


def short(name: str, limit: int = 40) -> str:
    """``name`` cut to ``limit`` characters with an ellipsis in the middle."""
    if len(name) <= limit:
        return name
    half = (limit - 1) // 2
    return f"{name[:half]}…{name[-(limit - 1 - half) :]}"


# ---- checks ----------------------------------------------------------------------------------
def image_data(layer, role: str = "image", *, check_values: bool = False):
    """The data of an Image ``layer`` usable as ``role``; raise :class:`InputError` otherwise.

    Rejects: no layer, non-Image layers (labels, points, shapes, ...), RGB, empty and
    non-numeric data. With ``check_values``, also NaN/Inf and constant in-memory data (lazy
    arrays are checked by the core while it reads them). Of a multiscale (pyramid) layer, as
    napari-ome-zarr opens OME-Zarr images, the full-resolution level is returned, as it is
    (a dask or zarr array stays lazy).
    """
    from napari.layers import Image

    if layer is None:
        raise InputError(
            f"Choose the {role} layer first (open an image, or File → Open Sample → napari-n2n for an example)."
        )
    if not isinstance(layer, Image):
        kind = type(layer).__name__
        raise InputError(
            f"Layer '{layer.name}' is a {kind} layer, but the {role} must be an Image layer. "
            "Choose an image layer (labels, points and shapes cannot be denoised)."
        )
    if layer.rgb:
        raise InputError(
            f"Layer '{layer.name}' is an RGB(A) image. Denoise each colour separately: right-click the layer → "
            "Split RGB, then choose one of the channel layers."
        )
    data = layer.data[0] if layer.multiscale else layer.data
    name = f"layer '{layer.name}'"
    require_not_empty(data, name)
    require_numeric(data, name)
    if data.ndim < 2:
        raise InputError(f"Layer '{layer.name}' is {data.ndim}D; an image needs at least Y and X.")
    if check_values and isinstance(data, np.ndarray):
        require_finite(data, name)
        require_varying(data, name)
    return data


def parse_axes(text: str | None) -> str | None:
    """The axes typed by the user (``""``/``"auto"`` → ``None``), upper case, validated by the core."""
    text = (text or "").strip()
    if not text or text.lower() == "auto":
        return None
    from ..core.axes import validate_axes

    return validate_axes(text)


#: napari axis labels (lower case) that name one of napari-n2n's axes
AXIS_LABELS = {
    "t": "T",
    "time": "T",
    "z": "Z",
    "y": "Y",
    "x": "X",
    "c": "C",
    "ch": "C",
    "channel": "C",
    "channels": "C",
    "s": "S",
    "sample": "S",
    "samples": "S",
}


def known_axes(layer) -> tuple[str | None, str]:
    """The axes of ``layer``'s data where something says which, and what says so.

    Returns ``(axes, source)``: axes recorded by napari-n2n (``"napari-n2n"``), named by
    napari's ``layer.axis_labels`` (``"axis labels"``, e.g. ``("t", "y", "x")`` → ``TYX``), or
    unambiguous (``"2D"``: ``YX``); ``(None, "")`` when nothing says (any 3D or larger array
    without such metadata: the caller must show its guess).
    """
    from ..core.axes import validate_axes
    from ..core.errors import InputError

    if layer is None:
        return None, ""
    ndim = layer.data.ndim
    recorded = n2n_meta(layer).get("axes")
    if isinstance(recorded, str) and len(recorded) == ndim:
        return recorded, "napari-n2n"
    labels = [str(v).strip().lower() for v in (getattr(layer, "axis_labels", None) or ())]
    if len(labels) == ndim and all(v in AXIS_LABELS for v in labels):
        try:
            return validate_axes("".join(AXIS_LABELS[v] for v in labels), ndim), "axis labels"
        except InputError:
            pass
    if ndim == 2:
        return "YX", "2D"
    return None, ""


def axes_for(layer, typed: str | None) -> str | None:
    """The axes of ``layer``'s data: those typed by the user, else those its metadata gives (:func:`known_axes`)."""
    return typed or known_axes(layer)[0]


# ---- metadata ----------------------------------------------------------------------------------
def n2n_meta(layer) -> dict:
    """What napari-n2n recorded about ``layer`` (partner, clean, axes, noise, mode); ``{}`` if nothing."""
    if layer is None:
        return {}
    meta = getattr(layer, "metadata", None) or {}
    value = meta.get(META_KEY)
    return dict(value) if isinstance(value, dict) else {}


def n2n_metadata(**values) -> dict:
    """``metadata=`` for a new layer holding ``values`` as its napari-n2n metadata (``None`` values dropped).

    Give it when the layer is added, so the widgets that react to the new layer already see it.
    """
    return {META_KEY: {k: v for k, v in values.items() if v is not None}}


def set_n2n_meta(layer, **values) -> None:
    """Merge ``values`` into the napari-n2n metadata of ``layer`` (other metadata is kept)."""
    meta = dict(layer.metadata or {})
    merged = {**n2n_meta(layer), **{k: v for k, v in values.items() if v is not None}}
    meta[META_KEY] = merged
    layer.metadata = meta


def find_layer(viewer, name: str | None):
    """The layer called ``name`` if it is still in the viewer, else ``None``."""
    if not name:
        return None
    for layer in viewer.layers:
        if layer.name == name:
            return layer
    return None


# ---- new layers ------------------------------------------------------------------------------
def unique_name(viewer, base: str) -> str:
    """``base``, or ``base [2]``, ``base [3]``, ... so no existing layer is replaced."""
    taken = {layer.name for layer in viewer.layers}
    name = base
    i = 2
    while name in taken:
        name, i = f"{base} [{i}]", i + 1
    return name


def placement(layer) -> dict:
    """``scale``, ``translate`` and ``affine`` (and units/axis labels where napari has them) of ``layer``.

    The affine is the one napari-ome-zarr and other readers set for what scale and translate
    cannot say (a rotation, a shear, a NIfTI orientation); copied, it places a result exactly on
    its source.
    """
    kwargs = {
        "scale": tuple(layer.scale),
        "translate": tuple(layer.translate),
        "affine": np.array(layer.affine.affine_matrix),
    }
    for attr in ("units", "axis_labels"):
        value = getattr(layer, attr, None)
        if value is not None:
            kwargs[attr] = tuple(value)
    return kwargs


def robust_limits(
    data, *, low: float = 0.2, high: float = 99.8, max_values: int = 1_000_000
) -> tuple[float, float]:
    """Contrast limits from percentiles of ``data`` (subsampled when large); never empty."""
    arr = np.asarray(data)
    flat = arr.reshape(-1)
    if flat.size > max_values:
        flat = flat[:: int(np.ceil(flat.size / max_values))]
    flat = flat[np.isfinite(flat)] if flat.dtype.kind == "f" else flat
    if flat.size == 0:
        return 0.0, 1.0
    lo, hi = (float(v) for v in np.percentile(flat, (low, high)))
    if not hi > lo:
        lo = float(flat.min())
        hi = float(flat.max())
    if not hi > lo:
        hi = lo + 1.0
    return lo, hi


# ---- the visible region -----------------------------------------------------------------------
def visible_region(
    viewer, layer, keep: str, *, max_size: dict[str, int]
) -> tuple[tuple, tuple[int, ...]]:
    """Index of the part of ``layer`` visible in ``viewer``, for the axes in ``keep``.

    ``keep`` is the layer's axes string with the axes to keep whole or cropped marked by their
    letters; every other axis is taken at the viewer's current position (one index, kept as a
    length-1 slice so the region has the layer's dimensions). Spatial axes (``Z``, ``Y``,
    ``X``) are cropped to what the canvas shows, at most ``max_size[letter]`` around its centre;
    ``C`` is kept whole.

    Returns ``(index, start)``: the index into ``layer.data`` and the start of each axis.
    """
    data = layer.data
    ndim = data.ndim
    shape = tuple(int(s) for s in data.shape)
    scale = np.asarray(layer.scale, dtype=float)
    translate = np.asarray(layer.translate, dtype=float)
    point = np.asarray(viewer.dims.point, dtype=float)[-ndim:]
    position = np.rint((point - translate) / np.where(scale == 0, 1, scale)).astype(int)
    displayed = {d - (viewer.dims.ndim - ndim) for d in viewer.dims.displayed}
    corners = np.asarray(getattr(layer, "corner_pixels", np.zeros((2, ndim))), dtype=int)
    index = []
    start = []
    for d, letter in enumerate(keep):
        size = shape[d]
        if letter == "C":
            index.append(slice(0, size))
            start.append(0)
            continue
        if letter not in "ZYX":  # a sample axis: the current frame only
            i = int(np.clip(position[d], 0, size - 1))
            index.append(slice(i, i + 1))
            start.append(i)
            continue
        lo = 0
        hi = size
        if d in displayed and corners.shape == (2, ndim) and corners[1, d] > corners[0, d]:
            lo = int(np.clip(corners[0, d], 0, size))
            hi = int(np.clip(corners[1, d] + 1, 0, size))
        centre = (lo + hi) // 2 if d in displayed else int(np.clip(position[d], 0, size - 1))
        want = min(max_size.get(letter, size), size)
        if d in displayed:  # what the canvas shows, but not less than the network needs to see
            want = min(want, max(hi - lo, min(64, size)))
        s0 = int(np.clip(centre - want // 2, 0, size - want))
        index.append(slice(s0, s0 + want))
        start.append(s0)
    return tuple(index), tuple(start)


# ---- the data a run starts with ------------------------------------------------------------
#: in-memory layers up to this share of the available memory are copied when a run starts
COPY_SHARE = 0.5


def _available_bytes() -> int | None:
    """Memory available to this process, where the system says (Linux, macOS); else ``None``."""
    import os

    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


class Snapshot:
    """The data of a layer as a run starts with it, kept whatever the layer does meanwhile.

    An in-memory numpy array is copied (when it takes at most :data:`COPY_SHARE` of the available
    memory), so editing the layer's data in place, or replacing it, changes nothing for the run.
    A larger array is not copied; a fingerprint of it (a sample of its values) is kept instead,
    and :meth:`edited` tells whether it changed. Lazy arrays (dask, zarr) are kept as they are:
    they are read, not edited, and replacing the layer's data does not change them.
    """

    def __init__(self, data):
        self.source = data
        self.copied = False
        self._fingerprint = None
        if type(data) is np.ndarray:
            available = _available_bytes()
            if available is None or data.nbytes <= COPY_SHARE * available:
                self.data = data.copy()
                self.copied = True
                return
            self._fingerprint = self._sample(data)
        self.data = data

    @staticmethod
    def _sample(data: np.ndarray) -> bytes:
        step = max(1, data.size // 1_000_003)  # a prime count: rows and columns are all visited
        return data.flat[::step].tobytes()

    def edited(self) -> bool:
        """Whether an array that could not be copied has been changed in place since (sampled values)."""
        return self._fingerprint is not None and self._sample(self.source) != self._fingerprint

    def set_aside(self, current) -> bool:
        """Whether the copied array ``current`` was edited in place since the run started.

        Those edits are not used by the run (it trains on the copy). Every value is compared, a
        block at a time. Data replaced by another array are not counted here (the widget tells
        of a replacement when it happens).
        """
        if not self.copied or current is not self.source:
            return False
        flat_now = self.source.reshape(-1)
        flat_then = self.data.reshape(-1)
        block = 1 << 22
        return any(
            not np.array_equal(flat_now[i : i + block], flat_then[i : i + block], equal_nan=True)
            for i in range(0, flat_now.size, block)
        )


def central_plane(data, max_side: int = 1024) -> np.ndarray:
    """The central 2D plane of ``data`` (cropped to ``max_side``), as a small numpy array."""
    index = tuple(s // 2 for s in data.shape[:-2])
    ys, xs = data.shape[-2:]
    cy = max(0, (ys - max_side) // 2)
    cx = max(0, (xs - max_side) // 2)
    return np.asarray(data[index + (slice(cy, cy + max_side), slice(cx, cx + max_side))])


def noise_estimate(data) -> float | None:
    """Estimated Gaussian noise sigma of ``data`` (central plane), ``None`` if it cannot be estimated."""
    from ..core.data.noise import estimate_noise_sigma

    try:
        plane = central_plane(data).astype(np.float64)
        if not np.isfinite(plane).all():
            return None
        value = estimate_noise_sigma(plane)
    except Exception:
        return None
    return value if np.isfinite(value) else None


def fmt_sigma(value: float | None) -> str:
    """A noise level as shown in the widgets (``"n/a"`` when unknown)."""
    return "n/a" if value is None else f"{value:.3g}"
