"""What the widgets share in this napari session: the models trained or loaded, and the pairs made.

:data:`MODELS` lists the models (Train adds, Denoise offers); :data:`PAIRS` tells the Train
widget that Noisy pairs has made or linked a pair, so it takes it as input and target.
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass, field

from psygnal import Signal


@dataclass(eq=False)
class ModelEntry:
    """One model of the session: a :class:`~napari_n2n.core.inference.denoiser.Denoiser` and where it came from."""

    name: str
    denoiser: object
    source: str = "trained"  # "trained" or "file"
    path: str | None = None
    #: a weak reference to the layer it was trained on (the Denoise widget's default image), if trained here
    trained_on_ref: object = None

    @property
    def trained_on(self):
        """The layer this model was trained on, while it exists; else ``None``."""
        return self.trained_on_ref() if self.trained_on_ref is not None else None

    created: float = field(default_factory=time.time)


class ModelRegistry:
    """Session-wide list of models; ``changed`` fires when one is added or removed.

    Holds no reference to viewers or widgets, so closing a viewer frees it.
    """

    changed = Signal()

    def __init__(self):
        self._entries: list[ModelEntry] = []

    def add(
        self,
        denoiser,
        name: str,
        *,
        source: str = "trained",
        path: str | None = None,
        trained_on=None,
    ) -> ModelEntry:
        """Register ``denoiser`` under ``name`` (made unique); the newest entry comes first."""
        taken = {e.name for e in self._entries}
        unique = name
        i = 2
        while unique in taken:
            unique, i = f"{name} [{i}]", i + 1
        # the registry keeps no layer alive; a layer seen through napari's plugin proxy is referred to itself
        layer = getattr(trained_on, "__wrapped__", trained_on)
        ref = weakref.ref(layer) if layer is not None else None
        entry = ModelEntry(unique, denoiser, source, path, trained_on_ref=ref)
        self._entries.insert(0, entry)
        self.changed.emit()
        return entry

    def entries(self) -> list[ModelEntry]:
        return list(self._entries)

    def latest(self) -> ModelEntry | None:
        return self._entries[0] if self._entries else None

    def clear(self) -> None:
        self._entries.clear()
        self.changed.emit()

    def __len__(self) -> int:
        return len(self._entries)


#: the models of this session
MODELS = ModelRegistry()


class PairEvents:
    """``made(layer)`` fires when Noisy pairs has made or linked a pair; ``layer`` is its input side."""

    made = Signal(object)


#: the pairs made in this session
PAIRS = PairEvents()
