"""Resumable training states: what a run needs to continue where it stopped, bit for bit.

A state file (``MODEL.ckpt`` beside the model, by default) is a safetensors file like the model
files (:mod:`napari_n2n.core.checkpoint`), written the same atomic way. Its tensors are the
live weights of the model being trained (``model.<name>``), Adam's state
(``optimizer.<index>.<name>``) and the weights kept so far of each model
(``kept<group>.<name>``); its JSON document is a :class:`TrainingState`: the configuration,
architecture and normalisation, where the run stands (channel group, step, time), the
selection of the kept weights, the history, the loss scaler and a fingerprint of the data.
Nothing is pickled.

No random generator state is stored, because none is needed: every random choice of a
training step (patch positions, flips and swaps, Neighbor2Neighbor's masks) is drawn from
generators seeded by ``(seed, process rank, step)``
(:class:`~napari_n2n.core.training.batches.StepRandomness`), so the step number alone draws the same
batches again, whatever a background thread had drawn ahead. The learning rate is a function
of the step (:mod:`~napari_n2n.core.training.schedule`).

Format versions
---------------
1
    The first version (napari-n2n 0.1).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import numpy as np

from ..checkpoint import read_header, read_tensors, write_safetensors
from ..errors import InputError, ModelFileError

STATE_FORMAT = "napari-n2n-training-state"
STATE_VERSION = 1
STATE_SUFFIX = ".ckpt"

#: options that may differ between a run and its continuation: where and how fast it runs, not what it learns
MAY_DIFFER = ("device", "data_on_device", "threads", "compile")
#: options that a resumed run takes from its state when they are left unset (``None``, preset ``"auto"``)
FROM_STATE = ("preset", "depth", "base_channels", "patch_size", "batch_size", "learning_rate")
#: in-memory arrays up to this size are hashed whole; larger or lazy ones are probed at a few places
FULL_HASH_BYTES = 256 * 2**20


@dataclass(frozen=True)
class Checkpointing:
    """When a run writes its resumable state, and where.

    Parameters
    ----------
    path : str or PathLike
        The state file (by convention the model's name with ``.ckpt``).
    every_steps : int or None
        Write after every this many steps (of each model of a per-channel run).
    every_s : float or None
        Write when this many seconds have passed since the last write.

    Raises
    ------
    InputError
        If ``every_steps`` is not a positive whole number or ``every_s`` not positive.

    Notes
    -----
    The state is also written when the run ends, for whatever reason (completed, stopped,
    time budget), so a stopped run can always be resumed.
    """

    path: str | os.PathLike
    every_steps: int | None = None
    every_s: float | None = None

    def __post_init__(self):
        if self.every_steps is not None and not (
            isinstance(self.every_steps, int) and self.every_steps >= 1
        ):
            raise InputError(
                f"Checkpoint every_steps must be a positive whole number, got {self.every_steps!r}."
            )
        if self.every_s is not None and not self.every_s > 0:
            raise InputError(
                f"Checkpoint every_s must be a positive number of seconds, got {self.every_s!r}."
            )

    def check(self):
        """Check before the run that the state can be written.

        Returns
        -------
        Destination
            The state file, checked: write every state of the run through it, so that a
            state another run wrote meanwhile is noticed, not replaced.

        Raises
        ------
        OutputError
            If its folder is missing or read-only, or the path is a folder or an input.
        """
        from ..files import Destination

        return Destination(self.path, overwrite=True, what="training state")

    def due(self, step: int, since_last_s: float) -> bool:
        """Whether a state should be written after a step.

        Parameters
        ----------
        step : int
            The step just done (of the model being trained).
        since_last_s : float
            Seconds since the last write.

        Returns
        -------
        bool
            Whether either interval has come round.
        """
        return bool(
            (self.every_steps and step % self.every_steps == 0)
            or (self.every_s and since_last_s >= self.every_s)
        )


@dataclass(frozen=True)
class TrainingState:
    """The JSON document of a state file (see the module's description).

    Attributes
    ----------
    config, unet, normalization : dict
        The run's configuration, architecture and normalisation.
    channel_groups : list
        The channel groups, one model each.
    axes : str
        The training data's axes.
    data : dict
        The fingerprints of :func:`data_fingerprint`.
    group : int
        The channel group being trained.
    step : int
        The steps that group's model has done.
    steps_done : int
        The steps of the whole run.
    elapsed_s, group_elapsed_s : float
        Seconds the run, and the group's model, have trained.
    history : dict
        Losses and scores so far.
    kept : list of dict
        One entry per group whose kept weights are stored
        (``{"group", "best_step", "best_val_loss"}``).
    world_size : int
        The processes that trained.
    scaler : dict
        The mixed-precision loss scaler's state.
    noise, info : dict
        The noise model and other facts, for the model file.
    napari_n2n_version : str
        The version that wrote the state.
    """

    config: dict
    unet: dict
    channel_groups: list
    axes: str
    normalization: dict
    data: dict
    group: int
    step: int
    steps_done: int
    elapsed_s: float
    group_elapsed_s: float
    history: dict
    kept: list
    world_size: int = 1
    scaler: dict = field(default_factory=dict)
    noise: dict | None = None
    info: dict = field(default_factory=dict)
    napari_n2n_version: str = ""


@dataclass(frozen=True)
class Resumed:
    """A state read back: its document and its tensors, split by role.

    Attributes
    ----------
    state : TrainingState
        The document.
    model : dict
        The live model's state dict.
    optimizer : dict
        Adam's moments, by ``"index.key"``.
    kept : dict
        The kept weights' state dicts, by group.
    """

    state: TrainingState
    model: dict
    optimizer: dict
    kept: dict

    def optimizer_state(self, optimizer) -> dict:
        """A ``state_dict`` for an optimiser: its hyper-parameters, copies of this state's moments.

        Copies, because the optimiser updates its moments in place and a trainer may run
        again from the same state (:meth:`~napari_n2n.core.training.train.Trainer.run`).

        Parameters
        ----------
        optimizer : torch.optim.Optimizer
            The optimiser to load it into.

        Returns
        -------
        dict
            For ``optimizer.load_state_dict``.
        """
        current = optimizer.state_dict()
        state: dict = {}
        for name, value in self.optimizer.items():
            index, key = name.split(".", 1)
            state.setdefault(int(index), {})[key] = value.clone()
        return {"state": state, "param_groups": current["param_groups"]}


def save_state(
    path: str | os.PathLike,
    state: TrainingState,
    *,
    model: dict,
    optimizer: dict,
    kept: dict[int, dict],
) -> Path:
    """Write a state file atomically (it replaces the previous one).

    Parameters
    ----------
    path : str or PathLike
        The state file.
    state : TrainingState
        The document.
    model : dict
        The live model's state dict.
    optimizer : dict
        Adam's state dict.
    kept : dict
        The kept weights' state dicts, by group.

    Returns
    -------
    Path
        The file written.
    """
    tensors = {f"model.{k}": v for k, v in model.items()}
    for index, values in optimizer["state"].items():
        for key, value in values.items():
            import torch

            tensors[f"optimizer.{index}.{key}"] = (
                value if isinstance(value, torch.Tensor) else torch.tensor(value)
            )
    for g, weights in kept.items():
        tensors.update({f"kept{g}.{k}": v for k, v in weights.items()})
    meta = {
        "format": STATE_FORMAT,
        "format_version": str(STATE_VERSION),
        "payload": json.dumps(dataclasses.asdict(state)),
    }
    # each write replaces the previous state: a kill during a write leaves that one intact
    return write_safetensors(path, tensors, meta, overwrite=True, what="training state")


def load_state(path: str | os.PathLike) -> Resumed:
    """Read a state file.

    Parameters
    ----------
    path : str or PathLike
        The state file (``.ckpt``).

    Returns
    -------
    Resumed
        Its document and tensors.

    Raises
    ------
    ModelFileError
        If it is missing, truncated, not a napari-n2n state, written by a newer version, or
        damaged: any field of the wrong type or range, counters that disagree with the history,
        a tensor of the wrong name or shape, NaN or Inf weights (see
        :func:`~napari_n2n.core.training.state_checks.check_state`).
    """
    not_ours = (
        f"{path} is not a napari-n2n training checkpoint (or it is truncated or corrupted). "
        "Give the .ckpt file written by napari-n2n train --checkpoint-every, or start the run again."
    )
    _, payload, layout = read_header(
        path, fmt=STATE_FORMAT, newest=STATE_VERSION, not_ours=not_ours, what="Training checkpoint"
    )
    known = {f.name for f in dataclasses.fields(TrainingState)}
    if not isinstance(payload, dict):
        raise ModelFileError(not_ours)
    try:
        state = TrainingState(**{k: v for k, v in payload.items() if k in known})
    except TypeError as exc:
        raise ModelFileError(not_ours) from exc

    def bad(why: str) -> NoReturn:
        raise ModelFileError(
            f"{path}: not a usable napari-n2n training checkpoint: {why}. It is damaged or was not "
            "written by napari-n2n; start the run again, or give another state file."
        )

    from .state_checks import check_state

    check_state(state, layout, bad)
    tensors = read_tensors(path, not_ours)
    parts: dict[str, dict] = {"model": {}, "optimizer": {}}
    kept: dict[int, dict] = {}
    for name, value in tensors.items():
        head, rest = name.split(".", 1)
        if head in parts:
            parts[head][rest] = value
        else:  # check_state allows no other names
            kept.setdefault(int(head[4:]), {})[rest] = value
    import torch

    nonfinite = next((k for k, t in tensors.items() if not bool(torch.isfinite(t).all())), None)
    if nonfinite is not None:
        bad(f"its tensor {nonfinite} holds NaN or Inf values")
    return Resumed(state, parts["model"], parts["optimizer"], kept)


# ---- is it the same run? ------------------------------------------------------------------------
def fingerprint(array) -> dict:
    """Shape, dtype and a digest of ``array``'s values (whole when small, else a few probes).

    In-memory arrays up to :data:`FULL_HASH_BYTES` are hashed whole; larger or lazy ones
    (dask, zarr, memory maps) at their first, middle and last sample, a central crop of up
    to 512×512 each, so that a check costs no more than reading a few tiles.

    Parameters
    ----------
    array : array-like
        The array (numpy, dask, zarr, memory map).

    Returns
    -------
    dict
        ``{"shape", "dtype", "digest"}``.
    """
    shape = tuple(int(s) for s in array.shape)
    digest = hashlib.blake2b(digest_size=16)
    if isinstance(array, np.ndarray) and array.nbytes <= FULL_HASH_BYTES:
        digest.update(np.ascontiguousarray(array).tobytes())
    else:
        lead = shape[:-2]
        crop = tuple(slice(max(0, s // 2 - 256), s // 2 + 256) for s in shape[-2:])
        for pos in sorted(
            {tuple(0 for _ in lead), tuple(s // 2 for s in lead), tuple(s - 1 for s in lead)}
        ):
            digest.update(np.ascontiguousarray(np.asarray(array[pos + crop])).tobytes())
    return {"shape": list(shape), "dtype": str(array.dtype), "digest": digest.hexdigest()}


def data_fingerprint(input, target, axes: str) -> dict:
    """Fingerprints of a run's training data (input and target) and its axes.

    ``input`` and ``target`` may be sequences (several images trained as one set,
    :mod:`~napari_n2n.core.training.multi_image`): one image is fingerprinted as itself, several by their
    shapes, types and one digest of their digests, in order.

    Parameters
    ----------
    input, target : array-like, sequence or None
        The training data.
    axes : str
        Their axes.

    Returns
    -------
    dict
        ``{"axes", "input", "target"}``.
    """
    return {"axes": axes, "input": _fingerprints(input), "target": _fingerprints(target)}


def views_fingerprint(view_sets, axes: str) -> dict:
    """:func:`data_fingerprint` of a trainer's arrays.

    Parameters
    ----------
    view_sets : list of list
        The axis views ``[[input, target, clean], ...]``.
    axes : str
        Their axes.

    Returns
    -------
    dict
        As :func:`data_fingerprint`.
    """
    inputs, targets = (
        [None if v is None else v.array for v in column] for column in list(zip(*view_sets))[:2]
    )
    return data_fingerprint(inputs, targets, axes)


def _fingerprints(arrays) -> dict | None:
    arrays = [
        a for a in (arrays if isinstance(arrays, list | tuple) else [arrays]) if a is not None
    ]
    if len(arrays) <= 1:
        return fingerprint(arrays[0]) if arrays else None
    parts = [fingerprint(a) for a in arrays]
    digest = hashlib.blake2b(
        "".join(p["digest"] for p in parts).encode(), digest_size=16
    ).hexdigest()
    return {
        "shape": [p["shape"] for p in parts],
        "dtype": [p["dtype"] for p in parts],
        "digest": digest,
    }


def _data_differences(saved: dict, now: dict) -> list[str]:
    out = []
    if saved.get("axes") != now["axes"]:
        out.append(f"axes {saved.get('axes')} in the checkpoint, {now['axes']} now")
    for role in ("input", "target"):
        a = saved.get(role)
        b = now[role]
        if (a is None) != (b is None):
            out.append(
                f"the {role}: {'none' if a is None else 'one'} in the checkpoint, {'none' if b is None else 'one'} now"
            )
        elif a is not None:
            for key, label in (("shape", "shape"), ("dtype", "type"), ("digest", "values")):
                if a.get(key) != b[key]:
                    out.append(
                        f"the {role}'s {label} differ"
                        + (
                            f" ({a.get(key)} in the checkpoint, {b[key]} now)"
                            if key != "digest"
                            else ""
                        )
                    )
                    break
    return out


def _config_differences(saved: dict, now: dict) -> list[str]:
    return [
        f"{k} {saved.get(k)!r} in the checkpoint, {now[k]!r} now"
        for k in now
        if k not in MAY_DIFFER and k in saved and saved[k] != now[k]
    ]


def unset_from(config, saved: dict):
    """A configuration with the options it leaves unset taken from a state's.

    Parameters
    ----------
    config : TrainConfig
        The configuration given.
    saved : dict
        The state's configuration.

    Returns
    -------
    TrainConfig
        ``config`` with :data:`FROM_STATE` options that are ``None`` (or ``"auto"``) from ``saved``.
    """
    unset = {
        k: saved[k]
        for k in FROM_STATE
        if k in saved and getattr(config, k) in (None, "auto") and saved[k] is not None
    }
    return config.replace(**unset)


def check_same_run(
    path, state: TrainingState, *, config: dict, data: dict, world_size: int, anyway: bool
) -> list[str]:
    """Refuse to resume a state with other data or options, naming the differences.

    Parameters
    ----------
    path : str or PathLike
        The state file, for the message.
    state : TrainingState
        The state.
    config : dict
        The configuration now.
    data : dict
        The data's fingerprints now (:func:`data_fingerprint`).
    world_size : int
        The processes now.
    anyway : bool
        Resume even if they differ.

    Returns
    -------
    list of str
        The differences (empty when none), when ``anyway`` is true.

    Raises
    ------
    InputError
        If they differ and ``anyway`` is false.
    """
    differences = _data_differences(state.data, data) + _config_differences(state.config, config)
    if state.world_size != world_size:
        differences.append(f"{state.world_size} process(es) in the checkpoint, {world_size} now")
    if differences and not anyway:
        raise InputError(
            f"{path} was saved by a run with other data or options: {'; '.join(differences)}. "
            "Resume with the same data and options, or say it is intended (--resume-anyway, "
            "resume_anyway=True) to continue with these."
        )
    return differences


# ---- the kept weights (see napari_n2n.core.training.selection) ---------------------------------------------
def kept_weights(policies: list, *, group: int, finished: bool) -> tuple[dict, list]:
    """The kept weights to store of the models up to a group.

    See :meth:`~napari_n2n.core.training.selection.KeepLatest.stored`.

    Parameters
    ----------
    policies : list
        The keep-policies, one per group.
    group : int
        The group being trained.
    finished : bool
        Whether its model has ended its training (the models before it have).

    Returns
    -------
    tuple
        ``({group: weights}, entries)``.
    """
    kept = {}
    entries = []
    for g, policy in enumerate(policies[: group + 1]):
        stored = policy.stored(final=g < group or finished)
        if stored is not None:
            weights, entry = stored
            kept[g] = weights
            entries.append({"group": g, **entry})
    return kept, entries


def restore_kept(policies: list, resumed: Resumed) -> None:
    """Give the keep-policies back the kept weights a state stores.

    Parameters
    ----------
    policies : list
        The keep-policies, one per group.
    resumed : Resumed
        The state read back.
    """
    for entry in resumed.state.kept:
        g = entry["group"]
        policies[g].restore(entry, resumed.kept[g])
