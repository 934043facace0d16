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


#: ``init`` for the bundled general denoiser of the data's dimensions (2D:
#: ``scripts/train_general_model.py``, 3D: ``scripts/train_general_3d.py``)
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
    voxel_size : tuple of float or None
        ``(z, y, x)`` of a volume (from its file, its layer or ``--voxel-size``); ``None``:
        isotropic. Shapes the 3D network (:func:`~napari_n2n.core.model.xy_only_levels_for`).
    slices : int or None
        The fewest slices of the training volumes (3D).
    """

    n_channels: int
    spatial_ndim: int
    axes: str
    device_type: str
    fingerprint: dict | None = None
    world_size: int = 1
    voxel_size: tuple | None = None
    slices: int | None = None


def voxel_size_from(pixel_size, axes: str) -> tuple[float, float, float] | None:
    """The ``(z, y, x)`` voxel size of a volume from its per-axis pixel sizes, if they say it.

    Parameters
    ----------
    pixel_size : dict, sequence or None
        Axis letter → size (as :class:`napari_n2n.io.ImageData` reads from ImageJ spacing, OME
        PhysicalSize, NIfTI zooms or OME-Zarr scale), or one size per axis of ``axes`` (a napari
        layer's scale).
    axes : str
        The data's axes.

    Returns
    -------
    tuple of float or None
        ``None`` when the data have no Z axis, no size of Z, or a size that is not positive; a
        missing Y or X size is 1 (as ImageJ reads a stack calibrated in z only).

    Examples
    --------
    >>> voxel_size_from({"Z": 2.0, "Y": 0.5, "X": 0.5}, "ZYX")
    (2.0, 0.5, 0.5)
    >>> voxel_size_from([1.0, 3.0, 0.5, 0.5], "CZYX"), voxel_size_from({"Y": 1, "X": 1}, "ZYX")
    ((3.0, 0.5, 0.5), None)
    """
    if not pixel_size or "Z" not in axes:
        return None
    if not isinstance(pixel_size, dict):
        pixel_size = dict(zip(axes[-len(pixel_size) :], pixel_size))
    try:
        # a file that states its z-step only (ImageJ with uncalibrated pixels): pixels of 1 unit
        sizes = tuple(float(pixel_size.get(a, 1.0)) for a in "YX")
        sizes = (float(pixel_size["Z"]), *sizes)
    except (KeyError, TypeError, ValueError):
        return None
    return sizes if all(0 < v < float("inf") for v in sizes) else None


def parse_voxel_size(text: str) -> tuple[float, float, float] | None:
    """A voxel size typed as three numbers ``z y x`` (spaces or commas); empty: ``None``.

    Raises
    ------
    InputError
        If it is not three positive numbers.

    Examples
    --------
    >>> parse_voxel_size("2, 0.5, 0.5"), parse_voxel_size(" ")
    ((2.0, 0.5, 0.5), None)
    """
    parts = str(text).replace(",", " ").split()
    if not parts:
        return None
    try:
        sizes = tuple(float(p) for p in parts)
    except ValueError:
        sizes = ()
    if len(sizes) != 3 or not all(0 < v < float("inf") for v in sizes):
        raise InputError(
            f"A voxel size is three positive numbers, z y x (e.g. 2 0.5 0.5), got {text!r}."
        )
    return sizes


def general_model_path(spatial_ndim: int = 2) -> Path:
    """The file of the bundled general 2D or 3D denoiser.

    Parameters
    ----------
    spatial_ndim : int, optional
        2 or 3.

    Returns
    -------
    Path
        ``napari_n2n/models/general-2d.n2n`` or ``general-3d.n2n`` (one-channel models).
    """
    return Path(__file__).resolve().parents[2] / "models" / f"general-{spatial_ndim}d.n2n"


def general_applies(
    config: TrainConfig, *, device_type: str, spatial_ndim: int, n_channels: int
) -> bool:
    """Whether a run with ``init="auto"`` starts from the general denoiser.

    It does on the CPU, for 2D data and volumes of one channel, when no network was chosen (the
    ``cpu-quick`` preset's network, the general model's). A minute of CPU training (one thread)
    on the camera pair (σ 25) reaches 28.56 dB from random weights and 29.94 dB from the general
    model, BM3D's 29.91 dB (``benchmarks/time_to_quality.py``, docs/benchmarks.md); for volumes
    see the volume rows there.

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
        and spatial_ndim in (2, 3)
        and n_channels == 1
        and config.preset in ("auto", "cpu-quick")
        and config.depth is None
        and config.base_channels is None
        and general_model_path(spatial_ndim).is_file()
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
        asked = getattr(config, name)
        has = getattr(unet, name)
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
        general = isinstance(init, str) and init == GENERAL
        plan = start_from_model(init, config, facts, normalization=init_normalization)
        plan = dataclasses.replace(plan, config=resolved(plan.config))
        # the general model's weights fit any pooling; a user's model keeps its own network
        return shaped_for_volume(plan, facts) if general else plan
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
    return shaped_for_volume(Plan(config, unet, groups), facts)


def shaped_for_volume(plan: Plan, facts: DataFacts) -> Plan:
    """A plan whose 3D network pools as the data's voxel size and depth ask (see :func:`~napari_n2n.core.model.xy_only_levels_for`).

    Parameters
    ----------
    plan : Plan
        A plan for new or general weights (their shapes do not depend on the pooling).
    facts : DataFacts
        The data's voxel size and slices.

    Returns
    -------
    Plan
        The plan with the network's ``xy_only_levels`` set, and the voxel size in its info.
    """
    from ..model import xy_only_levels_for

    if facts.spatial_ndim != 3:
        return plan
    levels = xy_only_levels_for(facts.voxel_size, plan.unet.depth, slices=facts.slices)
    info = dict(plan.info)
    notes = plan.notes
    if facts.voxel_size is not None:
        info["voxel_size"] = [float(v) for v in facts.voxel_size]
    if levels:
        why = (
            f"voxel size {' × '.join(f'{v:g}' for v in facts.voxel_size)} (z, y, x)"
            if facts.voxel_size is not None
            else f"{facts.slices} slices"
        )
        notes = (
            *notes,
            f"anisotropic network: the top {levels} of {plan.unet.depth} levels pool in y and x only ({why})",
        )
    unet = dataclasses.replace(plan.unet, xy_only_levels=levels)
    return dataclasses.replace(plan, unet=unet, info=info, notes=notes)


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
        path = GENERAL
        init = Denoiser.load(general_model_path(facts.spatial_ndim))
    elif isinstance(init, (str, os.PathLike)):
        path, init = str(init), Denoiser.load(init)
    general = f"the general {facts.spatial_ndim}D denoiser"
    source = {None: "The initial model", GENERAL: "T" + general[1:]}.get(path, f"The model {path}")
    check_compatible(init.unet, init.channel_groups, facts, source=source)
    weights = [
        {k: v.detach().cpu().clone() for k, v in m.state_dict().items()} for m in init.models
    ]
    info = {
        "model": path or "(in memory)",
        "steps_done": init.history.get("steps_done"),
        "normalization": normalization,
    }
    what = general if path == GENERAL else info["model"]
    return Plan(
        with_architecture(config, init.unet, init.channel_groups, source=source),
        init.unet,
        [list(g) for g in init.channel_groups],
        weights,
        init.norm if normalization == "keep" else None,
        {"init_from": info},
        (f"starting from {what} ({normalization} normalisation)",),
    )
