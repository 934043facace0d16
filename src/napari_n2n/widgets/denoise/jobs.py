"""The Denoise widget's jobs: a prediction in memory, or into an OME-Zarr store on disk, and the
layer that shows a store lazily.

Writing to disk runs :func:`napari_n2n.ondisk.output.predict_to_zarr_iter`: the image is denoised chunk
by chunk into a hidden folder beside the output, renamed to the output only when complete, so
Cancel or an error never leaves a store at the output path that looks finished. A later run
to the same path with the same model and settings resumes the chunks that are missing. The
result is then opened as a multiscale layer over the store's levels, read on demand.
"""

from __future__ import annotations

import time
from pathlib import Path

from ...core.progress import relay
from .._layers import placement

#: how this widget's user starts over and finishes an OME-Zarr result (see OutputStateError.worded)
WORDING = {
    "overwrite": "choose another name, or delete it first",
    "resume": "denoise to the same file again with the same model",
}
#: napari unit names (pint's) → the short ones of napari-n2n's files
_UNITS = {
    "micrometer": "µm",
    "nanometer": "nm",
    "millimeter": "mm",
    "meter": "m",
    "centimeter": "cm",
}


class Request:
    """One denoising run: what to denoise, with which model, and where the result goes."""

    def __init__(self, layer, partner, entry, clean):
        self.layer = layer
        self.partner = partner
        self.entry = entry
        self.clean = clean
        self.name = layer.name
        # kept, so the result is placed right even if the layer goes
        self.placement = placement(layer)
        self.colormap = layer.colormap.name
        self.started_at = time.perf_counter()
        self.warning: str | None = None  # the out-of-distribution warning, if any
        # the OME-Zarr written to disk, and its axes
        self.output = None
        self.axes = None


def _warning(denoiser, image, axes):
    from ...core.inference.ood import check_image

    return check_image(denoiser, image, axes=axes)


def layer_metadata(layer, axes: str) -> dict:
    """Pixel size, unit and translation of ``layer``'s spatial axes, for the OME-Zarr it is written to."""
    units = getattr(layer, "units", None) or ()
    sizes = {}
    origin = {}
    unit = None
    for i, letter in enumerate(axes):
        if letter in "ZYX":
            sizes[letter], origin[letter] = float(layer.scale[i]), float(layer.translate[i])
            name = str(units[i]) if i < len(units) else ""
            unit = unit or _UNITS.get(name)
    return {
        "pixel_size": sizes,
        "unit": unit,
        "translation": {a: v for a, v in origin.items() if v},
    }


def to_disk_job(
    denoiser,
    image,
    output: str | Path,
    *,
    axes: str,
    tile=None,
    metadata: dict | None = None,
    overwrite: bool = False,
):
    """Generator: denoise ``image`` into the OME-Zarr ``output``, yielding ``(done, total)`` per mille;
    returns the output's path (``None`` if stopped)."""
    from ...core.errors import InputError, OutputStateError
    from ...core.inference.denoiser import Denoiser
    from ...core.inference.predict import PredictOptions
    from ...io import ImageData
    from ...ondisk.output import predict_to_zarr_iter

    if not isinstance(denoiser, Denoiser):
        raise InputError(
            "Writing to OME-Zarr on disk needs a napari-n2n model (.n2n); a BioImage Model Zoo package "
            "denoises in memory: uncheck 'write the result to an OME-Zarr on disk'."
        )
    warning = _warning(denoiser, image, axes)
    if warning:
        yield ("warning", warning)
    source = ImageData(image, axes=axes, **(metadata or {}))
    gen = predict_to_zarr_iter(
        denoiser,
        source,
        output,
        axes=axes,
        options=PredictOptions(tile=tile),
        resume=True,
        overwrite=overwrite,
    )
    try:
        return (yield from relay(gen, lambda ev: (int(1000 * ev.overall), 1000)))
    except OutputStateError as exc:
        # the core's advice is worded for Python callers; the widget names what its user does
        raise exc.worded(**WORDING) from exc


def disk_job(request, image, axes: str | None, *, output: Path, report):
    """``(job, args, options)`` writing ``request``'s image to the OME-Zarr ``output``; ``None`` (with a
    notification through ``report``) if the image's axes cannot be resolved."""
    request.output = output
    request.axes = axes = report(request.entry.denoiser.resolve_axes, image, axes)
    if axes is None:
        return None
    options = dict(
        axes=axes, metadata=layer_metadata(request.layer, axes), overwrite=Path(output).exists()
    )
    return to_disk_job, (request.entry.denoiser, image, output), options


def open_store(path: str | Path, axes: str):
    """The levels of the OME-Zarr image at ``path`` (read on demand), with ``axes`` as its dimensions."""
    import zarr

    from ...io.omezarr import ome_axes

    group = zarr.open_group(str(path), mode="r")
    levels = [group[d["path"]] for d in group.attrs["ome"]["multiscales"][0]["datasets"]]
    order = ome_axes(axes)
    if order != axes:  # stored in OME order: shown in the layer's own
        import dask.array as da

        perm = [order.index(a) for a in axes]
        levels = [da.from_zarr(level).transpose(perm) for level in levels]
    return levels


def ask_output(parent, suggestion: str) -> Path | None:
    """A save dialog for the OME-Zarr output (``None`` if cancelled); the name ends in ``.ome.zarr``."""
    from qtpy.QtWidgets import QFileDialog

    path, _ = QFileDialog.getSaveFileName(
        parent, "Write the denoised image to", suggestion, "OME-Zarr (*.ome.zarr)"
    )
    if not path:
        return None
    return Path(path if path.lower().endswith(".ome.zarr") else path + ".ome.zarr")
