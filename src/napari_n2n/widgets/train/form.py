"""The Train widget's settings: the few chosen up front, the rest in a collapsed "Advanced" section.

Up front: the input and target layers, the axes, the mode, how long to train (minutes or
steps), the preset (network, patch and batch size from :mod:`napari_n2n.core.training.presets`), where to start
(a new network or a trained model to fine-tune, :mod:`._start`) and the device. Under *Advanced*: the clean reference (for PSNR only; filled in from the layers'
metadata), the loss, the network (hidden when a model to start from gives it), whether to keep
that model's normalisation, patch and batch size, learning rate, the device in use and
the preview options. :func:`build_settings` adds them to the widget (as attributes, so scripts
and tests set ``widget.steps.value`` and so on); :func:`training_config` reads them back as a
:class:`~napari_n2n.core.config.TrainConfig`. A later section (e.g. "start from a model") is
one more :func:`~._base.collapsible` added in :func:`build_settings`.
"""

from __future__ import annotations

from magicgui.widgets import CheckBox, ComboBox, Container, FloatSpinBox, Label, SpinBox

from ...core.training.presets import PRESETS
from .._axes import AxesField
from .._base import row
from .._layers import compact, layer_choices
from .device import DEVICES
from .start_from import StartFrom

NONE_TARGET = "none — single image"
NONE_CLEAN = "none"

MODE_CHOICES = [
    ("Noise2Noise (noisy → other noisy copy)", "n2n"),
    ("Noise2Clean (noisy → clean target)", "n2c"),
    ("Single image (Neighbor2Neighbor)", "nb2nb"),
]

LOSS_CHOICES = [
    ("L2 (Gaussian, Poisson: mean)", "l2"),
    ("L1 (impulse noise: median)", "l1"),
    ("annealed L0 (impulse noise: mode)", "l0"),
    ("relative L2 (HDR / high dynamic range)", "hdr"),
]

#: the presets offered up front, in this order (their network, patch and batch size fill Advanced)
PRESET_CHOICES = [
    (PRESETS[name].description, name)
    for name in ("cpu-quick", "standard", "gpu", "cpu-tiny", "large")
]
#: the network sizes offered under Advanced: the presets' networks
NETWORKS = [
    (PRESETS[name].network_label, name) for name in ("standard", "cpu-quick", "cpu-tiny", "large")
]
PRESET_NETWORK = {"gpu": "standard"}  # presets that share another preset's network
BUDGETS = [("minutes", "time"), ("steps", "steps")]
#: validate every this many steps in a time-budgeted run (the step count is not known in advance)
TIMED_VAL_EVERY = 100
#: the step count of a time-budgeted run: the budget ends it long before (the schedule follows the time)
TIMED_STEPS = 10_000_000


def build_settings(widget, viewer) -> tuple[list, Container]:
    """Add the settings to ``widget`` as attributes; return ``(up-front widgets, advanced container)``."""
    w = widget

    def layers(_widget=None):
        return layer_choices(viewer)

    def targets(_widget=None):
        return layer_choices(viewer, none_label=NONE_TARGET)

    def cleans(_widget=None):
        return layer_choices(viewer, none_label=NONE_CLEAN)

    w.input_layer = ComboBox(
        label="input (noisy)",
        choices=layers,
        tooltip="The noisy image to learn from (the layer selected in the layer list)",
    )
    w.target_layer = ComboBox(
        label="target",
        choices=targets,
        tooltip="The second noisy copy (Noise2Noise), the clean image (Noise2Clean), or none "
        "for single-image training; the mode follows it",
    )
    w.clean_layer = ComboBox(
        label="clean (PSNR only)",
        choices=cleans,
        tooltip="Optional clean reference: only used to report PSNR",
    )
    w.axes = AxesField(tooltip="What the dimensions of the input are")
    w.mode = ComboBox(label="mode", choices=MODE_CHOICES, value="n2n")
    w.budget = ComboBox(
        choices=BUDGETS, value="time", tooltip="Train for a time, or for a number of steps"
    )
    w.minutes = FloatSpinBox(
        value=5.0, min=0.1, max=100_000.0, step=1.0, tooltip="Minutes of training"
    )
    w.steps = SpinBox(
        value=2000, min=1, max=1_000_000, step=100, tooltip="Optimiser steps (batches)"
    )
    budget_row = row(w.minutes, w.steps, w.budget, label="train for")
    w.preset = ComboBox(
        label="preset",
        choices=PRESET_CHOICES,
        value="cpu-quick",
        tooltip="Network size, patch and batch size (see Advanced)",
    )
    w.device = ComboBox(label="device", choices=DEVICES, value="auto")
    # advanced
    w.loss = ComboBox(label="loss", choices=LOSS_CHOICES, value="l2")
    w.network = ComboBox(label="network", choices=NETWORKS, value="cpu-quick")
    w.patch_size = SpinBox(label="patch size", value=48, min=8, max=1024, step=8)
    w.batch_size = SpinBox(label="batch size", value=8, min=1, max=1024)
    w.learning_rate = FloatSpinBox(label="learning rate", value=1e-3, min=1e-6, max=0.5, step=1e-4)
    w.device_label = Label(label="in use", value="checking…")
    w.show_preview = CheckBox(text="live preview on the visible region", value=True)
    w.keep_preview = CheckBox(text="keep the preview layer after training", value=False)
    w.start_from = StartFrom(on_change=lambda entry: setattr(w.network, "visible", entry is None))
    start_row = row(w.start_from.model, w.start_from.load_button, label="start from")
    advanced = row(
        w.clean_layer,
        w.loss,
        w.network,
        w.start_from.keep_normalization,
        w.patch_size,
        w.batch_size,
        w.learning_rate,
        w.device_label,
        w.show_preview,
        w.keep_preview,
        layout="vertical",
        labels=True,
    )
    compact(
        w.input_layer,
        w.target_layer,
        w.clean_layer,
        w.mode,
        w.preset,
        w.device,
        w.loss,
        w.network,
        w.start_from.model,
    )
    w.budget.changed.connect(lambda _=None: show_budget(w))
    w.preset.changed.connect(lambda _=None: apply_preset(w))
    show_budget(w)
    apply_preset(w)
    # preset and device share a row: with the start row the dock still fits a 1080-line screen beside the others
    setup_row = row(w.preset, w.device, label="preset, device")
    return [
        w.input_layer,
        w.target_layer,
        w.axes,
        w.mode,
        budget_row,
        setup_row,
        start_row,
    ], advanced


