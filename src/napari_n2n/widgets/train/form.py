"""The Train widget's settings: the few chosen up front, the rest in a collapsed "Advanced" section.

Up front: the input and target layers, the axes, the mode, how long to train (minutes or
steps), the preset (network, patch and batch size from :mod:`napari_n2n.core.training.presets`),
where to start (a new network or a trained model to fine-tune, :mod:`.start_from`) and the
device. Under *Advanced*: the clean reference (for PSNR only; filled in from the layers'
metadata), the loss, the network (hidden when a model to start from gives it), whether to keep
that model's normalisation, patch and batch size, learning rate, the device in use and the
preview options. :class:`TrainForm` holds them all as its attributes (scripts and tests set
``widget.form.steps.value`` and so on) and reads them back as a
:class:`~napari_n2n.core.config.TrainConfig` (:meth:`TrainForm.config`). A later section (e.g.
"start from a model") is one more :func:`~.._base.collapsible` added in :class:`TrainForm`.
"""

from __future__ import annotations

from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FloatSpinBox,
    Label,
    LineEdit,
    SpinBox,
)

from ...core.training.presets import PRESETS
from .._axes import AxesField
from .._base import SPACING, collapsible, explain_choices, row
from .._layers import compact, fits, layer_choices
from .device import START_DEVICES, device_choices
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

#: the presets offered up front, in this order, by a short label that fits the field (the full
#: description is the field's tooltip; their network, patch and batch size fill Advanced)
PRESET_LABELS = {
    "cpu-quick": "quick (CPU)",
    "standard": "standard",
    "gpu": "GPU",
    "cpu-tiny": "tiny (seconds)",
    "large": "large",
}
PRESET_CHOICES = [(label, name) for name, label in PRESET_LABELS.items()]
#: the network sizes offered under Advanced: the presets' networks
NETWORKS = [
    (PRESETS[name].network_label, name) for name in ("standard", "cpu-quick", "cpu-tiny", "large")
]
PRESET_NETWORK = {"gpu": "standard"}  # presets that share another preset's network
#: patch size, batch size and learning rate of a preset that does not set them
PRESET_FALLBACKS = {"patch_size": 64, "batch_size": 16, "learning_rate": 1e-3}
BUDGETS = [("minutes", "time"), ("steps", "steps")]


