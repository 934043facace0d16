"""Noisy pairs: make or pick the pair of noisy images that Noise2Noise trains on.

Five sources, one per :mod:`napari_n2n.core.data.pairs` function (and the photon split):

* *synthesise* — a clean layer and a noise model → two new layers "noisy A" and "noisy B"
  (:func:`~napari_n2n.core.data.pairs.synthetic_pair`);
* *two layers* — two noisy acquisitions of the same scene (:func:`~napari_n2n.core.data.pairs.two_images`);
* *stack* — consecutive frames/slices of one noisy stack (:func:`~napari_n2n.core.data.pairs.stack_neighbours`),
  shown as two view layers (no copy): frames t and frames t+1;
* *single image* — one noisy image, trained by neighbour sub-sampling
  (:func:`~napari_n2n.core.data.pairs.single_image`);
* *photon split* — one photon-count image split into two with independent noise (:mod:`._photon`).

For two layers and stacks, "Check pair" (:mod:`._pair_check`) measures the shift, brightness
difference and noise of the pair and says what to do about each.

New layers are named letter first ("A · camera noisy · …", "B · …"), so A and B stay apart in
the layer list when napari elides long names. The layers remember their partner, clean
reference, axes and noise in ``layer.metadata`` from the moment they are added, and the Train
widget is told of every pair made (:data:`~._registry.PAIRS`): it takes A as input and B as
target. The layer choices start from the layer selected in the layer list; A and B default to
two different layers (the selected layer and its partner where one is recorded).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import ComboBox, FloatSpinBox, Label, PushButton, SpinBox

from ...core.data.noise import noise_params
from .. import _notify as notify
from .._axes import AxesField
from .._base import ViewerWidget, row
from .._layers import (
    axes_for,
    central_plane,
    compact,
    find_layer,
    fmt_sigma,
    image_data,
    image_layers,
    is_noisy,
    layer_choices,
    n2n_meta,
    n2n_metadata,
    noise_estimate,
    parse_axes,
    placement,
    preferred_noisy,
    robust_limits,
    set_n2n_meta,
    unique_name,
)
from .._registry import PAIRS
from .pair_check import PairCheckPanel
from .photon import photon_fields, split_layer, split_note

if TYPE_CHECKING:
    import napari

SOURCES = [
    ("synthesise from a clean layer", "synthetic"),
    ("two noisy layers", "two"),
    ("neighbouring frames of a stack", "stack"),
    ("one noisy image (single-image mode)", "single"),
    ("one photon-count image (photon split)", "photon"),
]

NOISE_CHOICES = [
    ("Gaussian (additive)", "gaussian"),
    ("Poisson (shot noise)", "poisson"),
    ("Poisson-Gaussian (camera)", "poisson_gaussian"),
    ("impulse (salt & pepper)", "impulse"),
    ("Bernoulli (dropped pixels)", "bernoulli"),
]

BUTTON_TEXT = {
    "synthetic": "Make noisy pair",
    "two": "Use as pair",
    "stack": "Make frame pairs",
    "single": "Use for single-image training",
    "photon": "Split into a pair",
}


class NoisyPairsWidget(ViewerWidget):
    """Make a noisy pair from a clean layer, or pick a pair, a stack or one noisy image."""

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__(viewer)
        self.source = ComboBox(label="pairs from", choices=SOURCES, value="synthetic")
        # synthesise
        self.clean_layer = ComboBox(label="clean layer", choices=self._image_choices)
        self.noise = ComboBox(label="noise model", choices=NOISE_CHOICES, value="gaussian")
        self.sigma = FloatSpinBox(
            label="sigma",
            value=25.0,
            min=0.0,
            max=1e9,
            step=1.0,
            tooltip="Standard deviation of the noise, in the image's units",
        )
        self.peak = FloatSpinBox(
            label="peak photons",
            value=30.0,
            min=0.01,
            max=1e9,
            step=1.0,
            tooltip="Expected photons at the brightest pixel: lower is noisier",
        )
        self.gain = FloatSpinBox(
            label="gain", value=2.0, min=1e-6, max=1e9, step=0.5, tooltip="Image units per electron"
        )
        self.read_sigma = FloatSpinBox(
            label="read noise sigma", value=5.0, min=0.0, max=1e9, step=1.0
        )
        self.fraction = FloatSpinBox(
            label="fraction of pixels", value=0.1, min=0.0, max=1.0, step=0.01
        )
        self.kind = ComboBox(
            label="impulse values",
            choices=[("min/max (salt & pepper)", "salt_pepper"), ("random", "random")],
            value="salt_pepper",
        )
        self.p = FloatSpinBox(label="drop probability", value=0.5, min=0.0, max=0.99, step=0.05)
        self.seed = SpinBox(label="seed", value=0, min=0, max=2**31 - 1)
        # two layers
        self.layer_a = ComboBox(label="noisy A", choices=self._image_choices)
        self.layer_b = ComboBox(label="noisy B", choices=self._image_choices)
        # stack
        self.stack_layer = ComboBox(label="noisy stack", choices=self._image_choices)
        self.pair_axis = ComboBox(label="pair along", choices=self._axis_choices)
        self.stack_axes = AxesField(
            tooltip="What the dimensions of the stack are (the pairing axis becomes a sample axis)"
        )
        # one image
        self.single_layer = ComboBox(label="noisy image", choices=self._image_choices)
        # photon split
        self.photon_layer, self.photon_auto, self.photon_gain, self.photon_offset = photon_fields(
            self._image_choices
        )
        self.estimate = Label(label="noise σ (est.)", value="")
        self.run_button = PushButton(text=BUTTON_TEXT["synthetic"])
        self.check = PairCheckPanel(self._pair_to_check, report_error=self.report)
        buttons = row(self.run_button)
        from qtpy.QtWidgets import QSizePolicy

        self.run_button.native.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.extend(
            [
                self.source,
                self.clean_layer,
                self.noise,
                self.sigma,
                self.peak,
                self.gain,
                self.read_sigma,
                self.fraction,
                self.kind,
                self.p,
                self.seed,
                self.layer_a,
                self.layer_b,
                self.stack_layer,
                self.pair_axis,
                self.stack_axes,
                self.single_layer,
                self.photon_layer,
                self.photon_auto,
                self.photon_gain,
                self.photon_offset,
                self.estimate,
                buttons,
                self.check,
            ]
        )
        self.add_help_link("noisy-pairs", buttons)
        compact(
            self.source,
            self.clean_layer,
            self.noise,
            self.kind,
            self.layer_a,
            self.layer_b,
            self.stack_layer,
            self.pair_axis,
            self.single_layer,
            self.photon_layer,
        )
        #: the noise parameters' fields, by parameter name
        self.params = {
            "sigma": self.sigma,
            "peak": self.peak,
            "gain": self.gain,
            "read_sigma": self.read_sigma,
            "fraction": self.fraction,
            "kind": self.kind,
            "p": self.p,
        }
        self._groups = {
            "synthetic": [self.clean_layer, self.noise, self.seed],
            "two": [self.layer_a, self.layer_b],
            "stack": [self.stack_layer, self.pair_axis, self.stack_axes],
            "single": [self.single_layer],
            "photon": [self.photon_layer, self.photon_auto, self.photon_gain, self.photon_offset],
        }
        self.source.changed.connect(self._update_visibility)
        self.noise.changed.connect(self._update_visibility)
        self.clean_layer.changed.connect(self._on_clean_changed)
        for w in (self.layer_a, self.layer_b, self.single_layer, self.photon_layer):
            w.changed.connect(self._update_estimate)
        for w in (self.layer_a, self.layer_b, self.stack_layer, self.pair_axis):
            w.changed.connect(self.check.clear)
        self.photon_auto.changed.connect(self._update_visibility)
        self.stack_layer.changed.connect(self._on_stack_changed)
        self.run_button.changed.connect(self.start)
        self.reset_choices()
        self.choose_defaults()
        self._update_visibility()
        self._on_clean_changed()
        self._on_stack_changed()

    # ---- choices -------------------------------------------------------------------------------
    def _image_choices(self, _widget=None):
        return layer_choices(self._viewer)

    def _axis_choices(self, _widget=None):
        layer = self.stack_layer.value if hasattr(self, "stack_layer") else None
        if layer is None or getattr(layer.data, "ndim", 0) < 3:
            return [("(choose a stack with 3 or more dimensions)", None)]
        shape = layer.data.shape
        return [(f"axis {i} ({shape[i]} frames/slices)", i) for i in range(layer.data.ndim - 2)]

    def choose_defaults(self, selected=None) -> None:
        """Start every layer choice from the user's layer: ``selected`` (default: the one selected in the layer list).

        The clean layer is the selected layer unless napari-n2n made it (a noisy copy, a result),
        else a layer marked as a clean reference; A, the stack and the single image are the selected noisy layer; B is A's partner if
        one is recorded, else another noisy layer, never A itself.
        """
        viewer = self._viewer
        active = selected if selected is not None else viewer.layers.selection.active
        cleans = [layer for layer in image_layers(viewer) if n2n_meta(layer).get("role") == "clean"]
        plain = [active] if active is not None and not n2n_meta(active).get("role") else []
        for layer in (*plain, *cleans):
            if layer in self.clean_layer.choices:
                self.clean_layer.value = layer
                break
        first = preferred_noisy(viewer, prefer=[active] if active is not None else [])
        for combo in (self.layer_a, self.single_layer):
            if first is not None:
                combo.value = first
        stack = preferred_noisy(viewer, min_ndim=3)
        if stack is not None:
            self.stack_layer.value = stack
        partner = find_layer(viewer, n2n_meta(self.layer_a.value).get("partner"))
        second = (
            partner
            if partner is not None
            else preferred_noisy(viewer, exclude=[self.layer_a.value])
        )
        if second is not None:
            self.layer_b.value = second

    def on_layer_selected(self, layer) -> None:
        if is_noisy(layer) or n2n_meta(layer).get("role") == "clean":
            self.choose_defaults(layer)

    # ---- reactions -------------------------------------------------------------------------------
    def _update_visibility(self, _=None) -> None:
        mode = self.source.value
        for key, widgets in self._groups.items():
            for w in widgets:
                w.visible = key == mode
        shown = noise_params(self.noise.value) if mode == "synthetic" else ()
        for name, w in self.params.items():
            w.visible = name in shown
        for w in (self.photon_gain, self.photon_offset):
            w.visible = mode == "photon" and not self.photon_auto.value
        self.check.visible = mode in ("two", "stack")
        self.run_button.text = BUTTON_TEXT[mode]
        self._update_estimate()

    def _on_clean_changed(self, _=None) -> None:
        """Scale the default noise parameters to the clean layer's intensity range."""
        layer = self.clean_layer.value
        if layer is not None and not getattr(layer, "rgb", False):
            try:
                lo, hi = robust_limits(central_plane(layer.data), low=0.5, high=99.5)
            except (TypeError, ValueError):
                lo, hi = 0.0, 1.0
            span = hi - lo
            self.sigma.value = float(f"{0.1 * span:.2g}")
            self.read_sigma.value = float(f"{0.02 * span:.2g}")
            self.gain.value = float(f"{max(hi, 1e-6) / 100:.2g}")
        self._update_estimate()

    def _on_stack_changed(self, _=None) -> None:
        self.pair_axis.reset_choices()
        self.stack_axes.set_layer(self.stack_layer.value)
        self._update_estimate()

    def _update_estimate(self, _=None) -> None:
        """Show the estimated noise level of the chosen layer(s)."""
        mode = self.source.value
        layers = {
            "synthetic": [("clean", self.clean_layer.value)],
            "two": [("A", self.layer_a.value), ("B", self.layer_b.value)],
            "stack": [("stack", self.stack_layer.value)],
            "single": [("image", self.single_layer.value)],
            "photon": [("image", self.photon_layer.value)],
        }[mode]
        parts = []
        for role, layer in layers:
            if layer is None or getattr(layer, "rgb", False) or getattr(layer, "multiscale", False):
                continue
            parts.append(f"{role} ≈ {fmt_sigma(noise_estimate(layer.data))}")
        self.estimate.value = ", ".join(parts)

    # ---- actions -----------------------------------------------------------------------------------
    def noise_model(self):
        """The noise model chosen in the widget (a :class:`~napari_n2n.core.data.noise.NoiseModel`)."""
        from ...core.data.noise import make_noise

        name = self.noise.value
        return make_noise(name, **{p: self.params[p].value for p in noise_params(name)})

    def start(self, _=None) -> list:
        """Run the chosen source (as the button does); return the layers it added (errors become notifications)."""
        action = {
            "synthetic": self.make_synthetic_pair,
            "two": self.use_two_layers,
            "stack": self.make_stack_pairs,
            "single": self.use_single_image,
            "photon": self.make_photon_pair,
        }[self.source.value]
        return self.report(action) or []

    def make_synthetic_pair(self) -> list:
        """Add two noisy copies of the clean layer, "noisy A" and "noisy B"; return them."""

        from ...core.data.pairs import synthetic_pair

        src = self.clean_layer.value
        data = image_data(src, "clean", check_values=True)
        noise = self.noise_model()
        if not n2n_meta(src).get("role"):
            set_n2n_meta(
                src, role="clean"
            )  # the reference of the pair: never offered as noisy data
        pair = synthetic_pair(np.asarray(data), noise, seed=int(self.seed.value))
        desc = noise.describe()
        limits = robust_limits(pair.input)
        common = dict(
            placement(src),
            contrast_limits=limits,
            colormap=src.colormap.name,
            blending=src.blending,
        )
        meta = dict(
            clean=src.name,
            noise=noise.to_dict(),
            axes=pair.axes,
            suggested_loss=noise.suggested_loss,
        )
        layer_a, layer_b = self._add_pair(
            pair,
            f"A · {src.name} noisy · {desc}",
            f"B · {src.name} noisy · {desc}",
            ("noisy A", "noisy B"),
            meta,
            **common,
        )
        sigma = noise_estimate(pair.input)
        self.estimate.value = f"A ≈ {fmt_sigma(sigma)} (clean ≈ {fmt_sigma(noise_estimate(data))})"
        notify.info(
            f"Added '{layer_a.name}' and '{layer_b.name}'. Next: Train Noise2Noise with A as input "
            f"and B as target ('{src.name}' as clean reports PSNR)."
        )
        return [layer_a, layer_b]

    def _add_pair(
        self, pair, name_a: str, name_b: str, roles: tuple[str, str], meta: dict, **kwargs
    ) -> list:
        """Add the two layers of ``pair`` (B hidden) with their metadata, select A, and tell the Train widget."""
        name_a = unique_name(self._viewer, name_a)
        name_b = unique_name(self._viewer, name_b)
        layer_a = self._viewer.add_image(
            pair.input,
            name=name_a,
            metadata=n2n_metadata(**meta, role=roles[0], partner=name_b),
            **kwargs,
        )
        layer_b = self._viewer.add_image(
            pair.target,
            name=name_b,
            visible=False,
            metadata=n2n_metadata(**meta, role=roles[1], partner=name_a),
            **kwargs,
        )
        self._viewer.layers.selection.active = layer_a
        PAIRS.made.emit(layer_a)
        return [layer_a, layer_b]

    def use_two_layers(self) -> list:
        """Check that layers A and B form a pair (same shape) and link them; return ``[]``."""

        from ...core.data.pairs import two_images
        from ...core.errors import InputError

        la, lb = self.layer_a.value, self.layer_b.value
        a = image_data(la, "noisy A", check_values=True)
        b = image_data(lb, "noisy B", check_values=True)
        if la == lb:
            raise InputError(
                f"A and B are the same layer ('{la.name}'). "
                "Choose two noisy acquisitions of the same scene."
            )
        pair = two_images(a, b, axes=axes_for(la, None))
        set_n2n_meta(la, role="noisy A", partner=lb.name, axes=pair.axes)
        set_n2n_meta(lb, role="noisy B", partner=la.name, axes=pair.axes)
        self._update_estimate()
        PAIRS.made.emit(la)
        notify.info(
            f"'{la.name}' and '{lb.name}' form a pair ({pair.axes}, shape {tuple(a.shape)}). "
            "Next: Train Noise2Noise with A as input and B as target."
        )
        return []

    def make_stack_pairs(self) -> list:
        """Add frames t and t+1 of the stack as two view layers (no copy); return them."""

        from ...core.data.pairs import stack_neighbours
        from ...core.errors import InputError

        src = self.stack_layer.value
        data = image_data(src, "stack", check_values=True)
        axis = self.pair_axis.value
        if axis is None:
            raise InputError(
                f"Layer '{src.name}' is {data.ndim}D; pairing neighbouring frames needs a stack "
                "(3 or more dimensions). For one 2D image use single-image mode."
            )
        pair = stack_neighbours(data, axis=int(axis), axes=parse_axes(self.stack_axes.value))
        limits = tuple(float(v) for v in src.contrast_limits)
        meta = dict(axes=pair.axes, source=src.name, pair_axis=int(axis))
        layer_a, layer_b = self._add_pair(
            pair,
            f"A · {src.name} frames t (axis {axis})",
            f"B · {src.name} frames t+1 (axis {axis})",
            ("frames t", "frames t+1"),
            meta,
            contrast_limits=limits,
            colormap=src.colormap.name,
            **placement(src),
        )
        notify.info(
            f"Added '{layer_a.name}' and '{layer_b.name}' ({pair.input.shape[int(axis)]} pairs, axes "
            f"{pair.axes}). Next: Train Noise2Noise with them as input and target."
        )
        return [layer_a, layer_b]

    def use_single_image(self) -> list:
        """Mark the layer for single-image (Neighbor2Neighbor) training; return ``[]``."""

        from ...core.data.pairs import single_image

        layer = self.single_layer.value
        data = image_data(layer, "noisy image", check_values=True)
        pair = single_image(data, axes=axes_for(layer, None))
        set_n2n_meta(layer, mode="nb2nb", axes=pair.axes)
        self._update_estimate()
        PAIRS.made.emit(layer)
        notify.info(
            f"'{layer.name}' is ready for single-image training: in Train Noise2Noise choose it as input "
            "and target 'none — single image'."
        )
        return []

    def make_photon_pair(self) -> list:
        """Split the photon-count layer into two layers with independent noise; return them."""
        src = self.photon_layer.value
        given = (
            (None, None)
            if self.photon_auto.value
            else (self.photon_gain.value, self.photon_offset.value)
        )
        pair, gain, offset, how = split_layer(
            src, gain=given[0], offset=given[1], seed=int(self.seed.value)
        )
        self.photon_gain.value, self.photon_offset.value = gain, offset
        meta = dict(axes=pair.axes, source=src.name, photon_split={"gain": gain, "offset": offset})
        layers = self._add_pair(
            pair,
            f"A · {src.name} photons",
            f"B · {src.name} photons",
            ("noisy A", "noisy B"),
            meta,
            contrast_limits=robust_limits(pair.input),
            colormap=src.colormap.name,
            **placement(src),
        )
        notify.info(split_note(src.name, layers, gain, offset, how))
        return layers

    # ---- pair check ----------------------------------------------------------------------------
    def _pair_to_check(self):
        """``(a, b, axes)`` of the chosen pair, for :class:`PairCheckPanel` (a stack: frames t and t+1)."""
        from ...core.data.pairs import stack_neighbours
        from ...core.errors import InputError

        if self.source.value != "stack":
            la, lb = self.layer_a.value, self.layer_b.value
            return image_data(la, "noisy A"), image_data(lb, "noisy B"), axes_for(la, None)
        axis = self.pair_axis.value
        if axis is None:
            raise InputError(
                "Choose a stack with 3 or more dimensions to check its neighbouring frames."
            )
        pair = stack_neighbours(
            image_data(self.stack_layer.value, "stack"),
            axis=int(axis),
            axes=parse_axes(self.stack_axes.value),
        )
        return pair.input, pair.target, pair.axes

    def teardown(self) -> None:
        self.check.teardown()
        super().teardown()
