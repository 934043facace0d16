"""Noisy pairs: make or pick the pair of noisy images that Noise2Noise trains on.

Four sources, one per :mod:`napari_n2n.core.pairs` function:

* *synthesise* — a clean layer and a noise model → two new layers "noisy A" and "noisy B"
  (:func:`~napari_n2n.core.pairs.synthetic_pair`);
* *two layers* — two noisy acquisitions of the same scene (:func:`~napari_n2n.core.pairs.two_images`);
* *stack* — consecutive frames/slices of one noisy stack (:func:`~napari_n2n.core.pairs.stack_neighbours`),
  shown as two view layers (no copy): frames t and frames t+1;
* *single image* — one noisy image, trained by neighbour sub-sampling
  (:func:`~napari_n2n.core.pairs.single_image`);
* *photon split* — one photon-count image split into two with independent noise
  (:func:`~napari_n2n.core.photon.photon_split`): a true pair from one acquisition.

For two layers and stacks, "Check pair" (:mod:`._pair_check`) measures the shift, brightness
difference and noise of the pair and says what to do about each.

The layers remember their partner, clean reference, axes and noise in ``layer.metadata``, so the
Train widget fills itself in when the input is chosen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, FloatSpinBox, Label, LineEdit, PushButton, SpinBox

from ..core.noise import noise_params
from ._base import ViewerWidget
from ._layers import (
    axes_for,
    compact,
    image_data,
    layer_choices,
    parse_axes,
    placement,
    robust_limits,
    set_n2n_meta,
    unique_name,
)
from ._pair_check import PairCheckPanel

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


def _central_plane(data, max_side: int = 1024) -> np.ndarray:
    """The central 2D plane of ``data`` (cropped to ``max_side``), as a small numpy array."""
    index = tuple(s // 2 for s in data.shape[:-2])
    ys, xs = data.shape[-2:]
    cy, cx = max(0, (ys - max_side) // 2), max(0, (xs - max_side) // 2)
    return np.asarray(data[index + (slice(cy, cy + max_side), slice(cx, cx + max_side))])


def noise_estimate(data) -> float | None:
    """Estimated Gaussian noise sigma of ``data`` (central plane), ``None`` if it cannot be estimated."""
    from ..core.noise import estimate_noise_sigma

    try:
        plane = _central_plane(data).astype(np.float64)
        if not np.isfinite(plane).all():
            return None
        value = estimate_noise_sigma(plane)
    except Exception:
        return None
    return value if np.isfinite(value) else None


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


class NoisyPairsWidget(ViewerWidget):
    """Make a noisy pair from a clean layer, or pick a pair, a stack or one noisy image."""

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__(viewer)
        self.source = ComboBox(label="pairs from", choices=SOURCES, value="synthetic")
        # synthesise
        self.clean_layer = ComboBox(label="clean layer", choices=self._image_choices)
        self.noise = ComboBox(label="noise model", choices=NOISE_CHOICES, value="gaussian")
        self.sigma = FloatSpinBox(label="sigma", value=25.0, min=0.0, max=1e9, step=1.0,
                                  tooltip="Standard deviation of the noise, in the image's units")
        self.peak = FloatSpinBox(label="peak photons", value=30.0, min=0.01, max=1e9, step=1.0,
                                 tooltip="Expected photons at the brightest pixel: lower is noisier")
        self.gain = FloatSpinBox(label="gain", value=2.0, min=1e-6, max=1e9, step=0.5,
                                 tooltip="Image units per electron")
        self.read_sigma = FloatSpinBox(label="read noise sigma", value=5.0, min=0.0, max=1e9, step=1.0)
        self.fraction = FloatSpinBox(label="fraction of pixels", value=0.1, min=0.0, max=1.0, step=0.01)
        self.kind = ComboBox(label="impulse values", choices=[("min/max (salt & pepper)", "salt_pepper"),
                                                                ("random", "random")], value="salt_pepper")
        self.p = FloatSpinBox(label="drop probability", value=0.5, min=0.0, max=0.99, step=0.05)
        self.seed = SpinBox(label="seed", value=0, min=0, max=2**31 - 1)
        # two layers
        self.layer_a = ComboBox(label="noisy A", choices=self._image_choices)
        self.layer_b = ComboBox(label="noisy B", choices=self._image_choices)
        # stack
        self.stack_layer = ComboBox(label="noisy stack", choices=self._image_choices)
        self.pair_axis = ComboBox(label="pair along", choices=self._axis_choices)
        self.stack_axes = LineEdit(label="axes", value="", tooltip="Axes of the stack, e.g. TYX, ZYX or TZYX; "
                                   "empty: 3D → ZYX, 4D → TZYX")
        # one image
        self.single_layer = ComboBox(label="noisy image", choices=self._image_choices)
        # photon split
        self.photon_layer = ComboBox(label="photon counts", choices=self._image_choices,
                                     tooltip="A raw image that counts photons (not background-subtracted)")
        self.photon_auto = CheckBox(text="estimate gain and offset from the image", value=True)
        self.photon_gain = FloatSpinBox(label="gain", value=1.0, min=1e-9, max=1e9, step=0.1,
                                        tooltip="Image units per photon (camera ADU per electron)")
        self.photon_offset = FloatSpinBox(label="offset", value=0.0, min=-1e9, max=1e9, step=1.0,
                                          tooltip="The image's value with no light (camera baseline)")
        self.estimate = Label(label="noise σ (est.)", value="")
        self.run_button = PushButton(text=BUTTON_TEXT["synthetic"])
        self.check = PairCheckPanel(self._pair_to_check, report_error=self.report)
        self.extend([
            self.source, self.clean_layer, self.noise, self.sigma, self.peak, self.gain, self.read_sigma,
            self.fraction, self.kind, self.p, self.seed, self.layer_a, self.layer_b, self.stack_layer,
            self.pair_axis, self.stack_axes, self.single_layer, self.photon_layer, self.photon_auto,
            self.photon_gain, self.photon_offset, self.estimate, self.run_button, self.check,
        ])
        compact(self.source, self.clean_layer, self.noise, self.kind, self.layer_a, self.layer_b, self.stack_layer,
                self.pair_axis, self.single_layer, self.photon_layer)
        #: the noise parameters' fields, by parameter name
        self.params = {"sigma": self.sigma, "peak": self.peak, "gain": self.gain, "read_sigma": self.read_sigma,
                        "fraction": self.fraction, "kind": self.kind, "p": self.p}
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
        self._update_visibility()
        self._on_clean_changed()

    # ---- choices -------------------------------------------------------------------------------
    def _image_choices(self, _widget=None):
        return layer_choices(self._viewer)

    def _axis_choices(self, _widget=None):
        layer = self.stack_layer.value if hasattr(self, "stack_layer") else None
        if layer is None or getattr(layer.data, "ndim", 0) < 3:
            return [("(choose a stack with 3 or more dimensions)", None)]
        shape = layer.data.shape
        return [(f"axis {i} ({shape[i]} frames/slices)", i) for i in range(layer.data.ndim - 2)]

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
                lo, hi = robust_limits(_central_plane(layer.data), low=0.5, high=99.5)
            except (TypeError, ValueError):
                lo, hi = 0.0, 1.0
            span = hi - lo
            self.sigma.value = float(f"{0.1 * span:.2g}")
            self.read_sigma.value = float(f"{0.02 * span:.2g}")
            self.gain.value = float(f"{max(hi, 1e-6) / 100:.2g}")
        self._update_estimate()

    def _on_stack_changed(self, _=None) -> None:
        self.pair_axis.reset_choices()
        self._update_estimate()

    def _update_estimate(self, _=None) -> None:
        """Show the estimated noise level of the chosen layer(s)."""
        mode = self.source.value
        layers = {"synthetic": [("clean", self.clean_layer.value)],
                  "two": [("A", self.layer_a.value), ("B", self.layer_b.value)],
                  "stack": [("stack", self.stack_layer.value)],
                  "single": [("image", self.single_layer.value)],
                  "photon": [("image", self.photon_layer.value)]}[mode]
        parts = []
        for role, layer in layers:
            if layer is None or getattr(layer, "rgb", False) or getattr(layer, "multiscale", False):
                continue
            parts.append(f"{role} ≈ {_fmt(noise_estimate(layer.data))}")
        self.estimate.value = ", ".join(parts)

    # ---- actions -----------------------------------------------------------------------------------
    def noise_model(self):
        """The noise model chosen in the widget (a :class:`~napari_n2n.core.noise.NoiseModel`)."""
        from ..core.noise import make_noise

        name = self.noise.value
        return make_noise(name, **{p: self.params[p].value for p in noise_params(name)})

    def start(self, _=None) -> list:
        """Run the chosen source (as the button does); return the layers it added (errors become notifications)."""
        action = {"synthetic": self.make_synthetic_pair, "two": self.use_two_layers,
                  "stack": self.make_stack_pairs, "single": self.use_single_image,
                  "photon": self.make_photon_pair}[self.source.value]
        return self.report(action) or []

    def make_synthetic_pair(self) -> list:
        """Add two noisy copies of the clean layer, "noisy A" and "noisy B"; return them."""
        from napari.utils.notifications import show_info

        from ..core.pairs import synthetic_pair

        src = self.clean_layer.value
        data = image_data(src, "clean", check_values=True)
        noise = self.noise_model()
        pair = synthetic_pair(np.asarray(data), noise, seed=int(self.seed.value))
        desc = noise.describe()
        name_a = unique_name(self._viewer, f"{src.name} noisy A · {desc}")
        name_b = unique_name(self._viewer, f"{src.name} noisy B · {desc}")
        if name_b == name_a:  # pragma: no cover - names differ by construction
            name_b += " (B)"
        limits = robust_limits(pair.input)
        common = dict(placement(src), contrast_limits=limits, colormap=src.colormap.name, blending=src.blending)
        meta = dict(clean=src.name, noise=noise.to_dict(), axes=pair.axes, suggested_loss=noise.suggested_loss)
        layer_a = self._viewer.add_image(pair.input, name=name_a, **common)
        layer_b = self._viewer.add_image(pair.target, name=name_b, visible=False, **common)
        set_n2n_meta(layer_a, role="noisy A", partner=layer_b.name, **meta)
        set_n2n_meta(layer_b, role="noisy B", partner=layer_a.name, **meta)
        sigma = noise_estimate(pair.input)
        self.estimate.value = f"A ≈ {_fmt(sigma)} (clean ≈ {_fmt(noise_estimate(data))})"
        show_info(f"Added '{layer_a.name}' and '{layer_b.name}'. Next: Train Noise2Noise with A as input "
                  f"and B as target ('{src.name}' as clean reports PSNR).")
        return [layer_a, layer_b]

    def use_two_layers(self) -> list:
        """Check that layers A and B form a pair (same shape) and link them; return ``[]``."""
        from napari.utils.notifications import show_info

        from ..core.errors import InputError
        from ..core.pairs import two_images

        la, lb = self.layer_a.value, self.layer_b.value
        a = image_data(la, "noisy A", check_values=True)
        b = image_data(lb, "noisy B", check_values=True)
        if la == lb:
            raise InputError(f"A and B are the same layer ('{la.name}'). "
                             "Choose two noisy acquisitions of the same scene.")
        pair = two_images(a, b, axes=axes_for(la, None))
        set_n2n_meta(la, role="noisy A", partner=lb.name, axes=pair.axes)
        set_n2n_meta(lb, role="noisy B", partner=la.name, axes=pair.axes)
        self._update_estimate()
        show_info(f"'{la.name}' and '{lb.name}' form a pair ({pair.axes}, shape {tuple(a.shape)}). "
                  "Next: Train Noise2Noise with A as input and B as target.")
        return []

    def make_stack_pairs(self) -> list:
        """Add frames t and t+1 of the stack as two view layers (no copy); return them."""
        from napari.utils.notifications import show_info

        from ..core.errors import InputError
        from ..core.pairs import stack_neighbours

        src = self.stack_layer.value
        data = image_data(src, "stack", check_values=True)
        axis = self.pair_axis.value
        if axis is None:
            raise InputError(f"Layer '{src.name}' is {data.ndim}D; pairing neighbouring frames needs a stack "
                             "(3 or more dimensions). For one 2D image use single-image mode.")
        pair = stack_neighbours(data, axis=int(axis), axes=parse_axes(self.stack_axes.value))
        geo = placement(src)
        limits = tuple(float(v) for v in src.contrast_limits)
        meta = dict(axes=pair.axes, source=src.name, pair_axis=int(axis))
        name_a = unique_name(self._viewer, f"{src.name} frames t (axis {axis})")
        name_b = unique_name(self._viewer, f"{src.name} frames t+1 (axis {axis})")
        layer_a = self._viewer.add_image(pair.input, name=name_a, contrast_limits=limits,
                                         colormap=src.colormap.name, **geo)
        layer_b = self._viewer.add_image(pair.target, name=name_b, contrast_limits=limits, visible=False,
                                         colormap=src.colormap.name, **geo)
        set_n2n_meta(layer_a, role="frames t", partner=layer_b.name, **meta)
        set_n2n_meta(layer_b, role="frames t+1", partner=layer_a.name, **meta)
        show_info(f"Added '{layer_a.name}' and '{layer_b.name}' ({pair.input.shape[int(axis)]} pairs, axes "
                  f"{pair.axes}). Next: Train Noise2Noise with them as input and target.")
        return [layer_a, layer_b]

    def use_single_image(self) -> list:
        """Mark the layer for single-image (Neighbor2Neighbor) training; return ``[]``."""
        from napari.utils.notifications import show_info

        from ..core.pairs import single_image

        layer = self.single_layer.value
        data = image_data(layer, "noisy image", check_values=True)
        pair = single_image(data, axes=axes_for(layer, None))
        set_n2n_meta(layer, mode="nb2nb", axes=pair.axes)
        self._update_estimate()
        show_info(f"'{layer.name}' is ready for single-image training: in Train Noise2Noise choose it as input "
                  "and target 'none — single image'.")
        return []

    def make_photon_pair(self) -> list:
        """Split the photon-count layer into two layers with independent noise; return them."""
        from napari.utils.notifications import show_info

        from ..core.pairs import two_images
        from ..core.photon import photon_scale_for, photon_split

        src = self.photon_layer.value
        data = np.asarray(image_data(src, "photon-count image", check_values=True))
        given = (None, None) if self.photon_auto.value else (self.photon_gain.value, self.photon_offset.value)
        gain, offset, how = photon_scale_for(data, gain=given[0], offset=given[1])
        a, b = photon_split(data, gain=gain, offset=offset, seed=int(self.seed.value))
        self.photon_gain.value, self.photon_offset.value = gain, offset
        pair = two_images(a, b, axes=axes_for(src, None))
        common = dict(placement(src), contrast_limits=robust_limits(a), colormap=src.colormap.name)
        meta = dict(axes=pair.axes, source=src.name, photon_split={"gain": gain, "offset": offset})
        layer_a = self._viewer.add_image(a, name=unique_name(self._viewer, f"{src.name} photons A"), **common)
        layer_b = self._viewer.add_image(b, name=unique_name(self._viewer, f"{src.name} photons B"), visible=False,
                                         **common)
        set_n2n_meta(layer_a, role="noisy A", partner=layer_b.name, **meta)
        set_n2n_meta(layer_b, role="noisy B", partner=layer_a.name, **meta)
        show_info(f"Split '{src.name}' into '{layer_a.name}' and '{layer_b.name}' (gain {gain:.4g}, offset "
                  f"{offset:.4g}, {how}): each photon went to A or B at random, so their noise is independent. "
                  "Next: Train Noise2Noise with A as input and B as target; denoise with the A/B average.")
        return [layer_a, layer_b]

    # ---- pair check ----------------------------------------------------------------------------
    def _pair_to_check(self):
        """``(a, b, axes)`` of the chosen pair, for :class:`PairCheckPanel`."""
        from ..core.errors import InputError

        if self.source.value == "stack":
            src = self.stack_layer.value
            data = image_data(src, "stack")
            axis = self.pair_axis.value
            if axis is None:
                raise InputError("Choose a stack with 3 or more dimensions to check its neighbouring frames.")
            n = data.shape[int(axis)]
            first = tuple(slice(0, n - 1) if i == int(axis) else slice(None) for i in range(data.ndim))
            second = tuple(slice(1, n) if i == int(axis) else slice(None) for i in range(data.ndim))
            return data[first], data[second], parse_axes(self.stack_axes.value)
        la, lb = self.layer_a.value, self.layer_b.value
        return image_data(la, "noisy A"), image_data(lb, "noisy B"), axes_for(la, None)

    def teardown(self) -> None:
        self.check.teardown()
        super().teardown()
