"""Train Noise2Noise: a view over :class:`napari_n2n.core.train.Trainer`.

The trainer's generator of events runs in a napari thread worker; its events drive a progress
bar with ETA, a live loss plot and a preview layer of the current model on the visible region.
Stop asks the trainer to stop at the next step and keeps the best model so far; the trained
model joins the session's models (:data:`napari_n2n.widgets._state.MODELS`), which the Denoise
widget offers.
"""

from __future__ import annotations

import re
import threading
import time
from typing import TYPE_CHECKING, Callable

import numpy as np
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

from ..core.errors import InputError, N2NError
from ..core.presets import PRESETS
from ..core.progress import fmt_time
from ._layers import (
    compact,
    find_layer,
    image_data,
    layer_choices,
    n2n_meta,
    parse_axes,
    robust_limits,
    set_n2n_meta,
    short,
    unique_name,
    visible_region,
)
from ._state import MODELS
from ._worker import hold_gc, notify_error, start_worker

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

DEVICES = [("auto (best available)", "auto"), ("CUDA GPU", "cuda"), ("Apple MPS", "mps"), ("CPU", "cpu")]

#: seconds between updates of the progress bar and status line (each update costs main-thread time)
UI_PROGRESS_EVERY_S = 0.25

#: largest preview region per axis (the preview runs between training steps)
PREVIEW_MAX = {"2d": {"Y": 256, "X": 256}, "3d": {"Z": 16, "Y": 128, "X": 128}}


_WARMED_UP = threading.Event()


def _warm_up_torch() -> None:
    """Pay torch's one-off first-optimiser cost (it imports ~800 modules, seconds) off the main thread.

    Done once per session when the widget opens, while the user picks layers; otherwise it happens
    in the training worker at the first Train, where the import machinery competes with the
    viewer's main thread for the GIL (measured: pauses of up to half a second).
    """
    if _WARMED_UP.is_set():
        return
    _WARMED_UP.set()

    def work():
        try:
            import torch

            torch.optim.Adam([torch.zeros(1, requires_grad=True)])
        except Exception:  # noqa: BLE001 - only a warm-up; training reports real problems
            pass

    threading.Thread(target=work, name="n2n-warm-up", daemon=True).start()


def _parse_axes_or_none(text: str | None) -> str | None:
    """The typed axes, or ``None`` if empty or not valid (for hints, never an error)."""
    try:
        return parse_axes(text)
    except N2NError:
        return None


class _Run:
    """One training run: the trainer, its worker and what the widget learnt from its events."""

    def __init__(self, trainer, input_layer, *, name: str):
        self.trainer = trainer
        self.input_layer = input_layer
        self.name = name
        self.worker = None
        self.finished_event = None
        self.started_at = time.perf_counter()
        self.stop_requested_at: float | None = None
        self.finished_at: float | None = None
        self.region: tuple | None = None  # (index, start, shape, sample dims) of the pending preview region
        self.last_progress_ui = 0.0
        self.layers: dict[str, object] = {}
        self.release_gc: Callable[[], None] = lambda: None
        self.previews_shown = 0
        self.made_preview_layer = False  # this run added the preview layer (not reused)

    def abort(self, *_args) -> None:
        """Stop without a viewer (the viewer or the widget is being destroyed)."""
        self.trainer.request_stop()
        self.release_gc()
        worker = self.worker
        if worker is not None:
            try:
                worker.quit()
            except RuntimeError:  # pragma: no cover - the worker's signals are gone already
                pass


