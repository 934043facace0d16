"""The live preview of a training run: which region of the input to ask for, and the layer that shows it.

The protocol, in one place:

1. When training starts, :meth:`PreviewController.begin` crops the part of the input the canvas
   shows (:func:`~._layers.visible_region`, at most :data:`PREVIEW_MAX` per axis) and hands it to
   the trainer (``TrainingSession.set_preview``, a one-slot mailbox the training thread reads
   between steps); it shows that noisy region in the preview layer until the first prediction.
2. The training thread yields a :class:`~napari_n2n.core.events.Preview`; the session re-emits
   it on the main thread and :meth:`PreviewController._show` places it like the input.
3. Each shown preview asks for the region visible *now*, so the preview follows panning and
   zooming. A preview made for an older region (another shape) is dropped and asked for again.
4. When the run ends the preview layer is removed, unless the user asked to keep it.

The regions are cut from the data the run trains on (the copy taken when it started), placed
by the input layer's geometry. If the layer's data are replaced by an array of another shape,
that geometry no longer fits: previews stop for the run, with one notification; nothing raises.
"""

from __future__ import annotations

import numpy as np

from .. import _notify as notify
from .._layers import n2n_meta, n2n_metadata, robust_limits, unique_name, visible_region

#: largest preview region per axis (the preview runs between training steps)
PREVIEW_MAX = {"2d": {"Y": 256, "X": 256}, "3d": {"Z": 16, "Y": 128, "X": 128}}


class PreviewController:
    """Shows the model being trained on the visible region of its input, in a preview layer."""

    def __init__(self, viewer, *, every_s: float = 2.0):
        self.viewer = viewer
        self.every_s = every_s
        #: the preview layer of the current (or last) run; reused by the next run on the same input
        self.layer = None
        self.shown = 0
        self._session = None
        self._input = None
        self._data = None  # what the run trains on (the input's data when it started)
        self._region = None  # (index, start, shape, sample dims) of the pending request
        self._made_layer = False

    def begin(self, session, input_layer, *, data=None) -> None:
        """Start previews of ``session`` on ``input_layer`` (shows its noisy region until the first one).

        ``data`` is what the run trains on (default: the layer's data now).
        """
        self._session = session
        self._input = input_layer
        self.shown = 0
        self._made_layer = False
        self._data = input_layer.data if data is None else data
        requested = self._request()
        if requested is not None:
            self._place(*requested)
        session.preview.connect(self._show)

    def off(self) -> None:
        """No more previews for this run (the input layer or the preview layer was removed)."""
        if self._session is not None:
            self._session.set_preview(None, every_s=self.every_s)
        self._region = None

    def end(self, *, keep: bool = False) -> None:
        """The run ended: stop listening; remove the preview layer unless ``keep`` (and it showed a prediction)."""
        if self._session is not None:
            self._session.preview.disconnect(self._show)
        if self.layer is not None and not (keep and self.shown):
            if self.layer in self.viewer.layers:
                selection = self.viewer.layers.selection
                was_active = selection.active == self.layer
                self.viewer.layers.remove(self.layer)
                if was_active and self._input in self.viewer.layers:
                    selection.active = self._input  # not whichever layer napari selects next
            self.layer = None
        self._session = self._region = self._data = None

    def release(self) -> None:
        """Let go of the run and its data (the widget is closing); touches no layer."""
        if self._session is not None:
            try:
                self._session.preview.disconnect(self._show)
            except (TypeError, ValueError, RuntimeError):
                pass
        self._session = self._region = self._data = self._input = self.layer = None

    # ---- the protocol ------------------------------------------------------------------------
    def _request(self):
        """Ask for a preview of the visible part of the input; return ``(region, start)`` or ``None``."""
        layer = self._input
        session = self._session
        if layer is None or session is None or layer not in self.viewer.layers:
            self.off()
            return None
        if tuple(layer.data.shape) != tuple(self._data.shape):
            self.off()
            notify.info(
                f"The data of layer '{layer.name}' were replaced (now {layer.data.ndim}D, shape "
                f"{tuple(layer.data.shape)}), so previews are off for this run; training goes on with the "
                "data it started with."
            )
            return None
        trainer = session.trainer
        try:
            index, start = visible_region(
                self.viewer,
                layer,
                trainer.axes,
                max_size=PREVIEW_MAX["3d" if trainer.spatial_ndim == 3 else "2d"],
            )
            region = np.asarray(self._data[index], dtype=np.float32)
        except Exception as exc:  # a preview is never worth an error: say so once and go on without
            self.off()
            notify.info(
                f"Previews are off for this run ({type(exc).__name__}: {exc}); training goes on."
            )
            return None
        # S, T: one frame
        sample_dims = tuple(d for d, a in enumerate(trainer.axes) if a not in "CZYX")
        self._region = (index, start, region.shape, sample_dims)
        session.set_preview(
            np.squeeze(region, axis=sample_dims) if sample_dims else region, every_s=self.every_s
        )
        return region, start

    def _show(self, event) -> None:
        if self._region is None or self._session is None:
            return
        # the layer's data were replaced
        if tuple(self._input.data.shape) != tuple(self._data.shape):
            self._request()  # says so, once, and turns previews off
            return
        _, start, shape, sample_dims = self._region
        image = np.expand_dims(event.image, sample_dims) if sample_dims else event.image
        if tuple(image.shape) != tuple(shape):  # made for an older region: wait for the next one
            self._request()
            return
        if self.layer is not None and self.layer not in self.viewer.layers:
            self.off()
            notify.info(
                "The training preview layer was removed, so previews are off for this run "
                "(tick 'live preview' and train again to get them back)."
            )
            return
        self._place(image, start)
        self.shown += 1
        self._request()  # follow the user's panning and zooming

    def _place(self, image: np.ndarray, start: tuple[int, ...]) -> None:
        """Show ``image`` (a region of the input starting at ``start``) in the preview layer.

        The layer is made when training starts, so the cost of adding a layer falls on the
        Train click, not on the running training; the last run's layer on the same input is reused.
        """
        source = self._input
        scale = np.asarray(source.scale, dtype=float)
        translate = np.asarray(source.translate, dtype=float) + np.asarray(start) * scale
        reuse = (
            self.layer is not None
            and self.layer in self.viewer.layers
            and self.layer.ndim == image.ndim
            and n2n_meta(self.layer).get("source") == source.name
        )
        if reuse:
            self.layer.data = image
        else:
            active = self.viewer.layers.selection.active
            self.layer = self.viewer.add_image(
                image,
                name=unique_name(self.viewer, f"{source.name} preview (training)"),
                contrast_limits=_limits(source, image),
                colormap=source.colormap.name,
                scale=tuple(scale),
                translate=tuple(translate),
                metadata=n2n_metadata(role="preview", source=source.name),
            )
            if active is not None and active in self.viewer.layers:
                self.viewer.layers.selection.active = (
                    active  # the preview does not take the user's selection
                )
            self._made_layer = True
        # each change of scale/translate makes napari recompute the scene: only when needed
        if not np.allclose(self.layer.scale, scale):
            self.layer.scale = tuple(scale)
        if not np.allclose(self.layer.translate, translate):
            self.layer.translate = tuple(translate)


def _limits(source, image) -> tuple[float, float]:
    """The input layer's contrast limits (so preview and input compare), else the preview's own range."""
    try:
        lo, hi = (float(v) for v in source.contrast_limits)
    except (TypeError, ValueError):
        lo = hi = 0.0
    return (lo, hi) if hi > lo else robust_limits(image)
