"""Named training configurations: the one home of every "which network, which patches" recipe.

A preset fixes the network size, the patch and batch sizes and the learning rate, for 2D and
for 3D; the budget (steps or seconds), the mode and the device stay the caller's. Options the
caller sets explicitly always win. ``TrainConfig(preset="auto")`` (the default) picks the
preset for the device the run uses (:func:`auto_preset`): the CLI, the Train widget, the
Python API and the demo all resolve their configuration here (:func:`resolve`), and the model
file records which preset was used.

=============  ==========================================================================
``standard``   U-Net depth 4 × 32 channels in 2D (1.9 M parameters), 3 × 16 in 3D;
               patch 64, batch 16 (napari-n2n 0.1's defaults)
``cpu-quick``  depth 3 × 16 (0.5 M parameters), patch 48, batch 8: learns the most per CPU
               second in a minute of training (camera σ25, 40 s on one core: 27.0 dB where
               ``standard`` reached 25.7 dB; measured for the demo @ b28fe3c); in 3D depth
               2 × 16 (the general 3D model's network), patch 24, batch 4: from the
               general 3D start, 45 s on two unseen volumes, 32.71 dB mean where patch 32
               reached 31.41 dB, patch 32 × batch 2 32.13 dB, patch 24 × batch 8 32.03 dB
               (benchmarks/volume_presets.py, docs/benchmarks.md, issue #25)
``cpu-tiny``   depth 2 × 8 (30 k parameters), patch 32, batch 8, learning rate 3e-3: best at
               a 20 CPU-second budget (docs/benchmarks.md, config search @ 9419ff8); in 3D
               patch 16, batch 4, learning rate 1e-3 (benchmarks/quality.py's 3D recipe)
``gpu``        ``standard``'s network with batch 64 and patch 128: 59 Mpx/s on an H200 where
               the defaults reach 9.8 Mpx/s; in 3D batch 8 and patch 64: 94 Mvox/s (issue
               #13's measurement @ 22f349c)
``large``      depth 5 × 48: more capacity for long runs on large data (not benchmarked)
=============  ==========================================================================

Examples
--------
>>> preset("cpu-quick").config(steps=500).depth
3
>>> preset("cpu-tiny").network
(2, 8)
>>> auto_preset("cpu")
'cpu-quick'
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from ..config import TrainConfig
from ..errors import InputError

#: the options a preset sets (a caller's explicit value always wins)
PRESET_FIELDS = ("depth", "base_channels", "patch_size", "batch_size", "learning_rate")


@dataclass(frozen=True)
class Preset:
    """A named set of :class:`~napari_n2n.core.config.TrainConfig` options, for 2D and for 3D.

    Parameters
    ----------
    name : str
        The name ``TrainConfig(preset=...)`` takes.
    description : str
        One line for menus.
    options : Mapping
        Values of :data:`PRESET_FIELDS`, in 2D.
    options_3d : Mapping
        What differs in 3D (over ``options``).
    """

    name: str
    description: str
    options: Mapping = field(default_factory=dict)
    #: what differs in 3D (over ``options``)
    options_3d: Mapping = field(default_factory=dict)

    def options_for(self, spatial_ndim: int) -> dict:
        """The options for a 2D or 3D model.

        Parameters
        ----------
        spatial_ndim : int
            2 or 3.

        Returns
        -------
        dict
            Values of :data:`PRESET_FIELDS`.
        """
        return {**self.options, **(self.options_3d if spatial_ndim == 3 else {})}

    def config(self, *, spatial_ndim: int = 2, **overrides) -> TrainConfig:
        """A configuration with this preset's options.

        Parameters
        ----------
        spatial_ndim : int, optional
            2 or 3: whose options to take.
        **overrides
            Other :class:`TrainConfig` fields; they win over the preset's.

        Returns
        -------
        TrainConfig
            The configuration, naming this preset.
        """
        return TrainConfig(**{"preset": self.name, **self.options_for(spatial_ndim), **overrides})

    @property
    def network(self) -> tuple[int | None, int | None]:
        """``(depth, base_channels)`` in 2D; ``None`` lets the core choose."""
        return self.options.get("depth"), self.options.get("base_channels")

    @property
    def network_label(self) -> str:
        """The preset's name and network size, e.g. ``"cpu-quick (3 levels × 16)"``."""
        d2 = self.options_for(2)
        d3 = self.options_for(3)
        size2, size3 = (
            f"{d2['depth']} × {d2['base_channels']}",
            f"{d3['depth']} × {d3['base_channels']}",
        )
        return (
            f"{self.name} ({size2} levels × channels)"
            if size2 == size3
            else f"{self.name} (2D: {size2}, 3D: {size3} levels × channels)"
        )