def show_budget(w) -> None:
    """Show the minutes or the steps field, as the budget choice says."""
    timed = w.budget.value == "time"
    w.minutes.visible, w.steps.visible = timed, not timed


def apply_preset(w) -> None:
    """Fill network, patch size, batch size and learning rate from the chosen preset."""
    p = PRESETS[w.preset.value]
    w.network.value = PRESET_NETWORK.get(p.name, p.name)
    defaults = {f: v for f, v in (("patch_size", 64), ("batch_size", 16), ("learning_rate", 1e-3))}
    for field, default in defaults.items():
        getattr(w, field).value = p.options.get(field, default)


def training_config(w):
    """The :class:`~napari_n2n.core.config.TrainConfig` the settings of ``w`` describe."""
    from ...core.config import TrainConfig

    # a model to start from gives the network; so does the preset when its own network is chosen (then a run may
    # start from the general denoiser, see napari_n2n.core.training.start.general_applies)
    own = w.network.value == PRESET_NETWORK.get(w.preset.value, w.preset.value)
    depth, base = (
        (None, None) if w.start_from.entry is not None or own else PRESETS[w.network.value].network
    )
    if w.budget.value == "time":
        budget = dict(
            steps=TIMED_STEPS,
            time_budget_s=60.0 * float(w.minutes.value),
            val_every=TIMED_VAL_EVERY,
        )
    else:
        budget = dict(steps=int(w.steps.value))
    return TrainConfig(
        mode=w.mode.value,
        loss=w.loss.value,
        patch_size=int(w.patch_size.value),
        batch_size=int(w.batch_size.value),
        learning_rate=float(w.learning_rate.value),
        depth=depth,
        base_channels=base,
        device=w.device.value,
        preset=w.preset.value,
        **budget,
    )


def mode_for(target, mode: str) -> str:
    """The mode a target implies: none → single image; a clean reference → Noise2Clean; a noisy copy made
    by napari-n2n → Noise2Noise; another layer → ``mode`` (Noise2Noise instead of single image)."""
    from .._layers import n2n_meta

    role = n2n_meta(target).get("role")
    if target is None:
        return "nb2nb"
    if role == "clean":
        return "n2c"
    if role in ("noisy A", "noisy B", "frames t", "frames t+1"):
        return "n2n"
    return mode if mode != "nb2nb" else "n2n"


def check_roles(layer, target, mode: str) -> None:
    """Raise :class:`~napari_n2n.core.errors.InputError` unless input ``layer``, ``target`` and ``mode`` fit together."""
    from ...core.errors import InputError

    if target is None and mode != "nb2nb":
        raise InputError(
            f"Mode {mode} needs a target layer: choose the second noisy copy (Noise2Noise) or the clean "
            "image (Noise2Clean) as target, or mode 'Single image' to train on the input alone."
        )
    if target is not None and mode == "nb2nb":
        raise InputError(
            "Single-image mode takes no target: set target to 'none — single image', or choose mode "
            "Noise2Noise."
        )
    if target is not None and target == layer:
        raise InputError(
            f"Input and target are the same layer ('{layer.name}'). Choose the second noisy copy as "
            "target (Noisy pairs makes one), or target 'none — single image'."
        )
