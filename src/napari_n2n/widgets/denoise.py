"""Denoise: apply a trained model (from this session or a file) to an image layer.

Prediction is tiled (:meth:`napari_n2n.core.denoiser.Denoiser.predict_iter`) and runs in a
thread worker with a progress bar and Cancel. The result is a new layer "<name> denoised"
placed like its source; when the image has a pair partner, the average of the predictions of A
and B is offered, and on by default (it has lower error than either). Options: test-time
augmentation (the mean over flips/rotations, :mod:`napari_n2n.core.tta`) and uncertainty
layers: where the predictions of A and B disagree, and the residual (what was removed). Scripts and tests call
:meth:`DenoiseWidget.start`, :meth:`~DenoiseWidget.stop`, :meth:`~DenoiseWidget.wait`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, Label, LineEdit, ProgressBar, PushButton

from ..core.checks import require_same_shape
from ..core.errors import InputError
from ._base import ViewerWidget, when_alive
from ._layers import (
    axes_for,
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
from ._registry import MODELS

if TYPE_CHECKING:
    import napari

NONE_PARTNER = "none"
TILES = [("automatic", None), ("64", 64), ("128", 128), ("256", 256), ("512", 512), ("1024", 1024)]
TTA = [("off", 1), ("2 (and the 180° turn)", 2), ("4 (all 90° turns)", 4), ("8 (all flips and turns)", 8)]


def denoise_job(denoiser, images: list, *, axes: str | None = None, tile=None, tta: int = 1, maps: bool = False):
    """Generator: denoise one image, or the pair ``images`` (averaged), yielding ``(done, total)`` tiles.

    Returns the prediction; with ``maps`` or test-time augmentation (``tta`` > 1) of a pair, a
    :class:`~napari_n2n.core.tta.PairResult` (the mean with its disagreement and residual maps).
    """
    from ..core.tta import denoise_pair_iter, predict_tta_iter

    if len(images) == 2 and (tta > 1 or maps):
        gen = denoise_pair_iter(denoiser, images[0], images[1], axes=axes, tile=tile, tta=tta)
    elif tta > 1:
        gen = predict_tta_iter(denoiser, images[0], axes=axes, tile=tile, transforms=tta)
    elif len(images) == 1:
        gen = denoiser.predict_iter(images[0], axes=axes, tile=tile)
    else:
        gen = denoiser.predict_pair_iter(images[0], images[1], axes=axes, tile=tile)
    while True:
        try:
            progress = next(gen)
        except StopIteration as stop:
            return stop.value
        yield (progress.done, progress.total)


class _Request:
    """One denoising run: what to denoise, with which model, and where the result goes."""

    def __init__(self, layer, partner, entry, clean):
        self.layer, self.partner, self.entry, self.clean = layer, partner, entry, clean
        self.name = layer.name
        self.placement = placement(layer)  # kept, so the result is placed right even if the layer goes
        self.colormap = layer.colormap.name
        self.started_at = time.perf_counter()


class DenoiseWidget(ViewerWidget):
    """Denoise an image layer with a trained model; adds "<name> denoised"."""

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__(viewer)
        self.request: _Request | None = None  # the current (or last) run
        self.last_layer = None
        self.map_layers: list = []
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
        self.tta = ComboBox(label="test-time augment.", choices=TTA, value=1,
                            tooltip="Average the predictions of flipped/rotated copies: a little lower error, "
                                    "each transform costs one more prediction")
        self.maps = CheckBox(text="add uncertainty layers", value=False,
                             tooltip="Residual (what was removed: noise only, unless structure was removed) and, "
                                     "with a pair partner, where the predictions of A and B disagree")
        self.denoise_button = PushButton(text="Denoise")
        self.cancel_button = PushButton(text="Cancel", enabled=False)
        self.progress = ProgressBar(label="progress", value=0, min=0, max=1)
        self.status = Label(label="", value="")
        self.status.native.setWordWrap(True)
        self.model_info.native.setWordWrap(True)
        #: the fields of the form (disabled while denoising)
        self.settings = [self.model, self.load_button, self.image_layer, self.partner_layer, self.average,
                         self.axes, self.tile, self.tta, self.maps]
        buttons = Container(widgets=[self.denoise_button, self.cancel_button], layout="horizontal", labels=False)
        buttons.margins = (0, 0, 0, 0)
        self.extend([self.model, self.load_button, self.model_info, self.image_layer, self.partner_layer,
                     self.average, self.axes, self.tile, self.tta, self.maps, buttons, self.progress, self.status])
        compact(self.model, self.image_layer, self.partner_layer, self.tile, self.tta)
        self.model.changed.connect(self._on_model_changed)
        self.image_layer.changed.connect(self._on_image_changed)
        self.partner_layer.changed.connect(self._update_average)
        self.load_button.changed.connect(self._on_load_clicked)
        self.denoise_button.changed.connect(self.start)
        self.cancel_button.changed.connect(self.stop)
        MODELS.changed.connect(self._on_models_changed)
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

    def on_layer_inserted(self, layer) -> None:
        if layer.name == n2n_meta(self.image_layer.value).get("partner"):
            self._on_image_changed()  # the image's partner has just been added

    @when_alive
    def _on_models_changed(self) -> None:
        """A model was added: offer it, and choose the newest."""
        self.model.reset_choices()
        latest = MODELS.latest()
        if latest is not None:
            self.model.value = latest

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
        from napari.utils.notifications import show_info

        from ..core.denoiser import Denoiser

        denoiser = self.report(Denoiser.load, path)
        if denoiser is None:
            return None
        entry = MODELS.add(denoiser, Path(path).name, source="file", path=str(path))
        self.model.value = entry
        show_info(f"Loaded {Path(path).name}: {denoiser.summary()}")
        return entry

    def start(self, _=None) -> _Request | None:
        """Denoise the chosen image (or pair) with the chosen model; ``None`` and a notification on errors."""
        from napari.utils.notifications import show_warning

        if self.busy:
            show_warning("Denoising is already running. Press Cancel or wait for it to finish.")
            return None
        prepared = self.report(self._prepare)
        if prepared is None:
            return None
        request, images, axes = prepared
        self.request = request
        self._set_running(True)
        self.progress.value = 0
        self.progress.max = 1000
        self.status.value = f"Denoising '{request.name}'" + (
            f" and '{request.partner.name}' (averaged)" if request.partner else "")
        self.start_job(denoise_job, request.entry.denoiser, images, axes=axes, tile=self.tile.value,
                       tta=int(self.tta.value), maps=bool(self.maps.value), what="Denoising",
                       on_yielded=self._on_progress, on_returned=self._on_returned, on_aborted=self._on_aborted,
                       on_finished=self._on_finished)
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
            raise InputError("No model yet: train one with Train Noise2Noise, or press 'Load model file…'.")
        layer = self.image_layer.value
        data = image_data(layer, "image", check_values=True)
        partner = self.partner_layer.value if self.average.value else None
        images = [data]
        if partner is not None:
            if partner == layer:
                raise InputError(f"The pair partner is the image itself ('{layer.name}'). Choose the other noisy copy, "
                                 "or partner 'none'.")
            images.append(image_data(partner, "pair partner", check_values=True))
            require_same_shape(data, images[1], names=(f"layer '{layer.name}'", f"its partner '{partner.name}'"))
        typed = parse_axes(self.axes.value)
        # the model's training axes come first when they fit (the core's choice); else what the layer recorded
        axes = typed or (None if len(entry.denoiser.axes) == data.ndim else axes_for(layer, None))
        request = _Request(layer, partner, entry, clean=find_layer(self._viewer, n2n_meta(layer).get("clean")))
        return request, images, axes

    # ---- worker slots (main thread) -----------------------------------------------------------------
    @when_alive
    def _on_progress(self, value) -> None:
        done, total = value
        self.progress.value = int(1000 * done / max(total, 1))

    @when_alive
    def _on_returned(self, result) -> None:
        from napari.utils.notifications import show_info

        from ..core.metrics import psnr
        from ..core.tta import PairResult, residual

        request = self.request
        averaged = request.partner is not None
        maps = {}
        if isinstance(result, PairResult):
            maps = {"A/B disagreement": result.disagreement, "residual": result.residual}
            result = result.mean
        elif self.maps.value:
            maps = {"residual": residual(np.asarray(request.layer.data), result)}
        if not self.maps.value:
            maps = {}
        base = f"{request.name} denoised" + (" (A+B averaged)" if averaged else "")
        layer = self._viewer.add_image(result, name=unique_name(self._viewer, base),
                                       contrast_limits=robust_limits(result),
                                       colormap=request.colormap, **request.placement)
        set_n2n_meta(layer, role="denoised", source=request.name, model=request.entry.name,
                     partner_averaged=request.partner.name if averaged else None)
        self.last_layer = layer
        self.map_layers = self._add_maps(maps, request)
        text = f"Added '{layer.name}' ({time.perf_counter() - request.started_at:.1f} s)"
        clean = request.clean
        if clean is not None and clean in self._viewer.layers and tuple(clean.data.shape) == tuple(result.shape):
            ref = np.asarray(clean.data)
            noisy_db, den_db = psnr(ref, np.asarray(request.layer.data)), psnr(ref, result)
            text += f" · PSNR vs '{clean.name}': {noisy_db:.2f} → {den_db:.2f} dB"
            set_n2n_meta(layer, psnr=den_db, psnr_noisy=noisy_db)
        self.status.value = text
        show_info(text)

    def _add_maps(self, maps: dict, request) -> list:
        """Add the uncertainty layers (hidden, over the result); return them."""
        added = []
        for what, data in maps.items():
            if what == "residual":
                top = float(np.percentile(np.abs(data), 99.5)) or 1.0
                style = dict(colormap="gray", contrast_limits=(-top, top))
            else:
                style = dict(colormap="magma", contrast_limits=(0.0, float(np.percentile(data, 99.5)) or 1.0))
            layer = self._viewer.add_image(data, name=unique_name(self._viewer, f"{request.name} {what}"),
                                           visible=False, **style, **request.placement)
            set_n2n_meta(layer, role=what, source=request.name, model=request.entry.name)
            added.append(layer)
        return added

    @when_alive
    def _on_aborted(self) -> None:
        from napari.utils.notifications import show_info

        self.status.value = "Cancelled; no layer was added."
        show_info("Denoising cancelled; no layer was added.")

    @when_alive
    def _on_finished(self) -> None:
        self._set_running(False)

    def _set_running(self, running: bool) -> None:
        for w in self.settings:
            w.enabled = not running
        self.denoise_button.enabled = not running
        self.cancel_button.enabled = running

    def teardown(self) -> None:
        try:
            MODELS.changed.disconnect(self._on_models_changed)
        except (TypeError, ValueError, RuntimeError):
            pass
        super().teardown()
