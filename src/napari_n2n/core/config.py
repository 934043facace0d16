"""Training configuration: a frozen dataclass that validates itself and travels as JSON."""

from __future__ import annotations

import dataclasses
import json
import warnings
from dataclasses import dataclass
from typing import Literal, get_args

from .checks import require_seed
from .errors import InputError

Mode = Literal["n2n", "n2c", "nb2nb"]
Loss = Literal["l2", "l1", "l0", "hdr"]
Channels = Literal["joint", "separate"]
Padding = Literal["reflect", "zeros"]
Registration = Literal["none", "shift", "flow"]

#: training modes and losses (see :mod:`napari_n2n.core.training.objectives` and :mod:`napari_n2n.core.training.losses`);
#: defined here so the config imports no torch
MODES: tuple[str, ...] = get_args(Mode)
LOSSES: tuple[str, ...] = get_args(Loss)
PADDINGS: tuple[str, ...] = get_args(Padding)
#: how the targets of neighbour pairs were registered (see :mod:`napari_n2n.core.data.registration`)
REGISTRATIONS: tuple[str, ...] = get_args(Registration)
#: validate every this many steps in a run bounded by time only (its step count is not known)
TIME_ONLY_VAL_EVERY = 100


@dataclass(frozen=True)
class TrainConfig:
    """How to train a denoiser. Every field has a sensible default.

    Parameters
    ----------
    mode : {"n2n", "n2c", "nb2nb"}
        Noise2Noise (target is a second noisy copy), Noise2Clean (target is clean) or
        single-image Neighbor2Neighbor (no target).
    loss : {"l2", "l1", "l0", "hdr"}
        See :mod:`napari_n2n.core.training.losses`; ``l2`` for zero-mean noise, ``l1``/``l0`` for
        impulse noise. Neighbor2Neighbor always uses its own L2-based loss.
    steps : int or None
        Optimiser steps (batches), of each model of a per-channel run. ``None``: as many as
        ``time_budget_s`` allows (a run bounded by time only; it then needs a time budget).
    time_budget_s : float or None
        Stop after this many seconds even if ``steps`` are not done (shared equally by the
        models of a per-channel run). The learning-rate schedule follows whichever of the two
        is further along (see :mod:`napari_n2n.core.training.schedule`).
    preset : str
        Where the options left at ``None`` (patch and batch size, learning rate, network size)
        come from: ``"auto"`` (default) picks the preset of the device the run uses (``gpu`` on
        CUDA, ``cpu-quick`` on the CPU), or a name from :data:`napari_n2n.core.training.presets.PRESETS`.
    patch_size : int or None
        Side of the square (2D) or cubic (3D) training patch; in 3D the Z side is capped at
        the volume's depth. ``None``: the preset's.
    batch_size : int or None
        Patches per optimiser step. ``None``: the preset's (on a GPU, shrunk to fit its memory).
    learning_rate : float or None
        Adam's peak learning rate, with warm-up and cosine decay. ``None``: the preset's.
    depth : int or None
        U-Net poolings (1 to 6). ``None``: the preset's.
    base_channels : int or None
        Channels of the U-Net's first level (at least 4). ``None``: the preset's.
    padding : {"reflect", "zeros"}
        How the U-Net's convolutions pad (see :mod:`napari_n2n.core.model`); ``"zeros"`` only
        to compare with older models.
    val_fraction : float
        Width of the validation band at the end of X (fraction of X); 0 disables it.
    val_every : int or None
        Validate every this many steps (``None``: about 20 times per run, or every
        :data:`TIME_ONLY_VAL_EVERY` steps in a run bounded by time only; see
        :attr:`validation_every`). A run with a time budget also validates at least every
        tenth of it, and every run validates its last weights when it ends
        (:class:`~napari_n2n.core.training.schedule.ValidationClock`).
    augment : bool
        Random flips and 90° rotations of the patches.
    symmetric : bool
        Train both A→B and B→A (Noise2Noise only).
    channels : {"joint", "separate"}
        One multi-channel model, or one model per channel.
    seed : int
        Seeds every random choice (patch positions, augmentation, initial weights).
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.
    amp : bool
        Mixed precision on CUDA (bfloat16 where supported, else float16 with loss scaling).
    compile : bool
        Compile the network with ``torch.compile`` (pays a compilation of tens of seconds at
        the first step for faster steps after; falls back to the plain network where compiling
        fails). Off by default: see docs/benchmarks.md for where it pays.
    threads : int or None
        CPU threads for training and prediction on the CPU. ``None`` (default): every core
        this process may use but one, which is left to the viewer and the rest of the machine
        (see :func:`napari_n2n.core.device.cpu_threads`).
    data_on_device : bool or None
        Keep the (normalised) training data on the training device and cut every batch there,
        with no host round trip per step. ``None`` (default): on CUDA GPUs when the data
        are in-memory numpy arrays that take at most a quarter of the free GPU memory; never
        on the CPU or Apple MPS (not measured there; ``True`` forces it). ``False``: always
        read patches per batch on a background thread (lazy and larger-than-memory data
        always are). ``True``: copy even when over that limit.
    nb2nb_gamma : float
        Weight of the Neighbor2Neighbor regulariser (2 in the paper).
    register : {"none", "shift", "flow"}
        How the targets were registered onto the inputs (neighbour pairs of a moving
        time-lapse, :func:`~napari_n2n.core.data.pairs.stack_neighbours`; set from the pair by
        :meth:`Trainer.from_pair <napari_n2n.core.training.train.Trainer.from_pair>`). When
        registered, NaN target pixels (the warp could not fill or trust them) are left out of
        the loss, and input and target are not swapped (``symmetric`` is not used).

    Raises
    ------
    InputError
        If a field is out of range or unknown, or the run has no end (``steps=None`` without
        ``time_budget_s``).

    Examples
    --------
    >>> config = TrainConfig(steps=500, loss="l1")
    >>> config.replace(steps=1000).steps
    1000
    >>> TrainConfig.from_dict(config.to_dict()) == config
    True
    """

    mode: Mode = "n2n"
    loss: Loss = "l2"
    steps: int | None = 2000
    time_budget_s: float | None = None
    preset: str = "auto"
    patch_size: int | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    depth: int | None = None
    base_channels: int | None = None
    padding: Padding = "reflect"
    val_fraction: float = 0.1
    val_every: int | None = None
    augment: bool = True
    symmetric: bool = True
    channels: Channels = "joint"
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    compile: bool = False
    threads: int | None = None
    nb2nb_gamma: float = 2.0
    data_on_device: bool | None = None
    register: Registration = "none"

    def __post_init__(self):  # noqa: C901  one check per field, each with its own message
        def bad(msg):
            raise InputError(msg)

        if self.mode not in MODES:
            bad(
                f"Unknown mode {self.mode!r}; choose one of {', '.join(MODES)} (n2n: two noisy copies, "
                "n2c: noisy + clean, nb2nb: one noisy image)."
            )
        if self.loss not in LOSSES:
            bad(f"Unknown loss {self.loss!r}; choose one of {', '.join(LOSSES)}.")
        if self.steps is not None and not (isinstance(self.steps, int) and self.steps >= 1):
            bad(f"steps must be a positive whole number or None, got {self.steps!r}.")
        if self.time_budget_s is not None and not self.time_budget_s > 0:
            bad(f"time_budget_s must be positive seconds or None, got {self.time_budget_s!r}.")
        if self.steps is None and self.time_budget_s is None:
            bad(
                "A run needs an end: give steps, or a time budget (time_budget_s) with steps=None "
                "to train for a time."
            )
        if self.patch_size is not None and not (
            isinstance(self.patch_size, int) and 8 <= self.patch_size <= 4096
        ):
            bad(f"patch_size must be a whole number between 8 and 4096, got {self.patch_size!r}.")
        if self.batch_size is not None and not (
            isinstance(self.batch_size, int) and self.batch_size >= 1
        ):
            bad(f"batch_size must be a positive whole number, got {self.batch_size!r}.")
        if self.learning_rate is not None and not 0 < self.learning_rate < 1:
            bad(f"learning_rate must be in (0, 1), got {self.learning_rate!r}.")
        if self.threads is not None and not (isinstance(self.threads, int) and self.threads >= 1):
            bad(
                f"threads must be a positive whole number or None (automatic), got {self.threads!r}."
            )
        if not isinstance(self.preset, str) or not self.preset:
            bad(f"preset must be 'auto' or a preset's name, got {self.preset!r}.")
        if self.depth is not None and not 1 <= self.depth <= 6:
            bad(f"depth must be between 1 and 6, got {self.depth!r}.")
        if self.base_channels is not None and self.base_channels < 4:
            bad(f"base_channels must be at least 4, got {self.base_channels!r}.")
        if not 0 <= self.val_fraction < 0.5:
            bad(f"val_fraction must be in [0, 0.5), got {self.val_fraction!r}.")
        if self.val_every is not None and self.val_every < 1:
            bad(f"val_every must be a positive number of steps, got {self.val_every!r}.")
        require_seed(self.seed)
        if self.data_on_device not in (None, True, False):
            bad(
                f"data_on_device must be True, False or None (automatic), got {self.data_on_device!r}."
            )
        if self.padding not in PADDINGS:
            bad(f"padding must be one of {', '.join(PADDINGS)}, got {self.padding!r}.")
        if self.register not in REGISTRATIONS:
            bad(
                f"register must be one of {', '.join(REGISTRATIONS)} (how the targets were registered), "
                f"got {self.register!r}."
            )
        if self.register != "none" and self.mode != "n2n":
            bad(
                f"register applies to Noise2Noise neighbour pairs (mode n2n), not mode {self.mode}."
            )
        if self.channels not in get_args(Channels):
            bad(f"channels must be 'joint' or 'separate', got {self.channels!r}.")

    @property
    def validation_every(self) -> int:
        """Steps between validations: ``val_every``, else about 20 validations per run.

        A run bounded by time only (``steps=None``) validates every
        :data:`TIME_ONLY_VAL_EVERY` steps unless ``val_every`` says otherwise.

        Examples
        --------
        >>> TrainConfig(steps=400).validation_every
        20
        >>> TrainConfig(steps=None, time_budget_s=60).validation_every
        100
        """
        if self.val_every is not None:
            return self.val_every
        if self.steps is None:
            return TIME_ONLY_VAL_EVERY
        return max(10, self.steps // 20)

    def replace(self, **changes) -> TrainConfig:
        """A copy with some fields changed (validated again).

        Parameters
        ----------
        **changes
            The fields to change, by name.

        Returns
        -------
        TrainConfig
            The new configuration.
        """
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """The fields as a plain dict (JSON-ready; :meth:`from_dict` reads it back)."""
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """The fields as a JSON string."""
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """The config described by a dict, e.g. one read from a model file.

        Parameters
        ----------
        d : dict
            Field names and values; keys this version does not know are dropped with a warning.

        Returns
        -------
        TrainConfig
            The configuration (validated).
        """
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            warnings.warn(
                f"Ignoring training options this version of napari-n2n does not know: {', '.join(unknown)}",
                stacklevel=2,
            )
        return cls(**{k: v for k, v in d.items() if k in known})
