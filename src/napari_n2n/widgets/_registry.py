"""The models trained or loaded in this napari session, shared by the Train and Denoise widgets."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from psygnal import Signal


@dataclass(eq=False)
class ModelEntry:
    """One model of the session: a :class:`~napari_n2n.core.denoiser.Denoiser` and where it came from."""

    name: str
    denoiser: object
    source: str = "trained"  # "trained" or "file"
    path: str | None = None
    created: float = field(default_factory=time.time)


class ModelRegistry:
    """Session-wide list of models; ``changed`` fires when one is added or removed.

    Holds no reference to viewers or widgets, so closing a viewer frees it.
    """

    changed = Signal()

    def __init__(self):
        self._entries: list[ModelEntry] = []

    def add(self, denoiser, name: str, *, source: str = "trained", path: str | None = None) -> ModelEntry:
        """Register ``denoiser`` under ``name`` (made unique); the newest entry comes first."""
        taken = {e.name for e in self._entries}
        unique, i = name, 2
        while unique in taken:
            unique, i = f"{name} [{i}]", i + 1
        entry = ModelEntry(unique, denoiser, source, path)
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
