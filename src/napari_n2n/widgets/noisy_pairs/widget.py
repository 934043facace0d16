"""Noisy pairs: make or pick the pair of noisy images that Noise2Noise trains on.

Five sources, one per :mod:`napari_n2n.core.data.pairs` function (and the photon split), each
with its own panel of fields (:mod:`.sources`); the widget shows the chosen source's panel:

* *synthesise* — a clean layer and a noise model → two new layers "noisy A" and "noisy B"
  (:meth:`~napari_n2n.core.data.pairs.Pair.synthetic`);
* *two layers* — two noisy acquisitions of the same scene (:func:`~napari_n2n.core.data.pairs.two_images`);
* *stack* — consecutive frames/slices of one noisy stack (:func:`~napari_n2n.core.data.pairs.stack_neighbours`),
  shown as two view layers (no copy): frames t and frames t+1;
* *single image* — one noisy image, trained by neighbour sub-sampling
  (:func:`~napari_n2n.core.data.pairs.single_image`);
* *photon split* — one photon-count image split into two with independent noise (:mod:`.photon`).

For two layers and stacks, "Check pair" (:mod:`.pair_check`) measures the shift, brightness
difference and noise of the pair and says what to do about each.

New layers are named letter first ("A · camera noisy · …", "B · …"), so A and B stay apart in
the layer list when napari elides long names. The layers remember their partner, clean
reference, axes and noise in ``layer.metadata`` from the moment they are added, and the Train
widget is told of every pair made (:data:`~.._registry.PAIRS`): it takes A as input and B as
target. The layer choices start from the layer selected in the layer list; A and B default to
two different layers (the selected layer and its partner where one is recorded).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np
from magicgui.widgets import ComboBox, Label, PushButton

from .. import _notify as notify
from .._base import ViewerWidget, align_labels, row, when_alive
from .._layers import (
    PAIR_ROLES,
    axes_for,
    compact,
    data_shape,
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
from .photon import split_layer, split_note
from .sources import (
    PhotonPanel,
    SingleImagePanel,
    SourcePanel,
    StackPanel,
    SyntheticPanel,
    TwoLayersPanel,
)

if TYPE_CHECKING:
    import napari

SOURCES = [
    ("synthesise from a clean layer", "synthetic"),
    ("two noisy layers", "two"),
    ("neighbouring frames of a stack", "stack"),
    ("one noisy image (single-image mode)", "single"),
    ("one photon-count image (photon split)", "photon"),
]


def suggested_source(viewer) -> str:
    """The source that fits the layers present, for a widget whose user has not chosen one.

    A pair already recorded, or two noisy layers of one shape → two layers; a noisy stack
    (3 or more dimensions) → neighbouring frames; one noisy image → single image; no noisy
    layer (none, or only clean references and results) → synthesise from a clean layer.
    """
    noisy = [
        layer for layer in image_layers(viewer) if is_noisy(layer) and not getattr(layer, "rgb", 0)
    ]
    if not noisy:
        return "synthetic"
    if any(n2n_meta(layer).get("role") in PAIR_ROLES for layer in noisy):
        return "two"
    shapes = [data_shape(layer) for layer in noisy]
    if len(set(shapes)) < len(shapes):  # two noisy layers of one shape
        return "two"
    if any(len(shape) >= 3 for shape in shapes):
        return "stack"
    return "single"


class NoisyPairsWidget(ViewerWidget):
    """Make a noisy pair from a clean layer, or pick a pair, a stack or one noisy image.

    The chosen source's panel (:mod:`.sources`) shows below the source choice; the noise
    estimate, the main button and, for two layers and stacks, the pair check follow.
    """

    def __init__(self, viewer: napari.viewer.Viewer):
        # the panels' label columns are aligned by the widget (align_labels), not by magicgui
        super().__init__(viewer, labels=False)
        self.source = ComboBox(label="pairs from", choices=SOURCES, value="synthetic")
        # the user (or a script) chose a source: the layers present no longer choose it
        self._source_chosen = False
        self._following = False  # the source is being set to follow the layers
        self._adding = False  # the widget adds layers (a pair it made)
        #: the layers of the last frame pairs made from a stack
        self.stack_layers: list = []

        # ---- one panel per source ------------------------------------------------------------
        self.synthetic = SyntheticPanel(self._image_choices)
        self.two_layers = TwoLayersPanel(self._image_choices)
        self.stack = StackPanel(self._image_choices)
        self.single = SingleImagePanel(self._image_choices)
        self.photon = PhotonPanel(self._image_choices)
        #: the panels, by source
        self.panels = {
            "synthetic": self.synthetic,
            "two": self.two_layers,
            "stack": self.stack,
            "single": self.single,
            "photon": self.photon,
        }

        # ---- estimate, button, pair check ------------------------------------------------------
        self.estimate = Label(label="noise σ (est.)", value="")
        self.run_button = PushButton(text=self.synthetic.button_text)
        self.check = PairCheckPanel(self._pair_to_check, report_error=self.report)
        buttons = row(self.run_button)
        from qtpy.QtWidgets import QSizePolicy

        self.run_button.native.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

        # ---- layout ------------------------------------------------------------------------------
        source_row = row(self.source, layout="vertical", labels=True)
        footer = row(self.estimate, buttons, self.check, layout="vertical", labels=True)
        self.extend([source_row, *self.panels.values(), footer])
        align_labels(source_row, *self.panels.values(), footer)
        self.add_help_link("noisy-pairs", buttons)
        compact(self.source)

        # ---- reactions -----------------------------------------------------------------------------
        self.source.changed.connect(self._show_source)
        self.source.changed.connect(self._on_source_chosen)
        for field in (
            self.synthetic.clean_layer,
            self.two_layers.layer_a,
            self.two_layers.layer_b,
            self.stack.layer,
            self.single.layer,
            self.photon.layer,
        ):
            field.changed.connect(self._update_estimate)
        for field in (
            self.two_layers.layer_a,
            self.two_layers.layer_b,
            self.stack.layer,
            self.stack.pair_axis,
        ):
            field.changed.connect(self.check.clear)
        self.run_button.changed.connect(self.start)
        self.reset_choices()
        self.choose_defaults()
        self.follow_layers()
        self._show_source()

    # ---- choices -------------------------------------------------------------------------------
    def _image_choices(self, _widget=None):
        return layer_choices(self._viewer)

    @property
    def panel(self) -> SourcePanel:
        """The panel of the chosen source."""
        return self.panels[self.source.value]

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
            if layer in self.synthetic.clean_layer.choices:
                self.synthetic.clean_layer.value = layer
                break
        first = preferred_noisy(viewer, prefer=[active] if active is not None else [])
        for combo in (self.two_layers.layer_a, self.single.layer):
            if first is not None:
                combo.value = first
        stack = preferred_noisy(viewer, min_ndim=3)
        if stack is not None:
            self.stack.layer.value = stack
        layer_a = self.two_layers.layer_a.value
        partner = find_layer(viewer, n2n_meta(layer_a).get("partner"))
        second = partner if partner is not None else preferred_noisy(viewer, exclude=[layer_a])
        if second is not None:
            self.two_layers.layer_b.value = second

    def on_layer_selected(self, layer) -> None:
        if is_noisy(layer) or n2n_meta(layer).get("role") == "clean":
            self.choose_defaults(layer)

    def on_layer_inserted(self, layer) -> None:
        if not self._adding:
            self.follow_layers()

    def follow_layers(self) -> None:
        """Choose the source that fits the layers present (:func:`suggested_source`), until the user chooses one."""
        if not self._source_chosen:
            self._following = True
            try:
                self.source.value = suggested_source(self._viewer)
            finally:
                self._following = False

    def _on_source_chosen(self, _value=None) -> None:
        if not self._following:
            self._source_chosen = True

    # ---- reactions -------------------------------------------------------------------------------
    def _show_source(self, _=None) -> None:
        """Show the chosen source's panel, its button text and (two layers, stack) the pair check."""
        source = self.source.value
        for key, panel in self.panels.items():
            panel.visible = key == source
        self.check.visible = source in ("two", "stack")
        self.run_button.text = self.panel.button_text
        self._update_estimate()

    def _update_estimate(self, _=None) -> None:
        """Show the estimated noise level of the chosen layer(s)."""
        layers = self.panel.estimate_layers()
        parts = []
        for role, layer in layers:
            if layer is None or getattr(layer, "rgb", False) or getattr(layer, "multiscale", False):
                continue
            parts.append(f"{role} ≈ {fmt_sigma(noise_estimate(layer.data))}")
        self.estimate.value = ", ".join(parts)

    # ---- actions -----------------------------------------------------------------------------------
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

        from ...core.data.pairs import Pair

        src = self.synthetic.clean_layer.value
        data = image_data(src, "clean", check_values=True)
        noise = self.synthetic.noise_model()
        if not n2n_meta(src).get("role"):
            # the reference of the pair: never offered as noisy data
            set_n2n_meta(src, role="clean")
        pair = Pair.synthetic(np.asarray(data), noise, seed=int(self.synthetic.seed.value))
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
        self._adding = True  # the source stays: the user may make another pair
        try:
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
        finally:
            self._adding = False
        self._viewer.layers.selection.active = layer_a
        PAIRS.made.emit(layer_a)
        return [layer_a, layer_b]

    def use_two_layers(self) -> list:
        """Check that layers A and B form a pair (same shape) and link them; return ``[]``."""

        from ...core.data.pairs import two_images
        from ...core.errors import InputError

        la = self.two_layers.layer_a.value
        lb = self.two_layers.layer_b.value
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
        """Add frames t and t+1 of the stack as two view layers (no copy); return them.

        With *register* other than none, frame t+1 is warped onto frame t in the background
        (seconds for a 20-frame 512² stack): this returns ``[]`` at once and the layers are
        added when the registration ends (:attr:`stack_layers`; :meth:`wait` waits for it).
        """

        from ...core.data.pairs import stack_neighbours
        from ...core.errors import InputError

        src = self.stack.layer.value
        data = image_data(src, "stack", check_values=True)
        axis = self.stack.pair_axis.value
        if axis is None:
            raise InputError(
                f"Layer '{src.name}' is {data.ndim}D; pairing neighbouring frames needs a stack "
                "(3 or more dimensions). For one 2D image use single-image mode."
            )
        if self.busy:
            raise InputError("The frames of a stack are being registered; wait until they are.")
        axes = parse_axes(self.stack.axes.value)
        register = self.stack.register.value
        if register == "none":
            pair = stack_neighbours(data, axis=int(axis), axes=axes)
            return self._add_stack_pair(src, pair, int(axis), register)
        self.run_button.enabled = False
        self.start_job(
            register_job,
            data,
            int(axis),
            axes,
            register,
            what="Registering frames",
            hold_gc=False,
            on_returned=functools.partial(self._on_registered, src, int(axis), register),
            on_finished=self._on_job_finished,
        )
        return []

    @when_alive
    def _on_registered(self, src, axis: int, register: str, pair) -> None:
        self._add_stack_pair(src, pair, axis, register)

    @when_alive
    def _on_job_finished(self) -> None:
        self.run_button.enabled = True

    def _add_stack_pair(self, src, pair, axis: int, register: str) -> list:
        """Add the layers of a stack's frame pairs; keep them in :attr:`stack_layers`."""
        limits = tuple(float(v) for v in src.contrast_limits)
        meta = dict(axes=pair.axes, source=src.name, pair_axis=axis, register=pair.register)
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
        registered = registration_note(pair, register)
        notify.info(
            f"Added '{layer_a.name}' and '{layer_b.name}' ({pair.input.shape[axis]} pairs, axes "
            f"{pair.axes}).{registered} Next: Train Noise2Noise with them as input and target."
        )
        self.stack_layers = [layer_a, layer_b]
        return self.stack_layers

    def use_single_image(self) -> list:
        """Mark the layer for single-image (Neighbor2Neighbor) training; return ``[]``."""

        from ...core.data.pairs import single_image

        layer = self.single.layer.value
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
        src = self.photon.layer.value
        # the seed of the synthetic source draws the split too
        seed = int(self.synthetic.seed.value)
        pair, gain, offset, how = split_layer(src, **self.photon.given(), seed=seed)
        self.photon.gain.value = gain
        self.photon.offset.value = offset
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
        """``(a, b, axes)`` of the chosen pair, for :class:`PairCheckPanel` (a stack: frames t and
        t+1, and ``(stack, axis, axes)`` to measure the motion between neighbours)."""
        from ...core.axes import default_axes
        from ...core.data.pairs import stack_neighbours
        from ...core.errors import InputError

        if self.source.value != "stack":
            la = self.two_layers.layer_a.value
            lb = self.two_layers.layer_b.value
            return image_data(la, "noisy A"), image_data(lb, "noisy B"), axes_for(la, None)
        axis = self.stack.pair_axis.value
        if axis is None:
            raise InputError(
                "Choose a stack with 3 or more dimensions to check its neighbouring frames."
            )
        stack = image_data(self.stack.layer.value, "stack")
        pair = stack_neighbours(stack, axis=int(axis), axes=parse_axes(self.stack.axes.value))
        # the check also measures the motion between neighbours (does the stack need registering?)
        axes = parse_axes(self.stack.axes.value) or default_axes(stack.ndim)
        return pair.input, pair.target, pair.axes, (stack, int(axis), axes)

    def teardown(self) -> None:
        self.check.teardown()
        super().teardown()


def register_job(data, axis: int, axes: str | None, register: str):
    """Generator for a :class:`LongJob`: the stack's frame pairs, registered; returns the pair."""
    from ...core.data.pairs import stack_neighbours

    yield "registering"
    return stack_neighbours(data, axis=axis, axes=axes, register=register)


def registration_note(pair, asked: str) -> str:
    """What registration did to a stack's pairs, in one sentence (empty when not asked)."""
    if asked == "none":
        return ""
    shifts = [m.shift_px for m in pair.motions] or [0.0]
    if pair.register == "none":
        return (
            f" Not registered (register {asked}: the frames barely move, ≤ {max(shifts):.2f} px)."
        )
    return (
        f" B is registered onto A by {pair.register} (global shift up to {max(shifts):.2f} px); "
        "the pixels the warp could not fill are empty (NaN) and left out of training."
    )
