"""The sources of Noisy pairs, one small panel each: the fields that source needs and nothing else.

* :class:`SyntheticPanel` — a clean layer and a noise model; the noise model's fields are made
  from its dataclass (:mod:`napari_n2n.core.data.noise`), so their defaults are the core's;
* :class:`TwoLayersPanel` — two noisy acquisitions of the same scene;
* :class:`StackPanel` — one noisy stack, paired along an axis;
* :class:`SingleImagePanel` — one noisy image, for single-image training;
* :class:`PhotonPanel` — one photon-count image, split into two (:mod:`.photon`).

:class:`~.widget.NoisyPairsWidget` shows the panel of the chosen source and runs it. Each panel
takes the layer choices (a callable, as magicgui's ``choices``) and says which layers the
widget's noise estimate reads (:meth:`SourcePanel.estimate_layers`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from magicgui.widgets import CheckBox, ComboBox, Container, FloatSpinBox, LineEdit, SpinBox

from ...core.data.noise import NOISE_MODELS, noise_params
from .._axes import AxesField
from .._base import SPACING
from .._layers import central_plane, compact, marked_noisy, robust_limits

NOISE_CHOICES = [
    ("Gaussian (additive)", "gaussian"),
    ("Poisson (shot noise)", "poisson"),
    ("Poisson-Gaussian (camera)", "poisson_gaussian"),
    ("impulse (salt & pepper)", "impulse"),
    ("Bernoulli (dropped pixels)", "bernoulli"),
]

#: how each noise parameter is shown: label, limits, step, tooltip, choices. The default value
#: is the noise model's own (its dataclass field); a parameter not listed here is shown as a
#: plain number (or text) field named after it
PARAM_FIELDS = {
    "sigma": {
        "label": "sigma",
        "min": 0.0,
        "max": 1e9,
        "step": 1.0,
        "tooltip": "Standard deviation of the noise, in the image's units",
    },
    "peak": {
        "label": "peak photons",
        "min": 0.01,
        "max": 1e9,
        "step": 1.0,
        "tooltip": "Expected photons at the brightest pixel: lower is noisier",
    },
    "gain": {
        "label": "gain",
        "min": 1e-6,
        "max": 1e9,
        "step": 0.5,
        "tooltip": "Image units per electron",
    },
    "read_sigma": {"label": "read noise sigma", "min": 0.0, "max": 1e9, "step": 1.0},
    "fraction": {"label": "fraction of pixels", "min": 0.0, "max": 1.0, "step": 0.01},
    "kind": {
        "label": "impulse values",
        "choices": [("min/max (salt & pepper)", "salt_pepper"), ("random", "random")],
    },
    "p": {"label": "drop probability", "min": 0.0, "max": 0.99, "step": 0.05},
}


def noise_field(field: dataclasses.Field):
    """A form field for one parameter of a noise model, its value the model's default.

    Parameters
    ----------
    field : dataclasses.Field
        A field of a noise model's dataclass, e.g. ``Gaussian``'s ``sigma``.

    Returns
    -------
    magicgui.widgets.ValueWidget
        A :class:`~magicgui.widgets.ComboBox` where :data:`PARAM_FIELDS` gives choices, else a
        check box, spin box or float spin box as the default is a bool, int or float, else a
        :class:`~magicgui.widgets.LineEdit`.
    """
    options = dict(PARAM_FIELDS.get(field.name, {"label": field.name.replace("_", " ")}))
    if "choices" in options:
        return ComboBox(value=field.default, **options)
    if isinstance(field.default, bool):
        return CheckBox(value=field.default, text=options.pop("label"), **options)
    if isinstance(field.default, int):
        options.setdefault("min", -(2**31))
        options.setdefault("max", 2**31 - 1)
        return SpinBox(value=field.default, **options)
    if isinstance(field.default, float):
        options.setdefault("min", -1e9)
        options.setdefault("max", 1e9)
        return FloatSpinBox(value=field.default, **options)
    return LineEdit(value=str(field.default), **options)


class SourcePanel(Container):
    """Base of the source panels: a labelled column of fields without margins.

    Parameters
    ----------
    image_choices : callable
        The image layers to offer (magicgui's ``choices``: called with the field).
    """

    #: the text of the widget's main button for this source
    button_text = ""

    def __init__(self, image_choices: Callable):
        super().__init__(labels=True)
        self._image_choices = image_choices

    def _finish(self, *fields) -> None:
        """Add ``fields`` to the panel, tightly spaced as the rest of the dock."""
        self.extend(list(fields))
        self.margins = (0, 0, 0, 0)
        self.native.layout().setSpacing(SPACING)

    def estimate_layers(self) -> list:
        """The layers whose noise the widget estimates, as ``(role, layer)`` pairs."""
        return []


class SyntheticPanel(SourcePanel):
    """A clean layer and a noise model: the source of two synthetic noisy copies.

    The fields of every offered noise model are made from its dataclass
    (:func:`noise_field`); those of the chosen model show. When a clean layer is chosen, the
    parameters in the image's units (``sigma``, ``read_sigma``, ``gain``) are scaled to its
    intensity range.
    """

    button_text = "Make noisy pair"

    def __init__(self, image_choices: Callable):
        super().__init__(image_choices)
        self.clean_layer = ComboBox(label="clean layer", choices=self._cleans)
        self.noise = ComboBox(label="noise model", choices=NOISE_CHOICES, value="gaussian")
        #: the noise parameters' fields: noise model name → parameter name → field
        self.params = {
            name: {
                field.name: noise_field(field)
                for field in dataclasses.fields(NOISE_MODELS[name])
                if field.name in noise_params(name)
            }
            for _label, name in NOISE_CHOICES
        }
        self.seed = SpinBox(label="seed", value=0, min=0, max=2**31 - 1)
        param_fields = [field for fields in self.params.values() for field in fields.values()]
        self._finish(self.clean_layer, self.noise, *param_fields, self.seed)
        choice_fields = [f for f in param_fields if isinstance(f, ComboBox)]
        compact(self.clean_layer, self.noise, *choice_fields)
        self.noise.changed.connect(self._show_params)
        self.clean_layer.changed.connect(self._scale_to_clean)
        self._show_params()
        self._scale_to_clean()

    def _cleans(self, widget=None):
        """The image layers, less those known to be noisy (never a clean reference)."""
        return [(n, layer) for n, layer in self._image_choices(widget) if not marked_noisy(layer)]

    def _show_params(self, _=None) -> None:
        """Show the parameters of the chosen noise model only."""
        for name, fields in self.params.items():
            for field in fields.values():
                field.visible = name == self.noise.value

    def _scale_to_clean(self, _=None) -> None:
        """Scale the parameters in the image's units to the clean layer's intensity range."""
        layer = self.clean_layer.value
        if layer is None or getattr(layer, "rgb", False):
            return
        try:
            lo, hi = robust_limits(central_plane(layer.data), low=0.5, high=99.5)
        except (TypeError, ValueError):
            lo = 0.0
            hi = 1.0
        span = hi - lo
        scaled = {
            "sigma": 0.1 * span,
            "read_sigma": 0.02 * span,
            "gain": max(hi, 1e-6) / 100,
        }
        for fields in self.params.values():
            for name, value in scaled.items():
                if name in fields:
                    # two significant digits: a value a user would type
                    fields[name].value = float(f"{value:.2g}")

    def noise_model(self):
        """The chosen noise model with the parameters set.

        Returns
        -------
        napari_n2n.core.data.noise.NoiseModel
            E.g. ``Gaussian(sigma=25.0)``.
        """
        from ...core.data.noise import make_noise

        name = self.noise.value
        fields = self.params[name]
        return make_noise(name, **{param: fields[param].value for param in noise_params(name)})

    def estimate_layers(self) -> list:
        return [("clean", self.clean_layer.value)]


class TwoLayersPanel(SourcePanel):
    """Two noisy acquisitions of the same scene: noisy A and noisy B."""

    button_text = "Use as pair"

    def __init__(self, image_choices: Callable):
        super().__init__(image_choices)
        self.layer_a = ComboBox(label="noisy A", choices=image_choices)
        self.layer_b = ComboBox(label="noisy B", choices=image_choices)
        self._finish(self.layer_a, self.layer_b)
        compact(self.layer_a, self.layer_b)

    def estimate_layers(self) -> list:
        return [("A", self.layer_a.value), ("B", self.layer_b.value)]


#: the registration choices of neighbour pairs (the core's)
REGISTER_CHOICES = ("none", "auto", "shift", "flow")


class StackPanel(SourcePanel):
    """One noisy stack, paired along one of its axes (frames t and t+1)."""

    button_text = "Make frame pairs"

    def __init__(self, image_choices: Callable):
        super().__init__(image_choices)
        self.layer = ComboBox(label="noisy stack", choices=image_choices)
        self.pair_axis = ComboBox(label="pair along", choices=self._axis_choices)
        self.axes = AxesField(
            tooltip="What the dimensions of the stack are (the pairing axis becomes a sample axis)"
        )
        self.register = ComboBox(
            label="register",
            choices=list(REGISTER_CHOICES),
            value="none",
            tooltip="Warp frame t+1 onto frame t before pairing, for a time-lapse that moves: shift "
            "(global drift), flow (drift and local motion), auto (chosen from the measured motion; "
            "Check pair shows it). Pixels the warp cannot fill are left out of training.",
        )
        self._finish(self.layer, self.pair_axis, self.axes, self.register)
        compact(self.layer, self.pair_axis)
        self.layer.changed.connect(self._on_layer_changed)
        self._on_layer_changed()

    def _axis_choices(self, _widget=None):
        layer = self.layer.value
        if layer is None or getattr(layer.data, "ndim", 0) < 3:
            return [("(choose a stack with 3 or more dimensions)", None)]
        shape = layer.data.shape
        return [(f"axis {i} ({shape[i]} frames/slices)", i) for i in range(layer.data.ndim - 2)]

    def _on_layer_changed(self, _=None) -> None:
        """Offer the new stack's axes to pair along, and say what its dimensions are."""
        self.pair_axis.reset_choices()
        self.axes.set_layer(self.layer.value)

    def estimate_layers(self) -> list:
        return [("stack", self.layer.value)]


class SingleImagePanel(SourcePanel):
    """One noisy image, trained on by neighbour sub-sampling (single-image mode)."""

    button_text = "Use for single-image training"

    def __init__(self, image_choices: Callable):
        super().__init__(image_choices)
        self.layer = ComboBox(label="noisy image", choices=image_choices)
        self._finish(self.layer)
        compact(self.layer)

    def estimate_layers(self) -> list:
        return [("image", self.layer.value)]


class PhotonPanel(SourcePanel):
    """One photon-count image, split into two with independent noise.

    Gain and offset are estimated from the image unless the user unticks "estimate" and gives
    them.
    """

    button_text = "Split into a pair"

    def __init__(self, image_choices: Callable):
        super().__init__(image_choices)
        self.layer = ComboBox(
            label="photon counts",
            choices=image_choices,
            tooltip="A raw image that counts photons (not background-subtracted)",
        )
        self.auto = CheckBox(text="estimate gain and offset from the image", value=True)
        self.gain = FloatSpinBox(
            label="gain",
            value=1.0,
            min=1e-9,
            max=1e9,
            step=0.1,
            tooltip="Image units per photon (camera ADU per electron)",
        )
        self.offset = FloatSpinBox(
            label="offset",
            value=0.0,
            min=-1e9,
            max=1e9,
            step=1.0,
            tooltip="The image's value with no light (camera baseline)",
        )
        self._finish(self.layer, self.auto, self.gain, self.offset)
        compact(self.layer)
        self.auto.changed.connect(self._show_given)
        self._show_given()

    def _show_given(self, _=None) -> None:
        """Show gain and offset only when the user gives them."""
        self.gain.visible = not self.auto.value
        self.offset.visible = not self.auto.value

    def given(self) -> dict:
        """The gain and offset the user gave (``None`` each: estimate them from the image)."""
        if self.auto.value:
            return {"gain": None, "offset": None}
        return {"gain": self.gain.value, "offset": self.offset.value}

    def estimate_layers(self) -> list:
        return [("image", self.layer.value)]
