"""What the widgets do with BioImage Model Zoo packages: open one (asking before package code runs), export one.

The dialogs live here; the work is :func:`napari_n2n.load_model` and
:func:`napari_n2n.bmz.export_bmz`. Export runs as a job of the widget (it runs bioimageio.core's
model test, seconds to a minute), so the viewer stays responsive.
"""

from __future__ import annotations

import re
from pathlib import Path

#: file-dialog filters of the model files the Denoise widget opens
OPEN_FILTER = (
    "Models (*.n2n *.zip);;napari-n2n models (*.n2n);;BioImage Model Zoo packages (*.zip);;"
    "All files (*)"
)
SAVE_FILTER = "BioImage Model Zoo packages (*.bioimageio.zip);;All files (*)"


def confirm_package_code(parent, message: str) -> bool:
    """Ask whether a Zoo package may run the Python code it names; ``message`` says which code."""
    from qtpy.QtWidgets import QMessageBox

    answer = QMessageBox.question(
        parent,
        "Run code from this package?",
        f"{message}\n\nRun it? Choose Yes only if you trust where the package comes from.",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
        QMessageBox.StandardButton.No,
    )
    return answer == QMessageBox.StandardButton.Yes


def open_model(path, ask) -> object:
    """A ``.n2n`` model or a Zoo package from ``path``; ``ask(message) -> bool`` before package code runs.

    Raises the project's errors (the caller reports them); ``None`` if the user declined.
    """
    from ...bmz._common import CodeConsentRequired
    from ...loading import load_model

    try:
        return load_model(path)
    except CodeConsentRequired as exc:
        if not ask(str(exc)):
            return None
        return load_model(path, allow_code=True)


def fitting_sample(denoiser, data, axes: str | None):
    """``(data, axes)`` if ``data`` can serve as the package's test image for ``denoiser``, else ``(None, None)``."""
    from ...core.axes import AxisView
    from ...core.errors import InputError

    if data is None:
        return None, None
    try:
        axes = denoiser.resolve_axes(data, axes if axes and len(axes) == data.ndim else None)
        view = AxisView(data, axes, denoiser.spatial_ndim)
    except InputError:
        return None, None
    if view.n_channels != denoiser.n_channels and denoiser.n_channels != 1:
        return None, None
    return data, axes


def export_job(denoiser, path, **options):
    """Generator for a widget job: export ``denoiser`` to ``path`` (see :func:`~napari_n2n.bmz.export_bmz`)."""
    from ...bmz import export_bmz

    yield (0, 1)
    path = export_bmz(denoiser, path, **options)
    yield (1, 1)
    return path


def ask_export_options(parent, model_name: str) -> dict | None:
    """Ask for the package's file, name, authors, description and weights; ``None`` if cancelled."""
    from magicgui.widgets import request_values
    from qtpy.QtWidgets import QFileDialog

    from ...bmz._common import has_onnx_export
    from ...bmz._describe import sanitize_name

    values = request_values(
        title="Export to BioImage Model Zoo",
        name={"value": sanitize_name(model_name), "annotation": str, "label": "name"},
        authors={"value": "", "annotation": str, "label": "authors (comma-separated)"},
        description={"value": "", "annotation": str, "label": "description"},
        torchscript={
            "value": True,
            "annotation": bool,
            "label": "TorchScript weights (deepImageJ, QuPath)",
        },
        onnx={"value": has_onnx_export(), "annotation": bool, "label": "ONNX weights"},
        parent=parent,
    )
    if not values:
        return None
    default = re.sub(r"[^\w.-]+", "-", values["name"]).strip("-")[:60] + ".bioimageio.zip"
    path, _filter = QFileDialog.getSaveFileName(
        parent, "Export to BioImage Model Zoo", default, SAVE_FILTER
    )
    if not path:
        return None
    if not path.lower().endswith(".zip"):
        path += ".bioimageio.zip"
    authors = [a.strip() for a in values["authors"].split(",") if a.strip()]
    return {
        "path": Path(path),
        "name": values["name"],
        "authors": authors,
        "description": values["description"] or None,
        "torchscript": values["torchscript"],
        "onnx": values["onnx"],
    }