class TrainForm(Container):
    """The Train widget's settings: the essentials up front, the rest under a collapsed *Advanced*.

    Every field is an attribute of the form, so a script sets ``form.steps.value = 500`` as a
    user would. The preset fills network, patch size, batch size and learning rate; the budget
    shows minutes or steps; a model to start from hides the network choice.

    Parameters
    ----------
    viewer : napari.viewer.Viewer
        The viewer whose image layers the layer fields offer.
    """

    def __init__(self, viewer):
        super().__init__(labels=True)
        self._viewer = viewer
        # the user chose a preset: the device check leaves it alone
        self._preset_chosen = False

        # ---- up front -----------------------------------------------------------------------
        self.input_layer = ComboBox(
            label="input (noisy)",
            choices=self._layers,
            tooltip="The noisy image to learn from (the layer selected in the layer list)",
        )
        self.target_layer = ComboBox(
            label="target",
            choices=self._targets,
            tooltip="The second noisy copy (Noise2Noise), the clean image (Noise2Clean), or none "
            "for single-image training; the mode follows it",
        )
        self.axes = AxesField(tooltip="What the dimensions of the input are")
        self.mode = ComboBox(label="mode", choices=MODE_CHOICES, value="n2n")
        self.budget = ComboBox(
            choices=BUDGETS, value="time", tooltip="Train for a time, or for a number of steps"
        )
        self.minutes = FloatSpinBox(
            value=5.0, min=0.1, max=100_000.0, step=1.0, tooltip="Minutes of training"
        )
        self.steps = SpinBox(
            value=2000, min=1, max=1_000_000, step=100, tooltip="Optimiser steps (batches)"
        )
        self.preset = ComboBox(
            label="preset",
            choices=PRESET_CHOICES,
            value="cpu-quick",
            tooltip="Network size, patch and batch size (see Advanced)",
        )
        # the devices that exist here are added when the device check has found them
        self.device = ComboBox(label="device", choices=START_DEVICES, value="auto")

        # ---- advanced -------------------------------------------------------------------------
        self.clean_layer = ComboBox(
            label="clean (PSNR only)",
            choices=self._cleans,
            tooltip="Optional clean reference: only used to report PSNR",
        )
        self.loss = ComboBox(label="loss", choices=LOSS_CHOICES, value="l2")
        self.register = ComboBox(
            label="target registered",
            choices=["none", "shift", "flow"],
            value="none",
            tooltip="How the target frames were registered onto the input (Noisy pairs → stack → "
            "register; set from the target layer): when registered, its empty (NaN) pixels are "
            "left out of the loss",
        )
        self.network = ComboBox(label="network", choices=NETWORKS, value="cpu-quick")
        self.patch_size = SpinBox(label="patch size", value=48, min=8, max=1024, step=8)
        self.batch_size = SpinBox(label="batch size", value=8, min=1, max=1024)
        self.learning_rate = FloatSpinBox(
            label="learning rate", value=1e-3, min=1e-6, max=0.5, step=1e-4
        )
        self.voxel_size = LineEdit(
            label="voxel size z y x",
            value="",
            tooltip="A volume's voxel size (any unit; from the layer's scale). A z-step coarser than "
            "the pixel size gives a network that pools in y and x only at its top levels. Empty: "
            "isotropic.",
        )
        self.device_label = Label(label="in use", value="checking…")
        self.show_preview = CheckBox(text="live preview on the visible region", value=True)
        self.keep_preview = CheckBox(text="keep the preview layer after training", value=False)
        self.start_from = StartFrom(on_change=self._on_start_changed)

        # ---- layout ---------------------------------------------------------------------------
        budget_row = row(self.minutes, self.steps, self.budget, label="train for")
        # preset and device share a row: with the start row the dock still fits a 1080-line
        # screen beside the others
        setup_row = row(self.preset, self.device, label="preset, device")
        start_row = row(self.start_from.model, self.start_from.load_button, label="start from")
        self.extend(
            [
                self.input_layer,
                self.target_layer,
                self.axes,
                self.mode,
                budget_row,
                setup_row,
                start_row,
            ]
        )
        #: the fields of the Advanced section
        self.advanced_fields = row(
            self.clean_layer,
            self.loss,
            self.register,
            self.network,
            self.start_from.keep_normalization,
            self.patch_size,
            self.batch_size,
            self.learning_rate,
            self.voxel_size,
            self.device_label,
            self.show_preview,
            self.keep_preview,
            layout="vertical",
            labels=True,
        )
        #: the collapsed "Advanced" section (a superqt ``QCollapsible``)
        self.advanced = collapsible("Advanced", self.advanced_fields)
        self.native.layout().addWidget(self.advanced)
        self.margins = (0, 0, 0, 0)
        self.native.layout().setSpacing(SPACING)
        compact(
            self.input_layer,
            self.target_layer,
            self.clean_layer,
            self.mode,
            self.preset,
            self.device,
            self.loss,
            self.network,
            self.start_from.model,
        )

        explain_choices(
            self.preset,
            lambda name: (
                f"{PRESETS[name].description}. Network size, patch and batch size (see Advanced)"
            ),
        )

        # ---- reactions ------------------------------------------------------------------------
        self.budget.changed.connect(self._show_budget)
        self.preset.changed.connect(self._on_preset_changed)
        self.axes.text.changed.connect(self._on_axes_changed)
        self._show_budget()
        self.apply_preset()

    # ---- choices ----------------------------------------------------------------------------------
    def _layers(self, _widget=None):
        return layer_choices(self._viewer)

    def _targets(self, _widget=None):
        return layer_choices(self._viewer, none_label=NONE_TARGET)

    def _cleans(self, _widget=None):
        """ "none" and the layers of the input's shape: a clean reference must fit the input."""
        layer = self.input_layer.value if hasattr(self, "input_layer") else None
        choices = layer_choices(self._viewer, none_label=NONE_CLEAN)
        return [(name, other) for name, other in choices if other is None or fits(other, layer)]

    def reset_choices(self, *_args) -> None:
        """Update the layer lists, the Advanced section's (clean layer) included."""
        super().reset_choices()
        self.advanced_fields.reset_choices()

    @property
    def settings(self) -> list:
        """The fields a user sets (disabled while training; the device in use is not one)."""
        return [
            self.input_layer,
            self.target_layer,
            self.axes,
            self.mode,
            self.budget,
            self.minutes,
            self.steps,
            self.preset,
            self.device,
            self.clean_layer,
            self.loss,
            self.register,
            self.network,
            self.patch_size,
            self.batch_size,
            self.learning_rate,
            self.voxel_size,
            self.keep_preview,
            *self.start_from.widgets,
        ]

    # ---- reactions ----------------------------------------------------------------------------------
    def _show_budget(self, _=None) -> None:
        """Show the minutes or the steps field, as the budget choice says."""
        timed = self.budget.value == "time"
        self.minutes.visible = timed
        self.steps.visible = not timed

    def _on_preset_changed(self, _=None) -> None:
        self._preset_chosen = True
        self.apply_preset()

    def _on_start_changed(self, entry) -> None:
        # a model to start from gives the network
        self.network.visible = entry is None

    def apply_preset(self) -> None:
        """Fill network, patch size, batch size and learning rate from the chosen preset (its 3D
        options for axes with Z)."""
        chosen = PRESETS[self.preset.value]
        self.network.value = PRESET_NETWORK.get(chosen.name, chosen.name)
        self._applied_ndim = self.spatial_ndim
        options = chosen.options_for(self._applied_ndim)
        for name, fallback in PRESET_FALLBACKS.items():
            getattr(self, name).value = options.get(name, fallback)

    @property
    def spatial_ndim(self) -> int:
        """3 when the axes name Z (a volume), else 2."""
        return 3 if "Z" in self.axes.value else 2

    def _on_axes_changed(self, _=None) -> None:
        # a volume trains with the preset's 3D patch and batch (24³ × 4 on the CPU, not 48² × 8)
        if self.spatial_ndim != getattr(self, "_applied_ndim", None):
            self.apply_preset()
        # the layer's scale is a voxel size only for axes with Z
        self.show_voxel_size(self.input_layer.value)

    def show_voxel_size(self, layer) -> None:
        """Fill the voxel size from a volume layer's scale (empty where it is isotropic or 2D)."""
        from ...core.training.start import voxel_size_from

        scale = None if layer is None else [float(v) for v in layer.scale]
        sizes = voxel_size_from(scale, self.axes.value)
        anisotropic = sizes is not None and len(set(sizes)) > 1
        self.voxel_size.value = " ".join(f"{v:g}" for v in sizes) if anisotropic else ""

    def voxel_size_value(self):
        """The voxel size typed or read, ``(z, y, x)``, or ``None`` (raises ``InputError`` if malformed)."""
        from ...core.training.start import parse_voxel_size

        return parse_voxel_size(self.voxel_size.value) if self.spatial_ndim == 3 else None

    def offer_devices(self, available) -> None:
        """Offer automatic choice and the devices ``available`` here (e.g. ``("cuda", "cpu")``) only."""
        choices = device_choices(available)
        if [name for _label, name in choices] != list(self.device.choices):
            self.device.choices = choices

    def follow_device(self, device: str) -> None:
        """Choose the preset that suits ``device`` (as the device check describes it), unless the
        user chose a preset.

        Parameters
        ----------
        device : str
            The device in use, e.g. ``"cuda:0 (NVIDIA H100 80GB HBM3)"`` or ``"cpu (2 threads)"``:
            a GPU gets the ``gpu`` preset, anything else ``cpu-quick``.
        """
        if self._preset_chosen:
            return
        preset = "gpu" if device.lower().startswith(("cuda", "nvidia")) else "cpu-quick"
        if self.preset.value != preset:
            self.preset.value = preset
            # chosen for the user, not by them
            self._preset_chosen = False

    # ---- reading the form ---------------------------------------------------------------------------
    def config(self):
        """The training configuration the form describes.

        Returns
        -------
        napari_n2n.core.config.TrainConfig
            Mode, loss, patch and batch size, learning rate, device, preset, budget and the
            target's registration as set;
            the network's depth and width only when the form chooses a network of its own.
        """
        from ...core.config import TrainConfig

        # a model to start from gives the network; so does the preset when its own network is
        # chosen (then a run may start from the general denoiser, see
        # napari_n2n.core.training.start.general_applies)
        own = self.network.value == PRESET_NETWORK.get(self.preset.value, self.preset.value)
        if self.start_from.entry is not None or own:
            depth = None
            base = None
        else:
            depth, base = PRESETS[self.network.value].network
        return TrainConfig(
            mode=self.mode.value,
            loss=self.loss.value,
            patch_size=int(self.patch_size.value),
            batch_size=int(self.batch_size.value),
            learning_rate=float(self.learning_rate.value),
            depth=depth,
            base_channels=base,
            device=self.device.value,
            preset=self.preset.value,
            register=self.register.value if self.mode.value == "n2n" else "none",
            **self._budget(),
        )

    def _budget(self) -> dict:
        """The :class:`~napari_n2n.core.config.TrainConfig` options of the budget: time or steps."""
        if self.budget.value == "time":
            # no step count: time alone ends the run (the core validates on its own schedule)
            return {"steps": None, "time_budget_s": 60.0 * float(self.minutes.value)}
        return {"steps": int(self.steps.value)}


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
