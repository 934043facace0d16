"""Model files: weights and metadata in one safetensors file (no pickle), with a versioned schema.

A ``.n2n`` file is a `safetensors <https://github.com/huggingface/safetensors>`_ file: the
tensors are the U-Net weights (``model<i>.<name>`` for the model of channel group ``i``), and the
string metadata holds ``format = "napari-n2n"``, ``format_version`` and one JSON document,
the :class:`ModelFile`: architecture, normalisation, axes, training configuration, noise
model, training history and the version of napari-n2n that wrote it. Loading parses JSON and
raw tensors only, so a model file shared by someone else cannot run code on your machine.

Format versions
---------------
1
    napari-n2n 0.1 before reflect padding; a U-Net without a ``padding`` field was trained
    with zero padding.
2
    The U-Net records its ``padding``; the training configuration its ``padding`` too.

Older files are brought up to date by the functions of :data:`MIGRATIONS`, one step at a time.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

from .errors import ModelFileError
from .files import Destination

FORMAT = "napari-n2n"
FORMAT_VERSION = 2
SUFFIX = ".n2n"


@dataclass(frozen=True)
class ModelFile:
    """What a model file says about its model (the JSON document of the current format).

    Attributes
    ----------
    unet : dict
        The :class:`~napari_n2n.core.model.UNetConfig` fields.
    channel_groups : list of list of int
        The channels of each model (one group: one joint model; one per channel: separate).
    normalization : dict
        :meth:`Normalization.to_dict <napari_n2n.core.data.normalization.Normalization.to_dict>`.
    axes : str
        Axes of the training data.
    config : dict or None
        The :class:`~napari_n2n.core.config.TrainConfig` fields.
    noise : dict or None
        The noise model, where known.
    history : dict
        Training history: the lists ``step``, ``train_loss``, ``val_step``, ``val_loss``,
        ``val_psnr``, ``val_est_psnr`` and ``val_est_psnr_stderr`` (the PSNR estimated without a
        clean image, and its standard error), and ``steps_done``, ``elapsed_s``, ``best_step``,
        ``best_val_loss``.
    info : dict
        Free-form facts (e.g. the device it was trained on).
    napari_n2n_version : str
        The version that wrote the file.
    """

    unet: dict
    channel_groups: list
    normalization: dict
    axes: str
    config: dict | None = None
    noise: dict | None = None
    history: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    napari_n2n_version: str = ""

    def to_json(self) -> str:
        """The JSON document stored in the file's metadata."""
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_payload(cls, payload: dict) -> ModelFile:
        """The schema from a current-format JSON document (unknown keys are ignored).

        Parameters
        ----------
        payload : dict
            The parsed JSON document, migrated to the current format (see :func:`migrate`).

        Returns
        -------
        ModelFile

        Raises
        ------
        KeyError
            If a required entry is missing.
        """
        known = {f.name for f in dataclasses.fields(cls)}
        missing = [
            k for k in ("unet", "channel_groups", "normalization", "axes") if k not in payload
        ]
        if missing:
            raise KeyError(f"missing {', '.join(missing)}")
        values = {k: v for k, v in payload.items() if k in known}
        values["history"] = values.get("history") or {}
        values["info"] = values.get("info") or {}
        return cls(**values)


def _from_v1(payload: dict) -> dict:
    """Format 1 → 2: a U-Net without ``padding`` used zeros; the config records the padding too."""
    unet = dict(payload.get("unet") or {})
    if "residual" in unet:
        raise ModelFileError(
            "this file was written by a pre-release development version of napari-n2n (U-Net with a residual "
            "output), which this version cannot run. Retrain the model."
        )
    unet.setdefault("padding", "zeros")
    config = payload.get("config")
    # format 1 predates presets: its defaults were the standard preset's
    if isinstance(config, dict):
        config = {"preset": "standard", **config, "padding": unet["padding"]}
    return {**payload, "unet": unet, "config": config}


#: ``{version: function}``: each function turns a payload of that version into one of the next version
MIGRATIONS: dict[int, Callable[[dict], dict]] = {1: _from_v1}


