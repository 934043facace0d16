"""Denoise: apply a trained model (from this session or a file) to an image layer.

The image is the layer selected in the layer list, else the one the newest model was trained
on (never a clean reference); its axes are shown, read from the layer or the model, or marked
as a guess (:mod:`._axes`). Before predicting, the image's intensities are compared with the
model's training data (:mod:`napari_n2n.core.inference.ood`): far outside them, a warning gives the
figures. Prediction is tiled (:meth:`napari_n2n.core.inference.denoiser.Denoiser.predict_iter`) and runs
in a thread worker with a progress bar and Cancel. The result is a new layer "<name> denoised"
placed like its source; when the image has a pair partner, the average of the predictions of A
and B is offered, on by default (lower error than either). *Advanced*: tile size, test-time
augmentation, uncertainty layers (:mod:`._tta`), and the result written chunk by chunk to an OME-Zarr
on disk and shown from it (:mod:`._predict_jobs`; multiscale layers are denoised at full resolution).
Unusable model files are notifications (:mod:`._model_io`); Zoo packages ask before their code runs;
**Export to BioImage Model Zoo…** writes one. Scripts call :meth:`start`, :meth:`stop`, ``wait``.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, ProgressBar, PushButton

from ...core.checks import require_same_shape
from ...core.errors import InputError
from .. import _notify as notify
from .._axes import AxesField
from .._base import StatusText, ViewerWidget, collapsible, on_choice, row, when_alive
from .._layers import (
    axes_for,
    compact,
    find_layer,
    image_data,
    is_noisy,
    layer_choices,
    n2n_meta,
    n2n_metadata,
    parse_axes,
    preferred_noisy,
    robust_limits,
    set_n2n_meta,
    unique_name,
)
from .._model_io import describe_model, load_model
from .._registry import MODELS
from .export import (
    OPEN_FILTER,
    ask_export_options,
    confirm_package_code,
    export_job,
    fitting_sample,
    open_model,
)
from .jobs import Request, ask_output, disk_job, open_store
from .maps import add_map_layers, denoise_job, split_result, uncertainty_fields

if TYPE_CHECKING:
    import napari

NONE_PARTNER = "none"
TILES = [("automatic", None), ("64", 64), ("128", 128), ("256", 256), ("512", 512), ("1024", 1024)]


class DenoiseWidget(ViewerWidget):
    """Denoise an image layer with a trained model; adds "<name> denoised"."""

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__(viewer)
        self.request: Request | None = None  # the current (or last) run
        self.last_layer = None
        self.map_layers: list = []  # the uncertainty layers of the last run
        self.model = ComboBox(label="model", choices=self._model_choices)
        self.load_button = PushButton(
            text="Load model file…", tooltip="A .n2n model or a BioImage Model Zoo package"
        )
        self.export_button = PushButton(
            text="Export to BioImage Model Zoo…",
            tooltip="Write the chosen model as a .bioimageio.zip package",
        )
        # one line (the whole description in the tooltip): the three docks share one screen
        self.model_info = StatusText(label="", value="", lines=1)
        self.image_layer = ComboBox(label="image", choices=self._image_choices)
        self.partner_layer = ComboBox(
            label="pair partner (B)",
            choices=self._partner_choices,
            tooltip="The second noisy copy of the same scene, if you have one",
        )
        self.average = CheckBox(text="average the predictions of A and B", value=True)
        self.axes = AxesField(
            tooltip="What the dimensions of the image are (a 2D model denoises Z, T or S "
            "slice by slice)"
        )
        self.tile = ComboBox(
            label="tile size",
            choices=TILES,
            value=None,
            tooltip="Smaller tiles use less memory; automatic suits most images",
        )
        self.to_disk = CheckBox(
            text="write the result to an OME-Zarr on disk",
            value=False,
            tooltip="For images larger than memory: denoised chunk by chunk into a file you "
            "choose, then shown from it",
        )
        #: where the next run writes when ``to_disk`` is checked (asked for when ``None``)
        self.disk_output: Path | None = None
        self.tta, self.maps, tta_row = uncertainty_fields()
        self.denoise_button = PushButton(text="Denoise")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.progress = ProgressBar(label="progress", value=0, min=0, max=1)
        # at most two lines: a long message is cut (whole in the tooltip), the dock stays on screen
        self.status = StatusText(label="", value="", lines=2)
        #: the fields of the form (disabled while denoising)
        self.settings = [
            self.model,
            self.load_button,
            self.export_button,
            self.image_layer,
            self.partner_layer,
            self.average,
            self.axes,
            self.tile,
            self.tta,
            self.maps,
            self.to_disk,
        ]
        buttons = row(self.denoise_button, self.cancel_button)
        files = row(self.load_button, self.export_button)
        self.extend(
            [
                self.model,
                files,
                self.model_info,
                self.image_layer,
                self.partner_layer,
                self.average,
                self.axes,
            ]
        )
        #: the collapsed "Advanced" section: tile size, test-time augmentation, uncertainty layers, output on disk
        self.advanced = collapsible(
            "Advanced", row(self.tile, tta_row, self.to_disk, layout="vertical", labels=True)
        )
        self.native.layout().addWidget(self.advanced)
        self.native.layout().addWidget(
            row(buttons, self.progress, self.status, layout="vertical", labels=True).native
        )
        self.add_help_link("denoise", buttons)
        compact(self.model, self.image_layer, self.partner_layer, self.tile, self.tta)
        on_choice(self.model, self._on_model_changed)
        self.image_layer.changed.connect(self._on_image_changed)
        on_choice(self.partner_layer, self._update_average)
        self.load_button.changed.connect(self._on_load_clicked)
        self.export_button.changed.connect(self._on_export_clicked)
        self.denoise_button.changed.connect(self.start)
        self.cancel_button.changed.connect(self.stop)
        MODELS.changed.connect(self._on_models_changed)
        self.reset_choices()
        self._choose_image(preferred_noisy(viewer, prefer=self._trained_on()))
        self._on_model_changed()
        self._on_image_changed()

    # ---- choices -----------------------------------------------------------------------------------
    def _model_choices(self, _widget=None):
        entries = MODELS.entries()
        if not entries:
            return [("(none yet: train one, or load a file)", None)]
        return [(e.name, e) for e in entries]

    def _image_choices(self, _widget=None):
        return layer_choices(self._viewer)

    def _partner_choices(self, _widget=None):
        return layer_choices(self._viewer, none_label=NONE_PARTNER)

    def _trained_on(self) -> list:
        latest = MODELS.latest()
        layer = latest.trained_on if latest is not None else None
        return [layer] if layer is not None else []

    def _choose_image(self, layer) -> None:
        if layer is not None and layer in self.image_layer.choices:
            self.image_layer.value = layer

    def on_layer_inserted(self, layer) -> None:
        if layer.name == n2n_meta(self.image_layer.value).get("partner"):
            self._on_image_changed()  # the image's partner has just been added

    def on_layer_selected(self, layer) -> None:
        """Follow the layer selected in the layer list (noisy images only)."""
        if is_noisy(layer) and layer != self.image_layer.value:
            self._choose_image(layer)

    @when_alive
    def _on_models_changed(self) -> None:
        """A model was added: offer it, choose the newest, and the layer it was trained on."""
        self.model.reset_choices()
        latest = MODELS.latest()
        if latest is not None:
            self.model.value = latest
            if not self.busy:
                self._choose_image(latest.trained_on)

    # ---- reactions -----------------------------------------------------------------------------------
    def _on_model_changed(self, _=None) -> None:
        entry = self.model.value
        self.export_button.enabled = (
            entry is not None and _exportable(entry.denoiser) and not self.busy
        )
        if entry is None:
            self.model_info.value = ""
            return
        summary = describe_model(entry)
        where = f" · file {Path(entry.path).name}" if entry.path else ""
        self.model_info.value = summary + where
        self.model_info.tooltip = summary + (f"\n{entry.path}" if entry.path else "")
        if self.axes.source in ("guess", "model", ""):
            self._update_axes()

    def _on_image_changed(self, _=None) -> None:
        """Offer the image's pair partner (from Noisy pairs) for the averaged prediction; show its axes."""
        layer = self.image_layer.value
        partner = find_layer(self._viewer, n2n_meta(layer).get("partner"))
        self.partner_layer.value = partner
        self._update_average()
        self._update_axes()

    def _update_axes(self) -> None:
        entry = self.model.value
        self.axes.set_layer(
            self.image_layer.value,
            fallback=getattr(entry.denoiser, "axes", None) if entry else None,
        )

    def _update_average(self, _=None) -> None:
        self.average.visible = self.partner_layer.value is not None

    # ---- actions -----------------------------------------------------------------------------------
    def _on_load_clicked(self, _=None):
        from qtpy.QtWidgets import QFileDialog

        path, _filter = QFileDialog.getOpenFileName(self.native, "Load a model", "", OPEN_FILTER)
        return self.load_model(path) if path else None

    def load_model(self, path, *, allow_code: bool | None = None):
        """Load a ``.n2n`` file or a Zoo package into the session's models and choose it.

        ``allow_code``: whether a Zoo package may run the Python code it names; ``None`` asks
        the user when it would. Returns the entry, or ``None`` (a notification, or declined):
        a bad file is never a traceback, nor added to the list (see :mod:`._model_io`).
        """

        def ask(message: str) -> bool:
            return confirm_package_code(self.native, message) if allow_code is None else allow_code

        loaded = load_model(path, lambda p: open_model(p, ask))
        if loaded is None:
            return None
        denoiser, summary = loaded
        entry = MODELS.add(denoiser, Path(path).name, source="file", path=str(path))
        self.model.value = entry
        notify.info(f"Loaded {Path(path).name}: {summary}")
        return entry

    def _on_export_clicked(self, _=None):
        entry = self.model.value
        if entry is None or not _exportable(entry.denoiser):
            return None
        options = ask_export_options(self.native, entry.name)
        # the dialog asked to replace
        return self.export_model(**options, overwrite=True) if options else None

    def export_model(
        self,
        path,
        *,
        name: str | None = None,
        authors=(),
        description: str | None = None,
        torchscript: bool = True,
        onnx: bool = False,
        overwrite: bool = False,
    ):
        """Export the chosen model to a Zoo package at ``path`` as a job (bioimageio.core tests it first).

        The image layer chosen for denoising, if any, gives the package's test image and cover.
        Returns the job, or ``None`` with a notification.
        """
        entry = self.model.value
        if self.busy:
            notify.warning("Wait for the running work to finish, or cancel it, before exporting.")
            return None
        if entry is None or not _exportable(entry.denoiser):
            notify.error(
                "Choose a model trained or saved by napari-n2n to export; a BioImage Model Zoo package "
                "is one already."
            )
            return None
        layer = self.image_layer.value
        data = None if layer is None else self.report(image_data, layer, "image", check_values=True)
        sample, axes = fitting_sample(
            entry.denoiser,
            data,
            parse_axes(self.axes.value) or (axes_for(layer, None) if layer is not None else None),
        )
        self._set_running(True)
        self.progress.value = 0
        self.progress.max = 1000
        self.status.value = (
            f"Exporting '{entry.name}' to {Path(path).name} (with bioimageio.core's model test)…"
        )
        return self.start_job(
            export_job,
            entry.denoiser,
            path,
            name=name or entry.name,
            authors=authors,
            description=description,
            torchscript=torchscript,
            onnx=onnx,
            sample=sample,
            sample_axes=axes,
            overwrite=overwrite,
            what="Export",
            on_yielded=self._on_progress,
            on_returned=self._on_exported,
            on_finished=self._on_finished,
        )

    @when_alive
    def _on_exported(self, path) -> None:
        text = f"Exported {Path(path).name} ({Path(path).stat().st_size / 2**20:.1f} MiB; passed bioimageio.core's model test)"
        self.status.value = text
        notify.info(text)

    def start(self, _=None) -> Request | None:
        """Denoise the chosen image (or pair) with the chosen model; ``None`` and a notification on errors."""
        if self.busy:
            notify.warning("Denoising is already running. Press Cancel or wait for it to finish.")
            return None
        prepared = self.report(self._prepare)
        if prepared is None:
            return None
        request, images, axes = prepared
        job = denoise_job
        args = (request.entry.denoiser, images)
        options = dict(
            axes=axes,
            tta=int(self.tta.value),
            maps=bool(self.maps.value),
            scored=request.clean is not None,
        )
        if self.to_disk.value:  # chunk by chunk into an OME-Zarr store, then shown from it
            output = self.disk_output or ask_output(
                self.native, f"{request.name} denoised.ome.zarr"
            )
            planned = output and disk_job(
                request, images[0], axes, output=output, report=self.report
            )
            if not planned:
                return None
            job, args, options = planned
        self.request = request
        self._set_running(True)
        self.progress.value = 0
        self.progress.max = 1000
        self.status.value = (
            f"Denoising '{request.name}'"
            + (f" and '{request.partner.name}' (averaged)" if request.partner else "")
            + (f" into {Path(request.output).name}" if request.output else "")
        )
        self.start_job(
            job,
            *args,
            tile=self.tile.value,
            what="Denoising",
            on_yielded=self._on_progress,
            on_returned=self._on_returned,
            on_aborted=self._on_aborted,
            on_finished=self._on_finished,
            **options,
        )
        return request

    def stop(self, _=None) -> None:
        """Cancel the running denoising (no layer is added)."""
        if not self.busy:
            return
        self.job.quit()
        self.cancel_button.enabled = False
        self.status.value = "Cancelling…"

    def _prepare(self):
        entry = self.model.value
        if entry is None:
            raise InputError(
                "No model yet: train one with Train Noise2Noise, or press 'Load model file…'."
            )
        layer = self.image_layer.value
        data = image_data(layer, "image", check_values=True)
        partner = self.partner_layer.value if self.average.value else None
        if self.to_disk.value and (partner is not None or self.tta.value > 1 or self.maps.value):
            raise InputError(
                "Averaging a pair, test-time augmentation and uncertainty layers work in memory: uncheck "
                "'write the result to an OME-Zarr on disk', or turn them off (partner 'none')."
            )
        images = [data]
        if partner is not None:
            if partner == layer:
                raise InputError(
                    f"The pair partner is the image itself ('{layer.name}'). Choose the other noisy copy, "
                    "or partner 'none'."
                )
            images.append(image_data(partner, "pair partner", check_values=True))
            require_same_shape(
                data, images[1], names=(f"layer '{layer.name}'", f"its partner '{partner.name}'")
            )
        axes = parse_axes(self.axes.value)
        request = Request(
            layer, partner, entry, clean=find_layer(self._viewer, n2n_meta(layer).get("clean"))
        )
        return request, images, axes

    # ---- worker slots (main thread) -----------------------------------------------------------------
    @when_alive
    def _on_progress(self, value) -> None:
        if value[0] == "warning":
            self.request.warning = value[1]
            notify.warning(value[1])
            return
        done, total = value
        self.progress.value = int(1000 * done / max(total, 1))

    @when_alive
    def _on_returned(self, result) -> None:

        from ...core.metrics import psnr

        request = self.request
        averaged = request.partner is not None
        result, maps = split_result(result, request.layer.data, maps=bool(self.maps.value))
        base = f"{request.name} denoised" + (" (A+B averaged)" if averaged else "")
        if request.output is not None:  # the store on disk, read on demand, level by level
            result = open_store(result, request.axes)
        layer = self._viewer.add_image(
            result,
            name=unique_name(self._viewer, base),
            multiscale=request.output is not None,
            contrast_limits=robust_limits(result[-1] if request.output else result),
            colormap=request.colormap,
            metadata=n2n_metadata(
                role="denoised",
                source=request.name,
                model=request.entry.name,
                partner_averaged=request.partner.name if averaged else None,
            ),
            **request.placement,
        )
        self.last_layer = layer
        self.map_layers = add_map_layers(
            self._viewer,
            maps,
            source=request.name,
            model=request.entry.name,
            placement=request.placement,
        )
        text = f"Added '{layer.name}' ({time.perf_counter() - request.started_at:.1f} s)"
        if request.output is not None:  # the result is a store on disk: say where
            text += f" · saved to {request.output}"
        if request.warning:
            text += " · ⚠ far from the model's training data (see the warning)"
        clean = request.clean
        if (
            clean is not None
            and clean in self._viewer.layers
            and tuple(clean.data.shape) == tuple(result.shape)
            and request.output is None
        ):
            ref = np.asarray(clean.data)
            noisy_db = psnr(ref, np.asarray(request.layer.data))
            den_db = psnr(ref, result)
            text += f" · PSNR vs '{clean.name}': {noisy_db:.2f} → {den_db:.2f} dB"
            set_n2n_meta(layer, psnr=den_db, psnr_noisy=noisy_db)
        self.status.value = text
        notify.info(text)

    @when_alive
    def _on_aborted(self) -> None:
        output = self.request.output if self.request else None
        kept = (
            f" Nothing is at {Path(output).name}: a run to it with this model resumes the chunks written."
            if output
            else ""
        )
        self.status.value = "Cancelled; no layer was added." + kept
        notify.info("Denoising cancelled; no layer was added." + kept)

    @when_alive
    def _on_finished(self) -> None:
        self._set_running(False)

    def _set_running(self, running: bool) -> None:
        for w in self.settings:
            w.enabled = not running
        self.denoise_button.enabled = not running
        self.cancel_button.enabled = running
        entry = self.model.value
        self.export_button.enabled = (
            not running and entry is not None and _exportable(entry.denoiser)
        )

    def teardown(self) -> None:
        try:
            MODELS.changed.disconnect(self._on_models_changed)
        except (TypeError, ValueError, RuntimeError):
            pass
        super().teardown()


def _exportable(model) -> bool:
    """Whether ``model`` can be exported: a napari-n2n Denoiser (a Zoo package is one already)."""
    from ...core.inference.denoiser import Denoiser

    return isinstance(model, Denoiser)
