"""The Train widget's "start from" fields: a new network, or a trained model to fine-tune.

A napari-n2n model of this session (trained, or loaded in Denoise) or a ``.n2n`` file ("Start from
model…") gives the run its architecture and initial weights (see :mod:`napari_n2n.core.training.start`);
its normalisation is fitted to the new data unless "keep the model's normalisation" is ticked.
"""

from __future__ import annotations

import sys
from pathlib import Path

from magicgui.widgets import CheckBox, ComboBox, PushButton

from ...core.training.start import AUTO, DEFAULT_INIT_NORMALIZATION
from .._registry import MODELS, ModelEntry

NEW_NETWORK = "a new network"
#: the general denoiser on the CPU for 2D one-channel data with the preset's network, else a new network
AUTO_CHOICE = "auto (general denoiser)"


class StartFrom:
    """The fields that choose where a training run starts: :attr:`model` and :attr:`load_button`
    (one row), and :attr:`keep_normalization`.

    ``on_change(entry)`` is called with the chosen :class:`~._registry.ModelEntry` (``None``: a new
    network, or the automatic choice) whenever the choice changes.
    """

    def __init__(self, on_change=None):
        self._on_change = on_change
        self.model = ComboBox(
            label="start from",
            choices=self._choices,
            tooltip="auto: on the CPU, 2D data of one channel start from napari-n2n's general "
            "denoiser (far better in the first minutes) unless another network is chosen "
            "under Advanced; a new network; or a trained model to fine-tune on this data "
            "(its network and weights; the preset then gives only patch and batch size)",
        )
        self.load_button = PushButton(
            text="Start from model…", tooltip="Choose a .n2n file to fine-tune"
        )
        self.keep_normalization = CheckBox(
            text="keep the start model's normalisation",
            value=DEFAULT_INIT_NORMALIZATION == "keep",
            tooltip="Off (recommended): the intensities are normalised for this data, which fine-tuned as fast or "
            "faster in every case measured (docs/benchmarks.md)",
        )
        #: the fields, for enabling and disabling
        self.widgets = [self.model, self.load_button, self.keep_normalization]
        self.model.changed.connect(self._changed)
        self.load_button.changed.connect(self._on_load_clicked)
        MODELS.changed.connect(self._on_models_changed)
        self._changed()

    def _choices(self, _widget=None):
        return [
            (AUTO_CHOICE, AUTO),
            (NEW_NETWORK, NEW_NETWORK),
            *((f"model: {e.name}", e) for e in MODELS.entries() if _fine_tunable(e)),
        ]

    @property
    def entry(self) -> ModelEntry | None:
        """The model to start from (``None``: a new network)."""
        value = self.model.value
        return value if isinstance(value, ModelEntry) else None

    @property
    def automatic(self) -> bool:
        """Whether the start is chosen automatically (the general denoiser where it applies)."""
        return self.model.value == AUTO

    def choose(self, entry: ModelEntry | None | str) -> None:
        """Start from ``entry`` (a model of the session), from a new network (``None``) or automatically (``AUTO``)."""
        self.model.value = NEW_NETWORK if entry is None else entry

    def trainer_options(self) -> dict:
        """The :class:`~napari_n2n.core.training.train.Trainer` options of the choice (``init``, ``init_normalization``)."""
        entry = self.entry
        if entry is None:
            return {"init": AUTO if self.automatic else None}
        return {
            "init": entry.path or entry.denoiser,
            "init_normalization": "keep" if self.keep_normalization.value else "recompute",
        }

    def load(self, path) -> ModelEntry | None:
        """Load a ``.n2n`` file into the session's models and start from it (``None`` after a notification)."""
        from .._model_io import load_model

        loaded = load_model(path)
        if loaded is None:
            return None
        entry = MODELS.add(loaded[0], Path(path).name, source="file", path=str(path))
        self.choose(entry)
        return entry

    def _on_load_clicked(self, _=None) -> ModelEntry | None:
        from qtpy.QtWidgets import QFileDialog

        from .._model_io import FILE_FILTER

        path, _filter = QFileDialog.getOpenFileName(
            self.model.native, "Start from a napari-n2n model", "", FILE_FILTER
        )
        return self.load(path) if path else None

    def _on_models_changed(self) -> None:
        current = self.entry or self.model.value
        self.model.reset_choices()
        self.choose(current if current in self.model.choices else None)

    def _changed(self, _=None) -> None:
        self.keep_normalization.visible = self.entry is not None
        if self._on_change is not None:
            self._on_change(self.entry)

    def disconnect(self) -> None:
        """Stop following the session's models (the widget is going)."""
        try:
            MODELS.changed.disconnect(self._on_models_changed)
        except (TypeError, ValueError, RuntimeError):
            pass


def _fine_tunable(entry: ModelEntry) -> bool:
    """Whether a model of the session can start a run: a napari-n2n model (not a Zoo package from elsewhere).

    Torch-free: were the model module not imported, no model of it could exist.
    """
    module = sys.modules.get("napari_n2n.core.inference.denoiser")
    return module is not None and isinstance(entry.denoiser, module.Denoiser)
