"""Train Noise2Noise: a form over :class:`napari_n2n.core.train.Trainer`.

The trainer's generator of events runs in a thread worker (:class:`~._jobs.LongJob`) and feeds a
:class:`~._session.TrainingSession`; the progress bar, the status line, the live loss plot and
the preview layer (:class:`~._preview.PreviewController`) subscribe to it. Stop asks the trainer
to stop at the next step and keeps the model so far; the trained model joins the session's
models (:data:`napari_n2n.widgets._registry.MODELS`), which the Denoise widget offers.

A script or a test drives the widget like a user: set the fields, then :meth:`TrainWidget.start`,
:meth:`~TrainWidget.stop`, :meth:`~TrainWidget.wait`, :attr:`~TrainWidget.busy`.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FloatSpinBox,
    Label,
    LineEdit,
    ProgressBar,
    PushButton,
    SpinBox,
)

from ..core.errors import InputError
from ..core.presets import PRESETS
from ._base import ViewerWidget, when_alive
from ._device import DEVICES, describe_device_job, warm_up_torch
from ._layers import axes_for, compact, find_layer, image_data, layer_choices, n2n_meta, parse_axes, short
from ._preview import PreviewController
from ._registry import MODELS
from ._session import TrainingSession

if TYPE_CHECKING:
    import napari

NONE_TARGET = "none — single image"
NONE_CLEAN = "none"

MODE_CHOICES = [
    ("Noise2Noise (noisy input → other noisy copy)", "n2n"),
    ("Noise2Clean (noisy input → clean target)", "n2c"),
    ("Single image (Neighbor2Neighbor sub-sampling)", "nb2nb"),
]

LOSS_CHOICES = [
    ("L2 (Gaussian, Poisson: mean)", "l2"),
    ("L1 (impulse noise: median)", "l1"),
    ("annealed L0 (impulse noise: mode)", "l0"),
    ("relative L2 (HDR / high dynamic range)", "hdr"),
]

#: the network sizes offered: the presets' networks (their patch and batch sizes are the widget's own fields)
NETWORKS = [(PRESETS[name].network_label, name) for name in ("standard", "cpu-quick", "cpu-tiny", "large")]

class TrainWidget(ViewerWidget):
    """Train a Noise2Noise (or Noise2Clean, or single-image) denoiser on image layers."""

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__(viewer)
        #: the current or last training run (``None`` before the first)
        self.session: TrainingSession | None = None
        self.preview = PreviewController(viewer)
        self.denoiser = None  # the last trained model
        self.model_entry = None
        self._roles: dict = {}  # the layers of the current run, by role
        self.input_layer = ComboBox(label="input (noisy)", choices=self._layers)
        self.target_layer = ComboBox(label="target", choices=self._targets,
                                     tooltip="The second noisy copy (N2N), the clean image (N2C), or none "
                                     "for single-image training")
        self.clean_layer = ComboBox(label="clean (PSNR only)", choices=self._cleans,
                                    tooltip="Optional clean reference: only used to report PSNR")
        self.axes = LineEdit(label="axes", value="", tooltip="Axes of the input, e.g. YX, TYX, ZYX, CYX. Empty: "
                             "2D → YX, 3D → ZYX (a 3D model); type TYX to train a 2D model on a time series")
        self.mode = ComboBox(label="mode", choices=MODE_CHOICES, value="n2n")
        self.loss = ComboBox(label="loss", choices=LOSS_CHOICES, value="l2")
        self.steps = SpinBox(label="steps", value=2000, min=1, max=1_000_000, step=100)
        self.patch_size = SpinBox(label="patch size", value=64, min=8, max=1024, step=8)
        self.batch_size = SpinBox(label="batch size", value=16, min=1, max=1024)
        self.learning_rate = FloatSpinBox(label="learning rate", value=1e-3, min=1e-6, max=0.5, step=1e-4)
        self.network = ComboBox(label="network", choices=NETWORKS, value="standard")
        self.device = ComboBox(label="device", choices=DEVICES, value="auto")
        self.device_label = Label(label="in use", value="checking…")
        self.show_preview = CheckBox(text="live preview on the visible region", value=True)
        self.train_button = PushButton(text="Train")
        self.stop_button = PushButton(text="Stop", enabled=False,
                                      tooltip="Stop at the next step; the model so far is kept")
        self.save_button = PushButton(text="Save model…", enabled=False)
        self.progress = ProgressBar(label="progress", value=0, min=0, max=1000)
        self.status = Label(label="", value="")
        self.status.native.setWordWrap(True)
        #: the fields of the form (disabled while training)
        self.settings = [self.input_layer, self.target_layer, self.clean_layer, self.axes, self.mode, self.loss,
                         self.steps, self.patch_size, self.batch_size, self.learning_rate, self.network, self.device]
        buttons = Container(widgets=[self.train_button, self.stop_button, self.save_button], layout="horizontal",
                            labels=False)
        buttons.margins = (0, 0, 0, 0)
        self.extend([*self.settings, self.device_label, self.show_preview, buttons, self.progress, self.status])
        compact(self.input_layer, self.target_layer, self.clean_layer, self.mode, self.loss, self.network, self.device)
        self._add_plot()
        self.input_layer.changed.connect(self._on_input_changed)
        self.target_layer.changed.connect(self._on_target_changed)
        self.device.changed.connect(self._update_device_label)
        self.train_button.changed.connect(self.start)
        self.stop_button.changed.connect(self.stop)
        self.save_button.changed.connect(self._on_save_clicked)
        viewer.layers.events.removed.connect(self._on_layer_removed)
        self.reset_choices()
        self._on_input_changed()
        self._on_target_changed()  # no target chosen yet → single-image mode, until one is
        warm_up_torch()
        self._update_device_label()

    def _add_plot(self) -> None:
        from qtpy.QtCore import Qt
        from qtpy.QtWidgets import QLabel

        from ._plot import LossPlot

        self.plot = LossPlot()
        legend = QLabel(LossPlot.LEGEND)
        legend.setTextFormat(Qt.TextFormat.RichText)
        legend.setWordWrap(True)
        self.native.layout().addWidget(legend)
        self.native.layout().addWidget(self.plot.native)

    # ---- choices ---------------------------------------------------------------------------------
    def _layers(self, _widget=None):
        return layer_choices(self._viewer)

    def _targets(self, _widget=None):
        return layer_choices(self._viewer, none_label=NONE_TARGET)

    def _cleans(self, _widget=None):
        return layer_choices(self._viewer, none_label=NONE_CLEAN)

    def on_layer_inserted(self, layer) -> None:
        meta = n2n_meta(self.input_layer.value)
        if not self.busy and layer.name in (meta.get("partner"), meta.get("clean")):
            self._on_input_changed()  # the input's partner or clean reference has just been added

    # ---- reactions ---------------------------------------------------------------------------------
    def _on_input_changed(self, _=None) -> None:
        """Fill in target, clean, axes and loss from what the Noisy pairs widget recorded."""
        layer = self.input_layer.value
        typed = self.axes.value.strip()
        if typed and layer is not None and len(typed) != layer.data.ndim:
            self.axes.value = ""  # axes of the previous input do not fit this one
        meta = n2n_meta(layer)
        if not meta:
            return
        partner = find_layer(self._viewer, meta.get("partner"))
        if meta.get("mode") == "nb2nb" and partner is None:
            self.target_layer.value = None
        elif partner is not None:
            self.target_layer.value = partner
        clean = find_layer(self._viewer, meta.get("clean"))
        if clean is not None:
            self.clean_layer.value = clean
        if meta.get("axes") and layer is not None and len(meta["axes"]) == layer.data.ndim:
            self.axes.value = meta["axes"] if meta["axes"] not in ("YX", "ZYX") else ""
        if meta.get("suggested_loss") in dict((v, k) for k, v in LOSS_CHOICES):
            self.loss.value = meta["suggested_loss"]

    def _on_target_changed(self, _=None) -> None:
        if self.target_layer.value is None:
            self.mode.value = "nb2nb"
        elif self.mode.value == "nb2nb":
            self.mode.value = "n2n"

    def _update_device_label(self, _=None) -> None:
        """Describe the chosen device; torch is imported off the main thread for it."""
        self.device_label.value = "checking…"
        from ._jobs import LongJob

        self._device_job = LongJob(describe_device_job, self.device.value, what="Device check",
                                   on_returned=self._show_device, on_errored=lambda exc: None, hold_gc=False).start()

    @when_alive
    def _show_device(self, result) -> None:
        self.device_label.value, self.device_label.tooltip = result

    # ---- building the run ---------------------------------------------------------------------------
    def training_config(self):
        """The :class:`~napari_n2n.core.config.TrainConfig` the widget's settings describe."""
        from ..core.config import TrainConfig

        depth, base = PRESETS[self.network.value].network
        return TrainConfig(mode=self.mode.value, loss=self.loss.value, steps=int(self.steps.value),
                           patch_size=int(self.patch_size.value), batch_size=int(self.batch_size.value),
                           learning_rate=float(self.learning_rate.value), depth=depth, base_channels=base,
                           device=self.device.value)

    def make_trainer(self):
        """A :class:`~napari_n2n.core.train.Trainer` for the chosen layers (raises :class:`N2NError`)."""
        from ..core.train import Trainer

        layer = self.input_layer.value
        data = image_data(layer, "input", check_values=True)
        target_layer, clean_layer = self.target_layer.value, self.clean_layer.value
        config = self.training_config()
        if target_layer is None and config.mode != "nb2nb":
            raise InputError(f"Mode {config.mode} needs a target layer (the second noisy copy for N2N, the clean "
                             "image for N2C). Choose one, or target 'none — single image' for single-image training.")
        if target_layer is not None and config.mode == "nb2nb":
            raise InputError("Single-image mode takes no target: set target to 'none — single image', or choose "
                             "mode Noise2Noise.")
        if target_layer is not None and target_layer == layer:
            raise InputError(f"Input and target are the same layer ('{layer.name}'). Choose the second noisy copy as "
                             "target (Noisy pairs makes one), or target 'none — single image'.")
        target = None if target_layer is None else image_data(target_layer, "target", check_values=True)
        clean = None if clean_layer is None else image_data(clean_layer, "clean", check_values=True)
        axes = axes_for(layer, parse_axes(self.axes.value))
        return Trainer(data, target, axes=axes, config=config, clean=clean, noise=n2n_meta(layer).get("noise"))

    # ---- public actions -----------------------------------------------------------------------------
    def start(self, _=None) -> TrainingSession | None:
        """Start training on the chosen layers; return the session (``None`` and a notification on errors)."""
        from napari.utils.notifications import show_warning

        if self.busy:
            show_warning("Training is already running. Press Stop (the model so far is kept) or wait for it "
                         "to finish before starting another.")
            return None
        trainer = self.report(self.make_trainer)
        if trainer is None:
            return None
        session = self.session = TrainingSession(trainer, name=self.input_layer.value.name)
        session.status.events.fraction.connect(self._show_fraction)
        session.status.events.text.connect(self._show_text)
        session.status.events.device.connect(self._show_device_name)
        self.plot.follow(session)
        self._roles = {"input": self.input_layer.value, "target": self.target_layer.value,
                       "clean": self.clean_layer.value}
        self.progress.value = 0
        self.status.value = session.status.text
        if self.show_preview.value:
            try:
                self.preview.begin(session, self.input_layer.value)
            except Exception as exc:
                self.preview.off()
                show_warning(f"No live preview for this run ({type(exc).__name__}: {exc}); training goes on.")
        self.start_job(trainer.run, what="Training", on_yielded=session.apply, on_returned=self._on_returned,
                       on_errored=self._on_errored, on_finished=self._on_finished)
        self._set_running(True)
        return session

    def stop(self, _=None) -> None:
        """Stop at the next step; the run then ends normally and keeps the model so far."""
        if self.session is None or not self.busy:
            return
        self.session.request_stop()
        self.stop_button.enabled = False

    def save_model(self, path) -> str | None:
        """Save the last trained model to ``path`` (``.n2n`` added if missing); return the path."""
        from napari.utils.notifications import show_error, show_info

        if self.denoiser is None:
            show_error("There is no trained model to save yet: train one first.")
            return None
        path = str(path) if str(path).lower().endswith(".n2n") else f"{path}.n2n"
        saved = self.report(self.denoiser.save, path)
        if saved is None:
            return None
        if self.model_entry is not None:
            self.model_entry.path = saved
        show_info(f"Model saved to {saved}. Load it in Denoise with 'Load model file…'.")
        return saved

    def _on_save_clicked(self, _=None) -> str | None:
        from qtpy.QtWidgets import QFileDialog

        if self.denoiser is None:
            return None
        source = self.session.name if self.session is not None else "model"
        default = re.sub(r"[^\w.-]+", "_", source).strip("_")[:60] + "_n2n.n2n"
        path, _filter = QFileDialog.getSaveFileName(self.native, "Save napari-n2n model", default,
                                                    "napari-n2n models (*.n2n);;All files (*)")
        return self.save_model(path) if path else None

    # ---- session → form (main thread) ---------------------------------------------------------------
    @when_alive
    def _show_fraction(self, fraction: float) -> None:
        self.progress.value = int(round(1000 * min(max(fraction, 0.0), 1.0)))

    @when_alive
    def _show_text(self, text: str) -> None:
        self.status.value = text

    @when_alive
    def _show_device_name(self, name: str) -> None:
        self.device_label.value = name

    def _on_returned(self, denoiser) -> None:
        from napari.utils.notifications import show_info

        fin = self.session.finished
        if fin is not None and fin.steps_done == 0:
            show_info("Training stopped before its first step; no model was kept.")
            return
        self._keep_model(denoiser)
        if self.alive:
            show_info(f"Model ready: {denoiser.summary()}. Use it in Denoise, or Save model….")

    def _on_errored(self, exc) -> None:
        from napari.utils.notifications import show_info

        from ._jobs import notify_error

        notify_error(exc)
        session = self.session
        session.end(failed=True)
        try:
            denoiser = session.trainer.denoiser()
        except Exception:
            return
        if denoiser.history.get("step"):
            self._keep_model(denoiser, note="before the error")
            show_info("The model kept before the error is available: use it in Denoise, or Save model….")

    def _on_finished(self) -> None:
        session = self.session
        if session is not None and session.running:
            session.end()
        if self.alive:
            self.preview.end()
        self._set_running(False)

    def _keep_model(self, denoiser, note: str = "") -> None:
        self.denoiser = denoiser
        steps = denoiser.history.get("steps_done") or (denoiser.history.get("step") or [0])[-1]
        mode = denoiser.config.mode.upper() if denoiser.config else "N2N"
        label = f"{mode} · {short(self.session.name)} · {steps} steps · {time.strftime('%H:%M:%S')}"
        self.model_entry = MODELS.add(denoiser, label + (f" ({note})" if note else ""))

    @when_alive
    def _set_running(self, running: bool) -> None:
        for w in self.settings:
            w.enabled = not running
        self.train_button.enabled = not running
        self.stop_button.enabled = running
        self.save_button.enabled = not running and self.denoiser is not None

    # ---- removal and teardown ---------------------------------------------------------------------
    @when_alive
    def _on_layer_removed(self, event) -> None:
        from qtpy.QtCore import QTimer

        if not self.busy:
            return
        removed = event.value
        for role, layer in self._roles.items():
            if layer is not None and layer == removed:
                if role == "input":
                    self.preview.off()
                # warn once the event loop runs again: if the viewer is closing, training is stopped instead
                QTimer.singleShot(0, lambda role=role, name=removed.name: self._warn_removed(role, name))

    @when_alive
    def _warn_removed(self, role: str, name: str) -> None:
        from napari.utils.notifications import show_warning

        if self.busy:
            show_warning(f"The {role} layer '{name}' was removed while training. Training goes on with the data it "
                         "started with; press Stop to end it now (the model so far is kept).")

    def teardown(self) -> None:
        if self.session is not None:
            self.session.request_stop()
        super().teardown()
