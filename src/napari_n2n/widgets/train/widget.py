"""Train Noise2Noise: a form over :class:`napari_n2n.core.training.train.Trainer`.

The form (:class:`~.form.TrainForm`: the essentials up front, the rest under *Advanced*) follows
the user: the input is the layer selected in the layer list (never a clean reference), a pair
made in Noisy pairs becomes input and target, the mode follows the target, and axes that nothing
states are a guess to confirm (:mod:`.._axes`). The trainer's events run in a thread worker
(:class:`~.._jobs.LongJob`) into a :class:`~.session.TrainingSession`, which the progress bar,
status line, loss plot and preview (:class:`~.preview.PreviewController`) follow. The run
trains on a copy of the layers' data (:class:`~.._layers.Snapshot`). Stop keeps the model so
far; trained models join :data:`~.._registry.MODELS`, which Denoise offers. Scripts and tests
use :meth:`TrainWidget.start`, :meth:`~TrainWidget.stop`, :meth:`~TrainWidget.wait`,
:attr:`~TrainWidget.busy`, and set the fields of :attr:`TrainWidget.form`.
"""

from __future__ import annotations

import functools
import time
from typing import TYPE_CHECKING

from magicgui.widgets import ProgressBar, PushButton

from ...core.errors import N2NError
from .. import _notify as notify
from .._base import StatusText, ViewerWidget, on_choice, row, when_alive
from .._layers import (
    Snapshot,
    data_shape,
    find_layer,
    fits,
    image_data,
    is_noisy,
    n2n_meta,
    parse_axes,
    preferred_noisy,
    short,
)
from .._model_io import ask_save_path, save_model
from .._registry import MODELS, PAIRS
from .device import describe_device_job, warm_up_torch
from .form import LOSS_CHOICES, TrainForm, check_roles, mode_for
from .preview import PreviewController
from .session import TrainingSession

if TYPE_CHECKING:
    import napari