def migrate(payload: dict, version: int) -> dict:
    """Bring a payload of format ``version`` up to :data:`FORMAT_VERSION`.

    Parameters
    ----------
    payload : dict
        The file's JSON document.
    version : int
        Its format version.

    Returns
    -------
    dict
        The document in the current format.
    """
    while version < FORMAT_VERSION:
        payload = MIGRATIONS[version](payload)
        version += 1
    return payload


def write_safetensors(
    path: str | os.PathLike,
    tensors: dict,
    metadata: dict[str, str],
    *,
    overwrite: bool = False,
    what: str = "model file",
) -> Path:
    """Write ``tensors`` (name → torch.Tensor) and string ``metadata`` to ``path`` atomically.

    ``path`` may be a :class:`~napari_n2n.core.files.Destination` checked before training (then
    its ``overwrite`` applies, and a file that another run wrote meanwhile is not replaced);
    a plain path is checked now. The bytes go to a temporary file beside it, flushed, then
    renamed into place: a crash or a kill during the write leaves any earlier file intact. The
    file gets the user's umask. The model files and the training states
    (:mod:`napari_n2n.core.training.resume`) are both written here.

    Parameters
    ----------
    path : str, os.PathLike or Destination
        Where to write.
    tensors : dict
        Name → ``torch.Tensor`` (moved to the CPU).
    metadata : dict of str to str
        The file's string metadata.
    overwrite : bool
        Whether an existing file may be replaced (for a plain ``path``).
    what : str
        How messages name the file.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    OutputError
        If the file may not or cannot be written (it exists and ``overwrite`` is False, the
        folder is read-only or full, ...). Nothing is left behind.
    """
    from safetensors.torch import save

    destination = (
        path if isinstance(path, Destination) else Destination(path, overwrite=overwrite, what=what)
    )
    data = save(
        {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}, metadata=metadata
    )
    # safetensors' save_file writes its own temporary file (mode 600): the bytes go through ours
    return destination.write(lambda tmp: tmp.write_bytes(data))


def read_header(
    path: str | os.PathLike, *, fmt: str, newest: int, not_ours: str, what: str = "Model file"
) -> tuple[int, dict, dict]:
    """Read the header of a file written by :func:`write_safetensors`; no tensor is read.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    fmt : str
        The expected ``format`` entry of the metadata.
    newest : int
        The newest format version this napari-n2n reads.
    not_ours : str
        The message for a file that is not of that format (or truncated, or corrupted).
    what : str
        How messages name the kind of file.

    Returns
    -------
    format_version : int
    payload : object
        The parsed JSON document.
    layout : dict
        Each tensor's name → ``(shape, safetensors dtype)``.

    Raises
    ------
    ModelFileError
        If the file is missing, a folder, truncated, corrupted, of another format, or newer.
    """
    from safetensors import SafetensorError
    from safetensors.torch import safe_open

    path = Path(path)
    if path.is_dir():
        raise ModelFileError(f"{what} {path} is a folder. Give the path of the file.")
    if not path.is_file():
        raise ModelFileError(
            f"{what} {path} does not exist. Check the path, or train a model first."
        )
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            layout = {
                k: (tuple(f.get_slice(k).get_shape()), f.get_slice(k).get_dtype()) for k in f.keys()
            }
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ModelFileError(not_ours) from exc
    if meta.get("format") != fmt:
        raise ModelFileError(not_ours)
    text = str(meta.get("format_version", "1")).strip()
    if not text.isdigit() or int(text) < 1:
        raise ModelFileError(
            f"{path} has an unreadable format version ({meta.get('format_version')!r}, not a "
            "whole number from 1); it is corrupted. Retrain or use another file."
        )
    version = int(text)
    if version > newest:
        raise ModelFileError(
            f"{path} was written by a newer napari-n2n (file format {version}, this version reads up to "
            f"{newest}). Upgrade napari-n2n to load it."
        )
    try:
        payload = json.loads(meta["payload"])
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ModelFileError(not_ours) from exc
    return version, payload, layout