def _preset(name: str, description: str, options: dict, options_3d: dict | None = None) -> Preset:
    return Preset(name, description, MappingProxyType(options), MappingProxyType(options_3d or {}))


_STANDARD = dict(depth=4, base_channels=32, patch_size=64, batch_size=16, learning_rate=1e-3)
_STANDARD_3D = dict(depth=3, base_channels=16)

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        _preset("standard", "standard network (patch 64, batch 16)", _STANDARD, _STANDARD_3D),
        _preset(
            "cpu-quick",
            "quick on a CPU (patch 48, batch 8)",
            dict(depth=3, base_channels=16, patch_size=48, batch_size=8, learning_rate=1e-3),
            dict(depth=2, base_channels=16, patch_size=24, batch_size=4),
        ),
        _preset(
            "cpu-tiny",
            "tiny, for seconds of training (patch 32, batch 8)",
            dict(depth=2, base_channels=8, patch_size=32, batch_size=8, learning_rate=3e-3),
            dict(patch_size=16, batch_size=4, learning_rate=1e-3),
        ),
        _preset(
            "gpu",
            "for a GPU (patch 128, batch 64)",
            dict(_STANDARD, patch_size=128, batch_size=64),
            dict(_STANDARD_3D, patch_size=64, batch_size=8),
        ),
        _preset(
            "large",
            "large network (patch 64, batch 16)",
            dict(_STANDARD, depth=5, base_channels=48),
            dict(depth=4, base_channels=32),
        ),
    )
}


def preset(name: str) -> Preset:
    """The preset of a name.

    Parameters
    ----------
    name : str
        A name from :data:`PRESETS` (not ``"auto"``: see :func:`auto_preset`).

    Returns
    -------
    Preset
        The preset.

    Raises
    ------
    InputError
        If no preset has that name (the message lists the names).
    """
    try:
        return PRESETS[name]
    except KeyError:
        raise InputError(
            f"Unknown preset {name!r}; choose one of auto, {', '.join(PRESETS)}."
        ) from None


def auto_preset(device_type: str) -> str:
    """The preset for a device type.

    Parameters
    ----------
    device_type : str
        ``"cuda"``, ``"cpu"`` or ``"mps"``.

    Returns
    -------
    str
        ``"gpu"`` on CUDA, ``"cpu-quick"`` on the CPU, ``"standard"`` elsewhere (MPS).
    """
    return {"cuda": "gpu", "cpu": "cpu-quick"}.get(device_type, "standard")


def resolve(config: TrainConfig, *, device_type: str, spatial_ndim: int) -> TrainConfig:
    """``config`` with every option it leaves unset (``None``) taken from its preset.

    Parameters
    ----------
    config : TrainConfig
        The configuration; ``preset="auto"`` becomes the preset of ``device_type`` (see
        :func:`auto_preset`).
    device_type : str
        ``"cuda"``, ``"cpu"`` or ``"mps"``.
    spatial_ndim : int
        2 or 3.

    Returns
    -------
    TrainConfig
        The config, naming the preset it used.

    Raises
    ------
    InputError
        If the preset is unknown.

    Examples
    --------
    >>> resolve(TrainConfig(patch_size=64), device_type="cpu", spatial_ndim=2).batch_size
    8
    """
    name = auto_preset(device_type) if config.preset == "auto" else config.preset
    chosen = preset(name).options_for(spatial_ndim)
    filled = {k: chosen[k] for k in PRESET_FIELDS if getattr(config, k) is None}
    return dataclasses.replace(config, preset=name, **filled)


def describe_config(config: TrainConfig, spatial_ndim: int, patch: tuple | None = None) -> str:
    """What a resolved config trains, for the start of a run.

    Parameters
    ----------
    config : TrainConfig
        A resolved configuration (see :func:`resolve`).
    spatial_ndim : int
        2 or 3.
    patch : tuple of int, optional
        The patch trained on, where it is not the square or cube of ``patch_size`` (a shallow or
        anisotropic volume's).

    Returns
    -------
    str
        E.g. ``"preset cpu-quick: U-Net 3 levels × 16 channels, patch 48², ..."``.
    """
    shape = f"{config.patch_size}{'³' if spatial_ndim == 3 else '²'}"
    if patch is not None and len(set(patch)) > 1:
        shape = "×".join(str(v) for v in patch)
    return (
        f"preset {config.preset}: U-Net {config.depth} levels × {config.base_channels} channels, "
        f"patch {shape}, batch {config.batch_size}, learning rate {config.learning_rate:g}"
    )