class TrainWidget(ViewerWidget):
    """Train a Noise2Noise (or Noise2Clean, or single-image) denoiser on image layers."""

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__(viewer, labels=False)
        #: the current or last training run (``None`` before the first)
        self.session: TrainingSession | None = None
        self.preview = PreviewController(viewer)
        self.denoiser = None  # the last trained model
        self.model_entry = None
        self._roles: dict = {}  # the layers of the current run, by role
        self._snapshots: dict = {}  # the data of the current run, by role
        self._syncing = False  # mode and target are being set to match each other
        self._starting = False  # a run is being started
        self._building = False  # its trainer is being built (off the main thread)

        # ---- the form, the buttons, progress and the loss plot --------------------------------
        #: the settings (the essentials up front, the rest under Advanced)
        self.form = TrainForm(viewer)
        self.train_button = PushButton(text="Train")
        self.stop_button = PushButton(
            text="Stop", enabled=False, tooltip="Stop at the next step; the model so far is kept"
        )
        self.save_button = PushButton(text="Save model…", enabled=False)
        self.progress = ProgressBar(label="progress", value=0, min=0, max=1000)
        # at most two lines: a long message is cut (whole in the tooltip), the dock stays on screen
        self.status = StatusText(label="", value="", lines=2)
        buttons = row(self.train_button, self.stop_button, self.save_button)
        self.append(self.form)
        self.native.layout().addWidget(
            row(buttons, self.progress, self.status, layout="vertical", labels=True).native
        )
        from .plot import LossPlot

        self.plot = LossPlot(theme=getattr(viewer, "theme", "dark"))
        self.native.layout().addWidget(self.plot.legend)
        self.native.layout().addWidget(self.plot.native)
        self.add_help_link("train-noise2noise", buttons)

        # ---- reactions ---------------------------------------------------------------------------
        self.form.input_layer.changed.connect(self._on_input_changed)
        on_choice(self.form.target_layer, self._on_target_changed)
        self.form.mode.changed.connect(self._on_mode_changed)
        self.form.device.changed.connect(self._update_device_label)
        self.train_button.changed.connect(self.start)
        self.stop_button.changed.connect(self.stop)
        self.save_button.changed.connect(self.save_model_as)
        viewer.layers.events.removed.connect(self._on_layer_removed)
        PAIRS.made.connect(self._on_pair_made)

        # ---- first choices: the selected noisy layer, its partner, the device -------------------
        self.reset_choices()
        self._choose_input(preferred_noisy(viewer))
        self._on_input_changed()
        self._on_target_changed()  # no target chosen yet → single-image mode, until one is
        warm_up_torch()
        self._update_device_label()

    # ---- choices ---------------------------------------------------------------------------------
    def _choose_input(self, layer) -> None:
        if layer is not None and layer in self.form.input_layer.choices:
            self.form.input_layer.value = layer

    def on_layer_inserted(self, layer) -> None:
        meta = n2n_meta(self.form.input_layer.value)
        if not self.busy and layer.name in (meta.get("partner"), meta.get("clean")):
            self._on_input_changed()  # the input's partner or clean reference has just been added

    def on_layer_selected(self, layer) -> None:
        """Follow the layer selected in the layer list (noisy images only)."""
        if is_noisy(layer) and layer != self.form.input_layer.value and not self._starting:
            self._choose_input(layer)

    @when_alive
    def _on_pair_made(self, layer) -> None:
        """Noisy pairs made or linked a pair: take it as input and target."""
        if self.busy or layer not in self._viewer.layers:
            return
        self.reset_choices()
        self._choose_input(layer)
        self._on_input_changed()

    # ---- reactions ---------------------------------------------------------------------------------
    def _on_input_changed(self, _=None) -> None:
        """Fill in axes, target, clean and loss from the layer and what Noisy pairs recorded."""
        layer = self.form.input_layer.value
        self.form.axes.set_layer(layer)
        self.form.show_voxel_size(layer)
        meta = n2n_meta(layer)
        partner = find_layer(self._viewer, meta.get("partner"))
        if partner is not None:
            self.form.target_layer.value = partner
        elif meta.get("mode") == "nb2nb" or (
            layer is not None and not fits(self.form.target_layer.value, layer)
        ):
            # the input itself, or a layer of another shape, is no target for it
            self.form.target_layer.value = None
        # the clean reference follows the input: only layers of its shape, the recorded one first
        self.form.clean_layer.reset_choices()
        clean = find_layer(self._viewer, meta.get("clean"))
        if clean is not None and clean in self.form.clean_layer.choices:
            self.form.clean_layer.value = clean
        elif not fits(self.form.clean_layer.value, layer):
            self.form.clean_layer.value = None
        if meta.get("suggested_loss") in dict((v, k) for k, v in LOSS_CHOICES):
            self.form.loss.value = meta["suggested_loss"]

    def _on_target_changed(self, _=None) -> None:
        """The mode follows the target: none → single image; a clean layer → Noise2Clean; else Noise2Noise.

        A target registered by Noisy pairs sets the form's registration.
        """
        target = self.form.target_layer.value
        self.form.register.value = n2n_meta(target).get("register") or "none" if target else "none"
        if not self._syncing:
            self._sync(mode=mode_for(self.form.target_layer.value, self.form.mode.value))

    def _on_mode_changed(self, _=None) -> None:
        """And the target follows the mode: single image → none; a pair mode → the input's partner if none is set."""
        if self._syncing:
            return
        if self.form.mode.value == "nb2nb":
            self._sync(target=None)
        elif self.form.target_layer.value is None:
            partner = find_layer(self._viewer, n2n_meta(self.form.input_layer.value).get("partner"))
            if partner is not None:
                self._sync(target=partner)

    def _sync(self, **values) -> None:
        self._syncing = True
        try:
            if "mode" in values:
                self.form.mode.value = values["mode"]
            if "target" in values:
                self.form.target_layer.value = values["target"]
        finally:
            self._syncing = False

    def _update_device_label(self, _=None) -> None:
        """Describe the chosen device; torch is imported off the main thread for it."""
        self.form.device_label.value = "checking…"
        self.start_side_job(
            describe_device_job,
            self.form.device.value,
            what="Device check",
            on_returned=lambda result: self.show_device(*result),
            on_errored=lambda exc: None,
            hold_gc=False,
        )

    @when_alive
    def show_device(self, label: str, tooltip: str = "", available=None) -> None:
        """Show the device in use, as the device check describes it.

        While no run is going, the preset follows it (a GPU gets the ``gpu`` preset) unless
        the user chose a preset.

        Parameters
        ----------
        label : str
            The device, e.g. ``"cuda:0 (NVIDIA H100 80GB HBM3)"``.
        tooltip : str
            More about it (why a device is not available).
        available : sequence of str, optional
            The devices that exist here (``"cuda"``, ``"mps"``, ``"cpu"``): only these are offered.
        """
        self.form.device_label.value = label
        self.form.device_label.tooltip = tooltip
        if available is not None:
            self.form.offer_devices(available)
        if not self.busy:
            self.form.follow_device(label)

    # ---- building the run ---------------------------------------------------------------------------
    def make_trainer(self, snapshots: dict | None = None, *, off_thread: bool = False):
        """A :class:`~napari_n2n.core.training.train.Trainer` for the chosen layers (raises :class:`N2NError`).

        ``snapshots`` (role → :class:`~._layers.Snapshot`) is filled with the data the run uses.
        The form is read here, on the main thread; with ``off_thread`` the trainer itself (its
        data checks, normalisation, network: seconds on a busy machine) is built in a thread
        while the event loop runs, so the window never freezes (``None`` if the widget closed
        meanwhile).
        """
        from ...core.training.train import Trainer

        snapshots = {} if snapshots is None else snapshots
        layer = self.form.input_layer.value
        target_layer = self.form.target_layer.value
        clean_layer = self.usable_clean()
        snapshots["input"] = Snapshot(image_data(layer, "input", check_values=True))
        config = self.form.config()
        check_roles(layer, target_layer, config.mode)
        for role, other in (("target", target_layer), ("clean", clean_layer)):
            if other is not None:
                # a registered target holds NaN where the warp left it empty (the core checks it)
                checked = not (role == "target" and config.register != "none")
                snapshots[role] = Snapshot(image_data(other, role, check_values=checked))
        data = {role: snap.data for role, snap in snapshots.items()}
        axes = parse_axes(self.form.axes.value)
        build = functools.partial(
            Trainer,
            data["input"],
            data.get("target"),
            axes=axes,
            config=config,
            clean=data.get("clean"),
            noise=n2n_meta(layer).get("noise"),
            voxel_size=self.form.voxel_size_value(),
            **self.form.start_from.trainer_options(),
        )
        return self._build_off_thread(build) if off_thread else build()

    def _build_off_thread(self, build):
        """``build()`` in a thread while Qt events are processed; its exception is raised here."""
        import threading

        from .._jobs import wait_while

        result: dict = {}

        def work() -> None:
            try:
                result["trainer"] = build()
            except BaseException as exc:  # raised again on the main thread
                result["error"] = exc

        thread = threading.Thread(target=work, name="n2n-build", daemon=True)
        self._building = True
        self.train_button.enabled = False
        self.status.value = "Preparing the run (checking the data, building the network)…"
        try:
            thread.start()
            wait_while(thread.is_alive, timeout_s=float("inf"))
        finally:
            self._building = False
            if self.alive:
                self.train_button.enabled = True
                self.status.value = ""
        if "error" in result:
            raise result["error"]
        return result["trainer"] if self.alive else None

    def usable_clean(self):
        """The clean reference if it fits the input; a misfit one is dropped with a note (never an error)."""
        clean = self.form.clean_layer.value
        layer = self.form.input_layer.value
        if clean is None or layer is None or fits(clean, layer):
            return clean
        notify.info(
            f"Training without the clean reference '{short(clean.name)}': its shape "
            f"{data_shape(clean)} does not fit the input '{short(layer.name)}' {data_shape(layer)}, "
            "so no PSNR against a clean image is reported. To report it, choose a clean layer of "
            "the input's shape under Advanced."
        )
        self.form.clean_layer.value = None
        return None

    # ---- public actions -----------------------------------------------------------------------------
    def start(self, _=None) -> TrainingSession | None:
        """Start training on the chosen layers; return the session (``None`` and a notification on errors)."""
        if self.busy or self._building:
            notify.warning(
                "Training is already running. Press Stop (the model so far is kept) or wait for it "
                "to finish before starting another."
            )
            return None
        snapshots: dict = {}
        trainer = self.report(self.make_trainer, snapshots, off_thread=True)
        if trainer is None or not self.alive:
            return None
        layer = self.form.input_layer.value
        if self.form.axes.guessed:
            notify.warning(
                f"Training on '{short(layer.name)}' as {trainer.axes} ({'a 3D model' if 'Z' in trainer.axes else 'a 2D model'}): "
                f"the layer does not say what its {layer.data.ndim} dimensions are. If it is a time series, "
                "press Stop and choose TYX beside 'axes'."
            )
            self.form.axes.confirm()
        session = self.session = TrainingSession(trainer, name=layer.name)
        session.status.events.fraction.connect(self._show_fraction)
        session.status.events.text.connect(self._show_text)
        session.status.events.device.connect(self._show_device_name)
        session.notice.connect(notify.warning)
        self.plot.follow(session)
        self._roles = {
            "input": layer,
            "target": self.form.target_layer.value,
            "clean": self.form.clean_layer.value,
        }
        self._snapshots = snapshots
        self.progress.value = 0
        self.status.value = session.status.text
        if self.form.show_preview.value:
            self._starting = True  # adding the preview layer moves the selection: the input stays
            try:
                self.preview.begin(session, layer, data=snapshots["input"].data)
            except Exception as exc:
                self.preview.off()
                notify.warning(
                    f"No live preview for this run ({type(exc).__name__}: {exc}); training goes on."
                )
            finally:
                self._starting = False
        self.start_job(
            trainer.run,
            what="Training",
            on_yielded=session.apply,
            on_returned=self._on_returned,
            on_errored=self._on_errored,
            on_finished=self._on_finished,
        )
        self._set_running(True)
        return session

    def stop(self, _=None) -> None:
        """Stop at the next step; the run then ends normally and keeps the model so far."""
        if self.session is None or not self.busy:
            return
        self.session.request_stop()
        self.stop_button.enabled = False

    def save_model(self, path, *, overwrite: bool = False) -> str | None:
        """Save the last model to ``path`` (``.n2n`` added if missing); the path, or ``None`` and a notification."""
        if self.denoiser is None:
            notify.error("There is no trained model to save yet: train one first.")
            return None
        saved = save_model(self.denoiser, path, overwrite=overwrite)
        if saved is not None and self.model_entry is not None:
            self.model_entry.path = saved
        return saved

    def save_model_as(self, _=None) -> str | None:
        """Ask where to save the last model (a save dialog, as "Save model…" does) and save it.

        Returns
        -------
        str or None
            The path saved to; ``None`` when there is no model, the dialog was cancelled or
            saving failed (with a notification).
        """
        if self.denoiser is None:
            return None
        path = ask_save_path(
            self.native, self.session.name if self.session is not None else "model"
        )
        if not path:
            return None
        # the dialog asked before replacing a file
        return self.save_model(path, overwrite=True)

    # ---- session → form (main thread) ---------------------------------------------------------------
    @when_alive
    def _show_fraction(self, fraction: float) -> None:
        self.progress.value = int(round(1000 * min(max(fraction, 0.0), 1.0)))

    @when_alive
    def _show_text(self, text: str) -> None:
        self.status.value = text

    @when_alive
    def _show_device_name(self, name: str) -> None:
        self.form.device_label.value = name

    @when_alive
    def _on_returned(self, denoiser) -> None:
        fin = self.session.finished
        if fin is not None and fin.steps_done == 0:
            notify.info("Training stopped before its first step; no model was kept.")
            return
        self._keep_model(denoiser)
        notify.info(f"Model ready: {denoiser.summary()}. Use it in Denoise, or Save model….")

    @when_alive
    def _on_errored(self, exc) -> None:

        from .._jobs import notify_error

        notify_error(exc)
        session = self.session
        session.end(failed=True)
        try:
            denoiser = session.trainer.denoiser()
        except Exception:
            return
        if denoiser.history.get("step"):
            self._keep_model(denoiser, note="before the error")
            notify.info(
                "The model kept before the error is available: use it in Denoise, or Save model…."
            )

    @when_alive
    def _on_finished(self) -> None:
        session = self.session
        if session is not None and session.running:
            session.end()
        self.preview.end(keep=self.form.keep_preview.value)
        self._tell_of_edits()
        self._snapshots = {}
        self._set_running(False)

    def _tell_of_edits(self) -> None:
        """Say which layers changed while training, and what the run learnt from."""
        edited = [role for role, snap in self._snapshots.items() if snap.edited()]
        if edited:
            notify.warning(
                f"The {' and '.join(edited)} layer's data were changed while training (too large to copy), "
                "so the model learnt partly from the changed data. Train again if that matters."
            )
            return
        set_aside = [
            f"'{short(self._roles[role].name)}' ({role})"
            for role, snap in self._snapshots.items()
            if self._roles.get(role) is not None
            and not snap.edited()
            and _not_used(snap, self._roles[role])
        ]
        if set_aside:
            notify.info(
                f"{' and '.join(set_aside)} was edited while training; the run learnt from the "
                "data as they were when Train was pressed. Press Train again to learn from the edits."
            )

    def _keep_model(self, denoiser, note: str = "") -> None:
        self.denoiser = denoiser
        steps = denoiser.history.get("steps_done") or (denoiser.history.get("step") or [0])[-1]
        mode = denoiser.config.mode.upper() if denoiser.config else "N2N"
        label = f"{mode} · {short(self.session.name)} · {steps} steps · {time.strftime('%H:%M:%S')}"
        self.model_entry = MODELS.add(
            denoiser, label + (f" ({note})" if note else ""), trained_on=self._roles.get("input")
        )

    @when_alive
    def _set_running(self, running: bool) -> None:
        for w in self.form.settings:
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
                QTimer.singleShot(
                    0, lambda role=role, name=removed.name: self._warn_removed(role, name)
                )

    @when_alive
    def _warn_removed(self, role: str, name: str) -> None:
        if self.busy:
            notify.warning(
                f"The {role} layer '{name}' was removed while training. Training goes on with the data it "
                "started with; press Stop to end it now (the model so far is kept)."
            )

    def teardown(self) -> None:
        """Stop the run and let go of its data: the trainer, its copies and the layers."""
        if self.session is not None:
            self.session.request_stop()
        try:
            PAIRS.made.disconnect(self._on_pair_made)
        except (TypeError, ValueError, RuntimeError):
            pass
        self.form.start_from.disconnect()
        super().teardown()
        self.preview.release()
        self.plot.release()
        self.session = None
        self._roles = {}
        self._snapshots = {}


def _not_used(snapshot, layer) -> bool:
    """Whether ``layer``'s data now hold changes that the run, trained on ``snapshot``, did not use."""
    try:
        return snapshot.set_aside(image_data(layer, "input"))
    except (N2NError, AttributeError, ValueError, TypeError):  # a layer of another kind now
        return False
