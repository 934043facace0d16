"""Named training configurations: the one home of every "which network, which patches" recipe.

A preset fixes the network size and the patch/batch sizes (and, where it was measured to
matter, the learning rate); the budget (steps or seconds), the mode and the device stay the
caller's. The demo, the Train widget, the command line, the tests and the benchmarks all take
their recipes from here.

=============  ==========================================================================
``standard``   the core defaults: U-Net depth 4 × 32 channels in 2D (1.9 M parameters),
               3 × 16 in 3D; patch 64, batch 16
``cpu-quick``  depth 3 × 16 (0.5 M parameters), patch 48, batch 8: learns the most per CPU
               second in a minute of training (camera σ25, 40 s on one core: 27.0 dB where
               ``standard`` reached 25.7 dB; measured for the demo @ b28fe3c)
``cpu-tiny``   depth 2 × 8 (30 k parameters), patch 32, batch 8, learning rate 3e-3: best at
               a 20 CPU-second budget (docs/benchmarks.md, config search @ 9419ff8)
``gpu``        ``standard``'s network with batch 64 and patch 128: 59 Mpx/s on an H200 where
               the defaults reach 9.8 Mpx/s (issue #13's measurement @ 22f349c)
``large``      depth 5 × 48: more capacity for long runs on large data (not benchmarked)
=============  ==========================================================================

Examples
--------
>>> preset("cpu-quick").config(steps=500).depth
3
>>> preset("cpu-tiny").network
(2, 8)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .config import TrainConfig
from .errors import InputError


@dataclass(frozen=True)
class Preset:
    """A named set of :class:`~napari_n2n.core.config.TrainConfig` options."""

    name: str
    description: str
    options: Mapping = field(default_factory=dict)

    def config(self, **overrides) -> TrainConfig:
        """A :class:`TrainConfig` with this preset's options, then ``overrides``."""
        return TrainConfig(**{**self.options, **overrides})

    @property
    def network(self) -> tuple[int | None, int | None]:
        """``(depth, base_channels)``; ``None`` lets the core choose for 2D or 3D."""
        return self.options.get("depth"), self.options.get("base_channels")

    @property
    def network_label(self) -> str:
        """The preset's name and network size, e.g. ``"cpu-quick (3 levels × 16)"``."""
        depth, base = self.network
        size = "2D: 4 levels × 32, 3D: 3 × 16" if depth is None else f"{depth} levels × {base}"
        return f"{self.name} ({size})"


def _preset(name: str, description: str, **options) -> Preset:
    return Preset(name, description, MappingProxyType(options))


PRESETS: dict[str, Preset] = {p.name: p for p in (
    _preset("standard", "standard (2D: 4 levels × 32, 3D: 3 × 16; patch 64, batch 16)"),
    _preset("cpu-quick", "quick on a CPU (3 levels × 16; patch 48, batch 8)",
            depth=3, base_channels=16, patch_size=48, batch_size=8),
    _preset("cpu-tiny", "tiny, for seconds of training (2 levels × 8; patch 32, batch 8)",
            depth=2, base_channels=8, patch_size=32, batch_size=8, learning_rate=3e-3),
    _preset("gpu", "GPU (standard network; patch 128, batch 64)", patch_size=128, batch_size=64),
    _preset("large", "large (5 levels × 48; patch 64, batch 16)", depth=5, base_channels=48),
)}


def preset(name: str) -> Preset:
    """The preset called ``name``; an :class:`InputError` lists the names otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise InputError(f"Unknown preset {name!r}; choose one of {', '.join(PRESETS)}.") from None
