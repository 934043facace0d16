"""Denoise: apply a trained model (from this session or a file) to an image layer.

Prediction is tiled (:meth:`napari_n2n.core.denoiser.Denoiser.predict_iter`) and runs in a
napari thread worker with a progress bar and Cancel. The result is a new layer
"<name> denoised" placed like its source; when the image has a pair partner, the average of the
predictions of A and B is offered (it has lower error than either).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, Label, LineEdit, ProgressBar, PushButton

from ..core.errors import InputError, N2NError
from ._layers import (
    compact,
    find_layer,
    image_data,
    layer_choices,
    n2n_meta,
    parse_axes,
    placement,
    robust_limits,
    set_n2n_meta,
    unique_name,
)
from ._state import MODELS
from ._worker import hold_gc, start_worker

if TYPE_CHECKING:
    import napari

NONE_PARTNER = "none"
TILES = [("automatic", None), ("64", 64), ("128", 128), ("256", 256), ("512", 512), ("1024", 1024)]


def denoise_job(denoiser, images: list, *, axes: str | None = None, tile=None):
    """Generator: denoise one image, or the pair ``images`` (averaged), yielding ``(done, total)`` tiles."""
    gen = denoiser.predict_iter(images[0], axes=axes, tile=tile) if len(images) == 1 else \
        denoiser.predict_pair_iter(images[0], images[1], axes=axes, tile=tile)
    while True:
        try:
            progress = next(gen)
        except StopIteration as stop:
            return stop.value
        yield (progress.done, progress.total)


class _Job:
    """One denoising run: what to denoise, with which model, and where the result goes."""

    def __init__(self, layer, partner, entry, clean):
        self.layer, self.partner, self.entry, self.clean = layer, partner, entry, clean
        self.name = layer.name
        self.placement = placement(layer)  # kept, so the result is placed right even if the layer goes
        self.colormap = layer.colormap.name
        self.worker = None
        self.started_at = time.perf_counter()
        self.release_gc = lambda: None


class DenoiseWidget(Container):
    """Denoise an image layer with a trained model; adds "<name> denoised"."""

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__(labels=True)
        self._viewer = viewer
        self._job: _Job | None = None
        self._closed = False
        self.last_layer = None
        self.model = ComboBox(label="model", choices=self._model_choices)
        self.load_button = PushButton(text="Load model file…")
        self.model_info = Label(label="", value="")
        self.image_layer = ComboBox(label="image", choices=self._image_choices)
        self.partner_layer = ComboBox(label="pair partner (B)", choices=self._partner_choices,
                                      tooltip="The second noisy copy of the same scene, if you have one")
        self.average = CheckBox(text="average the predictions of A and B", value=True)
        self.axes = LineEdit(label="axes", value="", tooltip="Axes of the image, e.g. YX, ZYX, TYX, CYX. Empty: "
                             "the model's training axes when they fit, else 2D → YX, 3D → ZYX")
        self.tile = ComboBox(label="tile size", choices=TILES, value=None,
                             tooltip="Smaller tiles use less memory; automatic suits most images")
        self.denoise_button = PushButton(text="Denoise")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.progress = ProgressBar(label="progress", value=0, min=0, max=1)
        self.status = Label(label="", value="")
        self.status.native.setWordWrap(True)
        self.model_info.native.setWordWrap(True)
        self._settings = [self.model, self.load_button, self.image_layer, self.partner_layer, self.average,
                          self.axes, self.tile]
        buttons = Container(widgets=[self.denoise_button, self.cancel_button], layout="horizontal", labels=False)
        buttons.margins = (0, 0, 0, 0)
        self.extend([self.model, self.load_button, self.model_info, self.image_layer, self.partner_layer,
                     self.average, self.axes, self.tile, buttons, self.progress, self.status])
        compact(self.model, self.image_layer, self.partner_layer, self.tile)
        self.model.changed.connect(self._on_model_changed)
        self.image_layer.changed.connect(self._on_image_changed)
        self.partner_layer.changed.connect(self._update_average)
        self.load_button.changed.connect(self._on_load_clicked)
        self.denoise_button.changed.connect(self._on_denoise_clicked)
        self.cancel_button.changed.connect(self._on_cancel_clicked)
        for event in ("inserted", "removed", "reordered"):
            getattr(viewer.layers.events, event).connect(self._reset_choices)
        MODELS.changed.connect(self._on_models_changed)
        self.native.destroyed.connect(self._destroyed_hook())
        self.reset_choices()
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

    def _reset_choices(self, event=None) -> None:
        if self._closed:
            return
        try:
            self.reset_choices()
            added = getattr(event, "value", None) if getattr(event, "type", "") == "inserted" else None
            if added is not None and added.name == n2n_meta(self.image_layer.value).get("partner"):
                self._on_image_changed()  # the image's partner has just been added
        except RuntimeError:  # the Qt widgets are gone (viewer closed)
            self._closed = True

    def _on_models_changed(self) -> None:
        """A model was added: offer it, and choose the newest."""
        if self._closed:
            return
        try:
            self.model.reset_choices()
            latest = MODELS.latest()
            if latest is not None:
                self.model.value = latest
        except RuntimeError:
            self._closed = True

    # ---- reactions -----------------------------------------------------------------------------------
    def _on_model_changed(self, _=None) -> None:
        entry = self.model.value
        if entry is None:
            self.model_info.value = ""
            return
        where = f" · file {Path(entry.path).name}" if entry.path else ""
        self.model_info.value = entry.denoiser.summary() + where
        self.model_info.tooltip = entry.denoiser.summary() + (f"\n{entry.path}" if entry.path else "")

    def _on_image_changed(self, _=None) -> None:
        """Offer the image's pair partner (from Noisy pairs) for the averaged prediction."""
        layer = self.image_layer.value
        partner = find_layer(self._viewer, n2n_meta(layer).get("partner"))
        self.partner_layer.value = partner
        self._update_average()

    def _update_average(self, _=None) -> None:
        self.average.visible = self.partner_layer.value is not None

    # ---- actions -----------------------------------------------------------------------------------
    def _on_load_clicked(self, _=None):
        from qtpy.QtWidgets import QFileDialog

        path, _filter = QFileDialog.getOpenFileName(self.native, "Load napari-n2n model", "",
                                                    "napari-n2n models (*.n2n);;All files (*)")
        return self.load_model(path) if path else None

    def load_model(self, path):
        """Load a ``.n2n`` file into the session's models and choose it; return the entry (or ``None``)."""
        from napari.utils.notifications import show_error, show_info

        from ..core.denoiser import Denoiser

        try:
            denoiser = Denoiser.load(path)
        except N2NError as exc:
            show_error(str(exc))
            return None
        entry = MODELS.add(denoiser, Path(path).name, source="file", path=str(path))
        self.model.value = entry
        show_info(f"Loaded {Path(path).name}: {denoiser.summary()}")
        return entry

    def _on_denoise_clicked(self, _=None) -> None:
        from napari.utils.notifications import show_error, show_warning

        if self._job is not None:
            show_warning("Denoising is already running. Press Cancel or wait for it to finish.")
            return
        try:
            job, images, axes = self._prepare()
        except N2NError as exc:
            show_error(str(exc))
            return
        self._job = job
        self._set_running(True)
        self.progress.value = 0
        self.progress.max = 1000
        self.status.value = f"Denoising '{job.name}'" + (f" and '{job.partner.name}' (averaged)" if job.partner else "")
        job.release_gc = hold_gc()
        job.worker = start_worker(
            denoise_job, job.entry.denoiser, images, axes=axes, tile=self.tile.value, what="Denoising",
            on_yielded=self._on_progress, on_returned=self._on_returned, on_aborted=self._on_aborted,
            on_finished=self._on_finished,
        )

    def _prepare(self):
        entry = self.model.value
        if entry is None:
            raise InputError("No model yet: train one with Train Noise2Noise, or press 'Load model file…'.")
        layer = self.image_layer.value
        data = image_data(layer, "image", check_values=True)
        partner = self.partner_layer.value if self.average.value else None
        images = [data]
        if partner is not None:
            if partner == layer:
                raise InputError(f"The pair partner is the image itself ('{layer.name}'). Choose the other noisy copy, "
                                 "or partner 'none'.")
            other = image_data(partner, "pair partner", check_values=True)
            if tuple(other.shape) != tuple(data.shape):
                raise InputError(f"'{layer.name}' has shape {tuple(data.shape)} but its partner '{partner.name}' has "
                                 f"{tuple(other.shape)}; a pair must have the same shape. Choose partner 'none'.")
            images.append(other)
        axes = parse_axes(self.axes.value)
        if axes is None:
            meta_axes = n2n_meta(layer).get("axes")
            if meta_axes and len(meta_axes) == data.ndim and len(entry.denoiser.axes) != data.ndim:
                axes = meta_axes
        job = _Job(layer, partner, entry, clean=find_layer(self._viewer, n2n_meta(layer).get("clean")))
        return job, images, axes

    def _on_cancel_clicked(self, _=None) -> None:
        job = self._job
        if job is None or job.worker is None:
            return
        job.worker.quit()
        self.cancel_button.enabled = False
        self.status.value = "Cancelling…"

    # ---- worker slots (main thread) -----------------------------------------------------------------
    def _on_progress(self, value) -> None:
        if self._closed:
            return
        done, total = value
        try:
            self.progress.value = int(1000 * done / max(total, 1))
        except RuntimeError:
            self._closed = True

    def _on_returned(self, result) -> None:
        from napari.utils.notifications import show_info

        job = self._job
        if job is None or self._closed:
            return
        from ..core.metrics import psnr

        averaged = job.partner is not None
        base = f"{job.name} denoised" + (" (A+B averaged)" if averaged else "")
        layer = self._viewer.add_image(result, name=unique_name(self._viewer, base),
                                       contrast_limits=robust_limits(result),
                                       colormap=job.colormap, **job.placement)
        set_n2n_meta(layer, role="denoised", source=job.name, model=job.entry.name,
                     partner_averaged=job.partner.name if averaged else None)
        self.last_layer = layer
        took = time.perf_counter() - job.started_at
        text = f"Added '{layer.name}' ({took:.1f} s)"
        clean = job.clean
        if clean is not None and clean in self._viewer.layers and tuple(clean.data.shape) == tuple(result.shape):
            ref = np.asarray(clean.data)
            noisy_db, den_db = psnr(ref, np.asarray(job.layer.data)), psnr(ref, result)
            text += f" · PSNR vs '{clean.name}': {noisy_db:.2f} → {den_db:.2f} dB"
            set_n2n_meta(layer, psnr=den_db, psnr_noisy=noisy_db)
        self.status.value = text
        show_info(text)

    def _on_aborted(self) -> None:
        from napari.utils.notifications import show_info

        if not self._closed:
            self.status.value = "Cancelled; no layer was added."
            show_info("Denoising cancelled; no layer was added.")

    def _on_finished(self) -> None:
        if self._job is not None:
            self._job.release_gc()
        self._job = None
        if not self._closed:
            try:
                self._set_running(False)
            except RuntimeError:
                self._closed = True

    def _set_running(self, running: bool) -> None:
        for w in self._settings:
            w.enabled = not running
        self.denoise_button.enabled = not running
        self.cancel_button.enabled = running

    def _destroyed_hook(self):
        holder = self

        def stop(*_args):
            holder._closed = True
            try:
                MODELS.changed.disconnect(holder._on_models_changed)
            except (TypeError, ValueError, RuntimeError):
                pass
            job = holder._job
            if job is not None and job.worker is not None:
                job.worker.quit()
                job.release_gc()

        return stop