class TrainWidget(Container):
    """Train a Noise2Noise (or Noise2Clean, or single-image) denoiser on image layers."""

    def __init__(self, viewer: napari.viewer.Viewer):

        super().__init__(labels=True)
        self._viewer = viewer
        self._run: _Run | None = None
        self._closed = False
        self.denoiser = None  # the last trained model
        self.model_entry = None
        self.last_run: _Run | None = None
        self._preview_layer = None  # the last preview layer, reused by the next run on the same input
        self.preview_every_s = 2.0
        self.input_layer = ComboBox(label="input (noisy)", choices=self._input_choices)
        self.target_layer = ComboBox(label="target", choices=self._target_choices,
                                     tooltip="The second noisy copy (N2N), the clean image (N2C), or none "
                                     "for single-image training")
        self.clean_layer = ComboBox(label="clean (PSNR only)", choices=self._clean_choices,
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
        self.device_label = Label(label="in use", value="")
        self.show_preview = CheckBox(text="live preview on the visible region", value=True)
        self.train_button = PushButton(text="Train")
        self.stop_button = PushButton(text="Stop", enabled=False,
                                      tooltip="Stop at the next step; the best model so far is kept")
        self.save_button = PushButton(text="Save model…", enabled=False)
        self.progress = ProgressBar(label="progress", value=0, min=0, max=1)
        self.status = Label(label="", value="")
        self.status.native.setWordWrap(True)
        self._settings = [self.input_layer, self.target_layer, self.clean_layer, self.axes, self.mode, self.loss,
                          self.steps, self.patch_size, self.batch_size, self.learning_rate, self.network,
                          self.device]
        buttons = Container(widgets=[self.train_button, self.stop_button, self.save_button], layout="horizontal",
                            labels=False)
        buttons.margins = (0, 0, 0, 0)
        self.extend([*self._settings, self.device_label, self.show_preview, buttons, self.progress, self.status])
        compact(self.input_layer, self.target_layer, self.clean_layer, self.mode, self.loss, self.network, self.device)
        from ._plot import LossPlot

        self.plot = LossPlot()
        from qtpy.QtCore import Qt
        from qtpy.QtWidgets import QLabel

        legend = QLabel(LossPlot.LEGEND)
        legend.setTextFormat(Qt.TextFormat.RichText)
        legend.setWordWrap(True)
        self.native.layout().addWidget(legend)
        self.native.layout().addWidget(self.plot.native)

        self.input_layer.changed.connect(self._on_input_changed)
        self.target_layer.changed.connect(self._on_target_changed)
        self.device.changed.connect(self._update_device_label)
        self.train_button.changed.connect(self._on_train_clicked)
        self.stop_button.changed.connect(self._on_stop_clicked)
        self.save_button.changed.connect(self._on_save_clicked)
        for event in ("inserted", "removed", "reordered"):
            getattr(viewer.layers.events, event).connect(self._reset_choices)
        viewer.layers.events.removed.connect(self._on_layer_removed)
        # stop training when the viewer (and with it this widget) is destroyed
        self.native.destroyed.connect(self._destroyed_stop_hook())
        self.reset_choices()
        self._on_input_changed()
        self._on_target_changed()  # no target chosen yet → single-image mode, until one is
        self._update_device_label()
        _warm_up_torch()

    # ---- choices ---------------------------------------------------------------------------------
    def _input_choices(self, _widget=None):
        return layer_choices(self._viewer)

    def _target_choices(self, _widget=None):
        return layer_choices(self._viewer, none_label=NONE_TARGET)

    def _clean_choices(self, _widget=None):
        return layer_choices(self._viewer, none_label=NONE_CLEAN)

    def _reset_choices(self, event=None) -> None:
        if self._closed:
            return
        try:
            self.reset_choices()
            added = getattr(event, "value", None) if getattr(event, "type", "") == "inserted" else None
            meta = n2n_meta(self.input_layer.value)
            if self._run is None and added is not None and added.name in (meta.get("partner"), meta.get("clean")):
                self._on_input_changed()  # the input's partner or clean reference has just been added
        except RuntimeError:  # the Qt widgets are gone (viewer closed)
            self._closed = True

    # ---- reactions ---------------------------------------------------------------------------------
    def _on_input_changed(self, _=None) -> None:
        """Fill in target, clean, axes and loss from what the Noisy pairs widget recorded."""
        layer = self.input_layer.value
        typed = _parse_axes_or_none(self.axes.value)
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
        from ..core.device import describe_device, select_device

        try:
            self.device_label.value = describe_device(select_device(self.device.value))
            self.device_label.tooltip = ""
        except N2NError as exc:
            self.device_label.value = f"{self.device.value} not available here: choose auto or CPU"
            self.device_label.tooltip = str(exc)

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
        axes = parse_axes(self.axes.value)
        if axes is None:
            meta_axes = n2n_meta(layer).get("axes")
            axes = meta_axes if meta_axes and len(meta_axes) == data.ndim else None
        noise = n2n_meta(layer).get("noise")
        return Trainer(data, target, axes=axes, config=config, clean=clean, noise=noise)

    # ---- actions -----------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """Whether a training run is going on."""
        return self._run is not None

    is_training = busy

    def _on_train_clicked(self, _=None) -> None:
        """Start training (notifications for every problem; never a second run at once)."""
        from napari.utils.notifications import show_error, show_warning

        if self._run is not None:
            show_warning("Training is already running. Press Stop (the best model so far is kept) or wait for it "
                         "to finish before starting another.")
            return
        try:
            trainer = self.make_trainer()
        except N2NError as exc:
            show_error(str(exc))
            return
        self._start(trainer)

    def _start(self, trainer) -> None:
        from napari.utils.notifications import show_warning

        layer = self.input_layer.value
        run = _Run(trainer, layer, name=layer.name)
        run.layers = {"input": layer, "target": self.target_layer.value, "clean": self.clean_layer.value}
        self.plot.clear()
        self.progress.max = max(1, trainer.config.steps * len(trainer.groups))
        self.progress.value = 0
        self.status.value = "Starting…"
        if self.show_preview.value:
            try:
                requested = self._request_preview(run)
                if requested is not None:
                    self._place_preview(run, *requested)  # the noisy region, until the first preview
            except Exception as exc:  # noqa: BLE001 - a preview is a nicety: train without it
                trainer.set_preview(None)
                run.region = None
                show_warning(f"No live preview for this run ({type(exc).__name__}: {exc}); training goes on.")
        run.release_gc = hold_gc()  # keeps full garbage collections from pausing the viewer
        try:
            run.worker = start_worker(
                trainer.run, what="Training",
                on_yielded=self._on_event, on_returned=self._on_returned, on_errored=self._on_errored,
                on_finished=self._on_finished,
            )
        except BaseException:
            run.release_gc()
            raise
        # the worker's signals are queued: its first event arrives after this
        self._run = run
        self._set_running(True)

    def _on_stop_clicked(self, _=None) -> None:
        """Stop at the next step; the worker then returns the best model so far."""
        run = self._run
        if run is None:
            return
        run.stop_requested_at = time.perf_counter()
        run.trainer.request_stop()
        self.stop_button.enabled = False
        self.status.value = "Stopping… (the best model so far is kept)"

    def _on_save_clicked(self, _=None) -> str | None:
        from qtpy.QtWidgets import QFileDialog

        if self.denoiser is None:
            return None
        source = self.last_run.name if self.last_run is not None else "model"
        default = re.sub(r"[^\w.-]+", "_", source).strip("_")[:60] + "_n2n.n2n"
        path, _filter = QFileDialog.getSaveFileName(self.native, "Save napari-n2n model", default,
                                                    "napari-n2n models (*.n2n);;All files (*)")
        return self.save_model(path) if path else None

    def save_model(self, path) -> str | None:
        """Save the last trained model to ``path`` (``.n2n`` added if missing); return the path."""
        from napari.utils.notifications import show_error, show_info

        if self.denoiser is None:
            show_error("There is no trained model to save yet: train one first.")
            return None
        path = str(path)
        if not path.lower().endswith(".n2n"):
            path += ".n2n"
        try:
            saved = self.denoiser.save(path)
        except N2NError as exc:
            show_error(str(exc))
            return None
        if self.model_entry is not None:
            self.model_entry.path = saved
        show_info(f"Model saved to {saved}. Load it in Denoise with 'Load model file…'.")
        return saved

    # ---- worker slots (main thread) ---------------------------------------------------------------
    def _on_event(self, event) -> None:
        from ..core.events import Finished, Preview, Progress, Started, Validated

        run = self._run
        if run is None or self._closed:
            return
        try:
            if isinstance(event, Progress):
                self.plot.add_train(event.step, event.train_loss)
                now = time.perf_counter()
                # progress comes every step; the labels need not change more than a few times a second
                if now - run.last_progress_ui >= UI_PROGRESS_EVERY_S or event.step == event.total_steps:
                    run.last_progress_ui = now
                    self.progress.value = min(event.step, self.progress.max)
                    self.status.value = (f"step {event.step}/{event.total_steps} · loss {event.train_loss:.4g} · "
                                         f"{event.patches_per_s:.0f} patches/s · ETA {fmt_time(event.eta_s)}")
            elif isinstance(event, Validated):
                self.plot.add_validation(event.step, event.val_loss, event.psnr)
            elif isinstance(event, Preview):
                self._show_preview(run, event)
            elif isinstance(event, Started):
                self.device_label.value = event.device
                self.progress.max = max(1, event.total_steps)
                self.status.value = f"Training on {event.device}: {event.n_parameters / 1e6:.2f} M parameters"
                if event.notes:
                    self.status.value += " · " + "; ".join(event.notes)
            elif isinstance(event, Finished):
                run.finished_event = event
                self.progress.value = min(event.steps_done, self.progress.max)
                best = f", best model at step {event.best_step}" if event.best_step else ""
                self.status.value = (f"{event.reason.capitalize()} after {event.steps_done} steps "
                                     f"({fmt_time(event.elapsed_s)}){best}")
        except RuntimeError:  # a Qt widget was deleted under us (viewer closing)
            self._closed = True

    def _on_returned(self, denoiser) -> None:
        from napari.utils.notifications import show_info

        run = self._run
        fin = run.finished_event if run else None
        if fin is not None and fin.steps_done == 0:
            show_info("Training stopped before its first step; no model was kept.")
            return
        self._keep_model(denoiser, run)
        if not self._closed:
            show_info(f"Model ready: {denoiser.summary()}. Use it in Denoise, or Save model….")

    def _on_errored(self, exc) -> None:
        from napari.utils.notifications import show_info

        notify_error(exc)
        run = self._run
        if run is None:
            return
        try:
            denoiser = run.trainer.denoiser()
        except Exception:  # noqa: BLE001 - nothing usable was trained; the error is already shown
            return
        if denoiser.history.get("step"):
            self._keep_model(denoiser, run, note="before the error")
            show_info("The best model before the error is kept: use it in Denoise, or Save model….")

    def _on_finished(self) -> None:
        run = self._run
        if run is not None:
            run.finished_at = time.perf_counter()
            run.release_gc()
        self.last_run = run
        self._run = None
        if not self._closed:
            try:
                self._set_running(False)
                preview = run.layers.get("preview") if run is not None else None
                if preview is not None and run.made_preview_layer and not run.previews_shown:
                    if preview in self._viewer.layers:  # it only ever showed the noisy input: drop it
                        self._viewer.layers.remove(preview)
                    self._preview_layer = None
            except RuntimeError:
                self._closed = True

    def _keep_model(self, denoiser, run, note: str = "") -> None:
        self.denoiser = denoiser
        steps = denoiser.history.get("steps_done") or (denoiser.history.get("step") or [0])[-1]
        mode = denoiser.config.mode.upper() if denoiser.config else "N2N"
        label = f"{mode} · {short(run.name if run else 'model')} · {steps} steps · {time.strftime('%H:%M:%S')}"
        self.model_entry = MODELS.add(denoiser, label + (f" ({note})" if note else ""))

    def _set_running(self, running: bool) -> None:
        for w in self._settings:
            w.enabled = not running
        self.train_button.enabled = not running
        self.stop_button.enabled = running
        self.save_button.enabled = not running and self.denoiser is not None
        if not running and self.progress.value < self.progress.max and self.status.value.startswith("Starting"):
            self.status.value = ""

    # ---- preview ---------------------------------------------------------------------------------
    def _request_preview(self, run: _Run):
        """Ask the trainer for a preview of the part of the input the canvas shows; return (region, start)."""
        layer = run.input_layer
        trainer = run.trainer
        if layer is None or layer not in self._viewer.layers:
            trainer.set_preview(None)
            run.region = None
            return None
        axes = trainer.axes
        index, start = visible_region(self._viewer, layer, axes,
                                      max_size=PREVIEW_MAX["3d" if trainer.spatial_ndim == 3 else "2d"])
        region = np.asarray(layer.data[index], dtype=np.float32)
        sample_dims = tuple(d for d, a in enumerate(axes) if a not in "CZYX")  # S, T: one frame
        run.region = (index, start, region.shape, sample_dims)
        trainer.set_preview(np.squeeze(region, axis=sample_dims) if sample_dims else region,
                            every_s=self.preview_every_s)
        return region, start

    def _show_preview(self, run: _Run, event) -> None:
        from napari.utils.notifications import show_info

        if run.region is None:
            return
        index, start, shape, sample_dims = run.region
        image = np.expand_dims(event.image, sample_dims) if sample_dims else event.image
        if tuple(image.shape) != tuple(shape):  # made for an older region: wait for the next one
            self._request_preview(run)
            return
        preview = run.layers.get("preview")
        if preview is not None and preview not in self._viewer.layers:
            run.trainer.set_preview(None)
            run.region = None
            show_info("The training preview layer was removed, so previews are off for this run "
                      "(tick 'live preview' and train again to get them back).")
            return
        self._place_preview(run, image, start)
        run.previews_shown += 1
        self._request_preview(run)  # follow the user's panning and zooming

    def _place_preview(self, run: _Run, image: np.ndarray, start: tuple[int, ...]) -> None:
        """Show ``image`` (a region of the input starting at ``start``) in the run's preview layer.

        The layer is made when training starts (showing the noisy region until the first
        preview), so the cost of adding a layer falls on the Train click, not on the running
        training; the last run's preview of the same input is reused.
        """
        source = run.input_layer
        scale = np.asarray(source.scale, dtype=float)
        translate = np.asarray(source.translate, dtype=float) + np.asarray(start) * scale
        preview = run.layers.get("preview")
        if preview is None:
            previous = self._preview_layer
            if (previous is not None and previous in self._viewer.layers and previous.ndim == image.ndim
                    and n2n_meta(previous).get("source") == source.name):
                preview = previous
                preview.data = image
            else:
                preview = self._viewer.add_image(
                    image, name=unique_name(self._viewer, f"{source.name} preview (training)"),
                    contrast_limits=self._preview_limits(source, image), colormap=source.colormap.name,
                    scale=tuple(scale), translate=tuple(translate),
                )
                set_n2n_meta(preview, role="preview", source=source.name)
                run.made_preview_layer = True
            run.layers["preview"] = self._preview_layer = preview
        else:
            preview.data = image
        # each change of scale/translate makes napari recompute the scene: only when needed
        if not np.allclose(preview.scale, scale):
            preview.scale = tuple(scale)
        if not np.allclose(preview.translate, translate):
            preview.translate = tuple(translate)

    @staticmethod
    def _preview_limits(source, image) -> tuple[float, float]:
        """The input layer's contrast limits (so preview and input compare), else the preview's own range."""
        try:
            lo, hi = (float(v) for v in source.contrast_limits)
        except (TypeError, ValueError):
            lo = hi = 0.0
        return (lo, hi) if hi > lo else robust_limits(image)

    # ---- removal and teardown ---------------------------------------------------------------------
    def _on_layer_removed(self, event) -> None:
        from qtpy.QtCore import QTimer

        run = self._run
        if run is None or self._closed:
            return
        removed = event.value
        for role, layer in run.layers.items():
            if layer is not None and layer == removed and role != "preview":
                if role == "input":
                    run.trainer.set_preview(None)
                    run.region = None
                # warn once the event loop runs again: if the viewer is closing, training is stopped instead
                QTimer.singleShot(0, lambda role=role, name=removed.name: self._warn_removed(role, name))

    def _warn_removed(self, role: str, name: str) -> None:
        from napari.utils.notifications import show_warning

        if self._closed or self._run is None:
            return
        show_warning(f"The {role} layer '{name}' was removed while training. Training goes on with the data it "
                     "started with; press Stop to end it now (the best model so far is kept).")

    def _destroyed_stop_hook(self):
        """A callable for ``destroyed`` that stops the current run without touching Qt widgets."""
        holder = self

        def stop(*_args):
            holder._closed = True
            run = holder._run
            if run is not None:
                run.abort()

        return stop
