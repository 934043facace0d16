"""Start training from a trained model: fine-tune it on new data, or continue its training.

The starting model (a :class:`~napari_n2n.core.inference.denoiser.Denoiser` or its ``.n2n`` file) gives
the architecture, the channel groups and the initial weights; the normalisation is either
fitted to the new data (``"recompute"``) or the model's own (``"keep"``). A model of another
dimensionality or channel count cannot start a run: it is refused with a message. The same
checks serve a resumed run (:mod:`napari_n2n.core.training.resume`), whose architecture comes from the
training state.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, get_args

from ..config import TrainConfig
from ..errors import InputError

# the model module imports torch: this one is read by the widgets and the command's --help
if TYPE_CHECKING:
    from ..model import UNetConfig

InitNormalization = Literal["recompute", "keep"]
INIT_NORMALIZATIONS: tuple[str, ...] = get_args(InitNormalization)
#: fit the normalisation to the new data: as fast as keeping the model's on another image of the same
#: intensities (10 steps to the PSNR that 480 from scratch reach, either way), faster at another noise
#: level (40 steps against 90, of 510 from scratch) and on a 3x brighter, offset image (10 against 40);
#: after 600 steps the two are within 0.1 dB (benchmarks/finetune.py, docs/benchmarks.md, issue #16)
DEFAULT_INIT_NORMALIZATION: InitNormalization = "recompute"


#: ``init`` for the bundled general 2D denoiser (``scripts/train_general_model.py``)
GENERAL = "general"
#: ``init`` that starts from the general denoiser where it applies (:func:`general_applies`), else from scratch
AUTO = "auto"


@dataclass(frozen=True)
class DataFacts:
    """What the start of a run needs to know of its data, and of where it runs.

    Parameters
    ----------
    n_channels : int
        Channels of the data.
    spatial_ndim : int
        2 or 3 (a ``Z`` axis).
    axes : str
        The data's axes, for messages.
    device_type : str
        ``"cpu"``, ``"cuda"`` or ``"mps"``: which preset ``"auto"`` means, and whether the
        general denoiser applies.
    fingerprint : dict or None
        The data's fingerprints (:func:`napari_n2n.core.training.resume.views_fingerprint`), which a
        resumed state must match; ``None`` when nothing is resumed or checkpointed.
    world_size : int
        Processes training together (a resumed state must have had as many).
    """

    n_channels: int
    spatial_ndim: int
    axes: str
    device_type: str
    fingerprint: dict | None = None
    world_size: int = 1


def general_model_path() -> Path:
    """The file of the bundled general 2D denoiser.

    Returns
    -------
    Path
        ``napari_n2n/models/general-2d.n2n`` (a 2D, one-channel model).
    """
    return Path(__file__).resolve().parents[2] / "models" / "general-2d.n2n"


def general_applies(
    config: TrainConfig, *, device_type: str, spatial_ndim: int, n_channels: int
) -> bool:
    """Whether a run with ``init="auto"`` starts from the general denoiser.

    It does on the CPU, for 2D data of one channel, when no network was chosen (the
    ``cpu-quick`` preset's network, the general model's). A minute of CPU training (one thread)
    on the camera pair (σ 25) reaches 28.56 dB from random weights and 29.94 dB from the general
    model, BM3D's 29.91 dB (``benchmarks/time_to_quality.py``, docs/benchmarks.md).

    Parameters
    ----------
    config : TrainConfig
        The run's options (its preset, depth and base channels).
    device_type : str
        ``"cpu"``, ``"cuda"`` or ``"mps"``.
    spatial_ndim : int
        2 or 3.
    n_channels : int
        The data's channels.

    Returns
    -------
    bool
        Whether the general denoiser applies (and is installed).
    """
    return (
        device_type == "cpu"
        and spatial_ndim == 2
        and n_channels == 1
        and config.preset in ("auto", "cpu-quick")
        and config.depth is None
        and config.base_channels is None
        and general_model_path().is_file()
    )


def check_compatible(unet: UNetConfig, groups: list, facts: DataFacts, *, source: str) -> None:
    """Refuse a starting architecture that does not fit the data.

    Parameters
    ----------
    unet : UNetConfig
        The starting model's architecture.
    groups : list
        Its channel groups.
    facts : DataFacts
        The data's channels and dimensions.
    source : str
        The starting model, for the message (e.g. ``"The model x.n2n"``).

    Raises
    ------
    InputError
        If its dimensionality or channel count differs from the data's.
    """
    n_channels = facts.n_channels
    spatial_ndim = facts.spatial_ndim
    axes = facts.axes
    if unet.ndim != spatial_ndim:
        raise InputError(
            f"{source} is a {unet.ndim}D model but the data are {spatial_ndim}D (axes {axes}). Start from a "
            f"{spatial_ndim}D model, give axes that match the model, or train from scratch."
        )
    n_model = sum(len(g) for g in groups)
    if n_model != n_channels:
        raise InputError(
            f"{source} was trained on {n_model} channel(s) but the data have {n_channels} (axes {axes}). Start "
            "from a model with the same channels, or train from scratch."
        )


def with_architecture(
    config: TrainConfig, unet: UNetConfig, groups: list, *, source: str
) -> TrainConfig:
    """A configuration with the architecture of a starting model.

    Parameters
    ----------
    config : TrainConfig
        The configuration given.
    unet : UNetConfig
        The starting model's architecture.
    groups : list
        Its channel groups.
    source : str
        The starting model, for the message.

    Returns
    -------
    TrainConfig
        ``config`` with the model's depth, base channels, padding and channel mode.

    Raises
    ------
    InputError
        If ``config`` asks for another depth or number of base channels.
    """
    for name in ("depth", "base_channels"):
        asked, has = getattr(config, name), getattr(unet, name)
        if asked is not None and asked != has:
            raise InputError(
                f"{source} has a U-Net with depth {unet.depth} and base_channels {unet.base_channels}, but "
                f"{name} {asked} was asked for. The architecture comes from the model: leave depth and "
                "base_channels unset, or train from scratch."
            )
    channels = (
        "separate" if len(groups) > 1 else ("joint" if len(groups[0]) > 1 else config.channels)
    )
    return config.replace(
        depth=unet.depth, base_channels=unet.base_channels, padding=unet.padding, channels=channels
    )


@dataclass(frozen=True)
class Plan:
    """How a run starts.

    Attributes
    ----------
    config : TrainConfig
        The configuration, with the architecture filled in.
    unet : UNetConfig
        The architecture.
    groups : list
        The channel groups, one model each.
    weights : list or None
        Initial weights per group; ``None``: random.
    norm : Normalization or None
        The normalisation; ``None``: fit to the data.
    info : dict
        Facts for the model file.
    notes : tuple of str
        Notes for the user.
    """

    config: TrainConfig
    unet: UNetConfig
    groups: list
    weights: list | None = None
    norm: object | None = None
    info: dict = field(default_factory=dict)
    notes: tuple = ()


def plan_start(
    config: TrainConfig,
    facts: DataFacts,
    *,
    init=None,
    init_normalization: InitNormalization = DEFAULT_INIT_NORMALIZATION,
    resumed=None,
    resume_path=None,
    resume_anyway: bool = False,
) -> Plan:
    """Where a run starts: from scratch, from a trained model (``init``) or from a resumed state.

    The options ``config`` leaves unset come from the resumed state, else from the preset of
    the device (:func:`napari_n2n.core.training.presets.resolve`).

    Parameters
    ----------
    config : TrainConfig
        The run's configuration, as given.
    facts : DataFacts
        The data and the device.
    init : Denoiser, path, "general", "auto" or None
        The model to start from (``"auto"``: the general denoiser where :func:`general_applies`).
    init_normalization : {"recompute", "keep"}
        Fit the normalisation to the data, or keep the starting model's.
    resumed : Resumed or None
        A state read back (:func:`~napari_n2n.core.training.resume.load_state`); wins over ``init``.
    resume_path : path or None
        Where ``resumed`` was read from, for messages.
    resume_anyway : bool
        Continue ``resumed`` although its data, options or process count differ from these
        (see :func:`napari_n2n.core.training.resume.check_same_run`); else that is refused.

    Returns
    -------
    Plan
        The configuration with every option filled in, the architecture, the channel groups,
        the initial weights and normalisation, and notes.
    """
    from ..data.normalization import Normalization
    from ..model import UNetConfig
    from .presets import resolve
    from .resume import check_same_run, unset_from

    def resolved(c: TrainConfig) -> TrainConfig:
        return resolve(c, device_type=facts.device_type, spatial_ndim=facts.spatial_ndim)

    if resumed is not None:
        state = resumed.state
        source = f"The checkpoint {resume_path}"
        unet = UNetConfig(**state.unet)
        groups = [list(g) for g in state.channel_groups]
        check_compatible(unet, groups, facts, source=source)
        config = resolved(
            with_architecture(unset_from(config, state.config), unet, groups, source=source)
        )
        differences = check_same_run(
            resume_path,
            state,
            config=config.to_dict(),
            data=facts.fingerprint,
            world_size=facts.world_size,
            anyway=resume_anyway,
        )
        return Plan(
            config,
            unet,
            groups,
            norm=Normalization.from_dict(state.normalization),
            info=dict(state.info),
            notes=(
                f"resuming {resume_path} at step {state.steps_done}",
                *(f"continuing although {d}" for d in differences),
            ),
        )
    if isinstance(init, str) and init == AUTO:
        applies = general_applies(
            config,
            device_type=facts.device_type,
            spatial_ndim=facts.spatial_ndim,
            n_channels=facts.n_channels,
        )
        init = GENERAL if applies else None
    if init is not None:
        plan = start_from_model(init, config, facts, normalization=init_normalization)
        return dataclasses.replace(plan, config=resolved(plan.config))
    config = resolved(config)
    n_channels = facts.n_channels
    groups = (
        [[c] for c in range(n_channels)]
        if config.channels == "separate"
        else [list(range(n_channels))]
    )
    unet = UNetConfig(
        in_channels=n_channels,
        out_channels=n_channels,
        ndim=facts.spatial_ndim,
        depth=config.depth,
        base_channels=config.base_channels,
        padding=config.padding,
    )
    return Plan(config, unet, groups)


def start_from_model(
    init, config: TrainConfig, facts: DataFacts, *, normalization: InitNormalization
) -> Plan:
    """The plan of a run that starts from a trained model.

    Parameters
    ----------
    init : Denoiser, str or PathLike
        A :class:`~napari_n2n.core.inference.denoiser.Denoiser`, a ``.n2n`` file's path, or
        ``"general"`` (the bundled general denoiser).
    config : TrainConfig
        The configuration given.
    facts : DataFacts
        The data's channels and dimensions.
    normalization : {"recompute", "keep"}
        Fit the normalisation to this data, or keep the model's.

    Returns
    -------
    Plan
        The model's architecture, groups and weights, and a note for the user.

    Raises
    ------
    InputError
        If ``normalization`` is unknown, or the model does not fit the data or the options.
    ModelFileError
        If the model file cannot be read.
    """
    from ..inference.denoiser import Denoiser

    if normalization not in INIT_NORMALIZATIONS:
        raise InputError(
            f"init_normalization must be one of {', '.join(INIT_NORMALIZATIONS)}, got {normalization!r}."
        )
    path = None
    if isinstance(init, str) and init == GENERAL:
        path, init = GENERAL, Denoiser.load(general_model_path())
    elif isinstance(init, (str, os.PathLike)):
        path, init = str(init), Denoiser.load(init)
    source = {None: "The initial model", GENERAL: "The general 2D denoiser"}.get(
        path, f"The model {path}"
    )
    check_compatible(init.unet, init.channel_groups, facts, source=source)
    weights = [
        {k: v.detach().cpu().clone() for k, v in m.state_dict().items()} for m in init.models
    ]
    info = {
        "model": path or "(in memory)",
        "steps_done": init.history.get("steps_done"),
        "normalization": normalization,
    }
    what = "the general 2D denoiser" if path == GENERAL else info["model"]
    return Plan(
        with_architecture(config, init.unet, init.channel_groups, source=source),
        init.unet,
        [list(g) for g in init.channel_groups],
        weights,
        init.norm if normalization == "keep" else None,
        {"init_from": info},
        (f"starting from {what} ({normalization} normalisation)",),
    )