def read_tensors(path: str | os.PathLike, not_ours: str) -> dict:
    """All tensors of a safetensors file.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    not_ours : str
        The message of the :class:`ModelFileError` raised if it cannot be read.

    Returns
    -------
    dict
        Name → ``torch.Tensor``.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ModelFileError(not_ours) from exc


def damaged_file_note(path: str | os.PathLike) -> str | None:
    """What is wrong with a model file that is empty, or a zip file that cannot be opened.

    A BioImage Model Zoo package is a zip file; one cut short (an interrupted download) or
    empty is no zip any more, and would otherwise be called "not a napari-n2n model file".

    Parameters
    ----------
    path : str or os.PathLike
        The file.

    Returns
    -------
    str or None
        The message (one line, with what to do), or ``None`` for any other file.

    Examples
    --------
    >>> import tempfile
    >>> folder = tempfile.TemporaryDirectory()
    >>> empty = Path(folder.name) / "m.bioimageio.zip"
    >>> _ = empty.write_bytes(b"")
    >>> damaged_file_note(empty)  # doctest: +ELLIPSIS
    '.../m.bioimageio.zip is empty (0 bytes): a download or copy that did not finish. ...'
    >>> folder.cleanup()
    """
    import zipfile

    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            start = f.read(4)
    except OSError:
        return None
    if size == 0:
        return (
            f"{path} is empty (0 bytes): a download or copy that did not finish. Download or copy "
            "the model (.n2n file or Zoo package) again."
        )
    if zipfile.is_zipfile(path):
        return None
    if start.startswith(b"PK"):
        return (
            f"{path} is a damaged zip file (truncated or corrupted: its index is missing), not a "
            "usable BioImage Model Zoo package. Download the package again, or choose a .n2n model."
        )
    return None


def save_checkpoint(
    path: str | os.PathLike, tensors: dict, model_file: ModelFile, *, overwrite: bool = False
) -> Path:
    """Write a model file atomically (see :func:`write_safetensors`).

    Parameters
    ----------
    path : str, os.PathLike or Destination
        Where to write.
    tensors : dict
        Name → ``torch.Tensor``: the weights.
    model_file : ModelFile
        What the file says about its model.
    overwrite : bool
        Whether an existing file may be replaced (for a plain ``path``).

    Returns
    -------
    pathlib.Path
        The path written.
    """
    meta = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "payload": model_file.to_json(),
    }
    return write_safetensors(path, tensors, meta, overwrite=overwrite, what="model file")


#: the most history entries a run records per second of a time budget (one per step on the CPU,
#: one per 10 steps on a GPU; a tiny network on a fast machine records well under this)
HISTORY_ENTRIES_PER_S = 200


def estimated_size(
    unet, channel_groups: list, steps: int | None, *, time_budget_s: float | None = None
) -> int:
    """About how many bytes the model file of a run will take: its weights and its history.

    Parameters
    ----------
    unet : UNetConfig
        The architecture (nothing is built).
    channel_groups : list of list of int
        The channels of each model.
    steps : int or None
        The run's steps (``None``: bounded by its time budget only).
    time_budget_s : float or None
        The run's time budget: its history holds no more entries than this time allows
        (:data:`HISTORY_ENTRIES_PER_S`), whatever ``steps`` asks for.

    Returns
    -------
    int
    """
    weights = sum(
        math.prod(shape)
        for g in channel_groups
        for shape in unet.for_channels(len(g)).state_shapes().values()
    )
    entries = [n for n in (steps, time_budget_s and time_budget_s * HISTORY_ENTRIES_PER_S) if n]
    # float32 weights; about 64 bytes of JSON per history entry; the rest
    return 4 * weights + 64 * math.ceil(min(entries, default=0)) + (64 << 10)


def load_checkpoint(path: str | os.PathLike) -> tuple[dict, ModelFile]:
    """Read a model file of any known format; return ``(tensors, model_file)`` in the current format.

    Everything is checked before a network is built from it: the metadata's types and ranges
    (:func:`check_model_file`), every tensor's name, shape and dtype against the architecture
    the metadata describes, and the weights' finiteness.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.n2n`` file.

    Returns
    -------
    tensors : dict
        Name → ``torch.Tensor``.
    model_file : ModelFile

    Raises
    ------
    ModelFileError
        If the file is missing, truncated, corrupted, not a napari-n2n model, from a newer
        version, or inconsistent; the message is one line that names the file.
    """
    not_ours = damaged_file_note(path) or (
        f"{path} is not a napari-n2n model file (or it is truncated or corrupted). "
        "Choose a .n2n file saved by napari-n2n, or train a new model."
    )
    version, payload, layout = read_header(
        path, fmt=FORMAT, newest=FORMAT_VERSION, not_ours=not_ours
    )
    try:
        if not isinstance(payload, dict):
            raise TypeError("the metadata is not a JSON object")
        model_file = ModelFile.from_payload(migrate(payload, version))
        check_model_file(model_file, layout)
    except ModelFileError as exc:
        raise ModelFileError(f"{path}: {exc}") from exc
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ModelFileError(
            f"{path}: {_not_usable(f'its metadata is malformed ({exc})')}"
        ) from exc
    tensors = read_tensors(path, not_ours)
    import torch

    bad = next((k for k, t in tensors.items() if not bool(torch.isfinite(t).all())), None)
    if bad is not None:
        raise ModelFileError(
            f"{path}: {_not_usable(f'its weights hold NaN or Inf values (tensor {bad})')}"
        )
    return tensors, model_file


#: tensor dtypes a model file may hold (safetensors names); weights are float32 when written
FLOAT_DTYPES = ("F32", "F16", "BF16", "F64")


def _not_usable(why: str) -> str:
    return f"not a usable napari-n2n model: {why}. It is damaged or was not written by napari-n2n; retrain or use another file."


def _is_number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def check_model_file(mf: ModelFile, layout: dict[str, tuple[tuple[int, ...], str]]) -> None:
    """Check a model file's metadata against itself and against its tensors, before anything is built.

    Parameters
    ----------
    mf : ModelFile
        The metadata.
    layout : dict
        Each tensor's name → ``(shape, safetensors dtype)`` (see :func:`read_header`).

    Raises
    ------
    ModelFileError
        On the first problem found, blaming the file.
    """
    unet = check_metadata(mf)
    expected = {
        f"model{i}.{k}": shape
        for i, g in enumerate(mf.channel_groups)
        for k, shape in unet.for_channels(len(g)).state_shapes().items()
    }
    check_layout(layout, expected)


def _refuse_model(why: str) -> NoReturn:
    raise ModelFileError(_not_usable(why))


def check_metadata(mf: ModelFile, bad: Callable[[str], NoReturn] = _refuse_model):  # noqa: C901  one check per way the metadata can be wrong, each one line
    """Check the metadata a model file (or a training state) holds: every field's type and range.

    Parameters
    ----------
    mf : ModelFile
        The metadata.
    bad : callable, optional
        Called with what is wrong; it raises (default: a :class:`ModelFileError` that calls
        the file not a usable model).

    Returns
    -------
    UNetConfig
        The architecture it describes.

    Raises
    ------
    ModelFileError
        On the first problem found (from ``bad``).
    """
    from .axes import validate_axes
    from .errors import InputError
    from .model import MAX_CHANNELS, UNetConfig

    groups = mf.channel_groups
    if (
        not isinstance(groups, list)
        or not groups
        or not all(
            isinstance(g, list)
            and g
            and all(isinstance(c, int) and not isinstance(c, bool) for c in g)
            for g in groups
        )
    ):
        bad(f"its channel groups {groups!r} are not a list of lists of channel numbers")
    n = sum(len(g) for g in groups)
    if n > MAX_CHANNELS or sorted(c for g in groups for c in g) != list(range(n)):
        bad(f"its channel groups {groups!r} do not name each channel 0..{n - 1} once")
    if not isinstance(mf.unet, dict):
        bad("its U-Net description is not a JSON object")
    try:
        unet = UNetConfig(**mf.unet)
    except (TypeError, InputError) as exc:
        bad(f"its U-Net description is invalid ({exc})")
    norm = mf.normalization
    if not isinstance(norm, dict):
        bad("its normalisation is not a JSON object")
    for key in ("offset", "scale"):
        values = norm.get(key)
        if (
            not isinstance(values, list)
            or len(values) != n
            or not all(_is_number(v) and math.isfinite(v) for v in values)
        ):
            bad(f"its normalisation {key} {values!r} is not {n} finite number(s), one per channel")
    if not all(v > 0 for v in norm["scale"]):
        bad(f"its normalisation scale {norm['scale']!r} is not positive")
    if not isinstance(mf.axes, str):
        bad(f"its axes {mf.axes!r} are not a string of axis letters")
    try:
        axes = validate_axes(mf.axes)
    except InputError as exc:
        bad(f"its axes {mf.axes!r} are not valid ({exc})")
    if unet.ndim == 3 and "Z" not in axes:
        bad(f"it holds a 3D network but its axes {axes!r} have no Z")
    if n > 1 and "C" not in axes:
        bad(f"it holds a {n}-channel network but its axes {axes!r} have no C")
    for name, value, kinds in (
        ("config", mf.config, (dict, type(None))),
        ("noise", mf.noise, (dict, type(None))),
        ("history", mf.history, dict),
        ("info", mf.info, dict),
        ("napari_n2n_version", mf.napari_n2n_version, str),
    ):
        if not isinstance(value, kinds):
            bad(f"its {name} field has the wrong type ({type(value).__name__})")
    _check_history(mf.history, bad)
    return unet


def check_layout(
    layout: dict[str, tuple[tuple[int, ...], str]],
    expected: dict[str, tuple[int, ...]],
    bad: Callable[[str], NoReturn] = _refuse_model,
) -> None:
    """Check that a file holds exactly the tensors expected, of their shapes, floating point.

    Parameters
    ----------
    layout : dict
        Each tensor's name → ``(shape, safetensors dtype)`` (see :func:`read_header`).
    expected : dict
        Each tensor's name → the shape its architecture needs.
    bad : callable, optional
        Called with what is wrong; it raises (as for :func:`check_metadata`).
    """
    for name in sorted(set(layout) | set(expected)):
        if name not in layout:
            bad(f"tensor {name} is missing")
        if name not in expected:
            bad(f"it holds a tensor {name} that its U-Net description has no place for")
        shape, dtype = layout[name]
        if shape != expected[name]:
            bad(f"tensor {name} has shape {shape} but its U-Net description needs {expected[name]}")
        if dtype not in FLOAT_DTYPES:
            bad(f"tensor {name} holds {dtype} values; weights must be floating point")


def _check_history(history: dict, bad) -> None:
    """The training history's known keys have the types the widgets and the command line read."""
    lists = {
        "step": False,
        "train_loss": True,
        "val_step": False,
        "val_loss": True,
        "val_psnr": True,
        "val_est_psnr": True,
        "val_est_psnr_stderr": True,
    }
    for key, may_be_float in lists.items():
        if key not in history:
            continue
        values = history[key]
        # None: not measured then
        nullable = key in (
            "val_psnr",
            "val_est_psnr",
            "val_est_psnr_stderr",
        )
        ok = isinstance(values, list) and all(
            (v is None and nullable) or (_is_number(v) and (may_be_float or isinstance(v, int)))
            for v in values
        )
        if not ok:
            bad(f"its training history {key!r} is not a list of numbers")
    for key, kinds in (
        ("steps_done", int),
        ("best_step", int | None),
        ("elapsed_s", int | float),
        ("best_val_loss", int | float | None),
    ):
        if key in history and (
            not isinstance(history[key], kinds)
            or isinstance(history[key], bool)
            or (
                history[key] is not None
                and _is_number(history[key])
                and history[key] < 0
                and key != "best_val_loss"
            )
        ):
            bad(f"its training history {key!r} is {history[key]!r}")
