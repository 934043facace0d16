"""A Zoo package as a starting point for training: its network and weights as a :class:`Denoiser`.

Packages whose network is napari-n2n's frozen U-Net (``n2n_unet_v1.py``, byte for byte: those
napari-n2n exports, and any other package built on the same file) can be fine-tuned like a
``.n2n`` model. Nothing from the package runs: the network is napari-n2n's own, built from the
architecture's keyword arguments; the weights are read as tensors only
(``torch.load(weights_only=True)``); the normalisation is the package's preprocessing.

Examples
--------
>>> from napari_n2n.bmz import denoiser_from_bmz
>>> from napari_n2n.core.training.train import Trainer
>>> start = denoiser_from_bmz("my-denoiser.bioimageio.zip")            # doctest: +SKIP
>>> trainer = Trainer(noisy_a, noisy_b, init=start)                   # doctest: +SKIP
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from pathlib import Path

from ..core.errors import InputError, ModelFileError
from ._common import CURRENT_ARCHITECTURE, is_bmz_path, quiet, require_bioimageio
from ._package import FROZEN_CALLABLES, is_frozen_architecture, read_package

#: the attachment an exported package carries: the ``.n2n`` model file's metadata
CONFIG_ATTACHMENT = "n2n_config.json"


def denoiser_from_bmz(path: str | os.PathLike):
    """The network, weights and normalisation of a Zoo package, to train on (``init=`` of a run).

    Parameters
    ----------
    path : str or path-like
        A package whose PyTorch weights use napari-n2n's frozen U-Net (``n2n_unet_v1.py``).

    Returns
    -------
    Denoiser
        The model, with the training configuration and history of the package's
        ``n2n_config.json`` when it has one.

    Raises
    ------
    ModelFileError
        Not a package, or its network is not napari-n2n's U-Net (such a package can be run with
        :func:`~napari_n2n.bmz.load_bmz`, not trained further here), or its weights do not fit.
    InputError
        ``bioimageio.core`` is not installed.
    """
    import torch

    from ..core.data.normalization import Normalization
    from ..core.inference.denoiser import Denoiser

    path = Path(path)
    if not is_bmz_path(path):
        raise ModelFileError(
            f"{path} is not a BioImage Model Zoo package (a zip file holding rdf.yaml). Give a .n2n model "
            "or a .bioimageio.zip package."
        )
    require_bioimageio()
    with quiet():
        descr = read_package(path)
    sd = descr.weights.pytorch_state_dict
    if sd is None or not is_frozen_architecture(sd.architecture, path):
        raise ModelFileError(
            f"{path.name} cannot be trained further here: its network is not napari-n2n's U-Net "
            f"({CURRENT_ARCHITECTURE}, as napari-n2n exports it). Run it with --model instead, or train "
            "a new model."
        )
    kwargs = dict(sd.architecture.kwargs)
    with zipfile.ZipFile(path) as zf:
        state = torch.load(io.BytesIO(zf.read(str(sd.source))), weights_only=True)
        meta = _n2n_config(zf)
    unet, groups = _unet_and_groups(kwargs, path)
    models = _networks(unet, groups, sd.architecture.callable, state, path)
    offset, scale = _normalisation(descr, len([c for g in groups for c in g]), path)
    return Denoiser(
        models,
        groups,
        Normalization(offset, scale),
        unet=unet,
        axes=_axes(meta, unet.ndim, len(offset)),
        config=_config(meta),
        noise=meta.get("noise"),
        history=meta.get("history") or {},
        info={**(meta.get("info") or {}), "package": path.name},
    )


def _n2n_config(zf: zipfile.ZipFile) -> dict:
    """The ``.n2n`` metadata an exported package carries (``{}`` if absent or unreadable)."""
    try:
        meta = json.loads(zf.read(CONFIG_ATTACHMENT))
    except (KeyError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}


def _config(meta: dict):
    from ..core.config import TrainConfig

    try:
        return TrainConfig.from_dict(meta["config"]) if meta.get("config") else None
    except (InputError, TypeError, KeyError):
        return None  # the weights are what matters; the run's own configuration applies


def _axes(meta: dict, ndim: int, n_channels: int) -> str:
    from ..core.axes import validate_axes

    try:
        return validate_axes(meta["axes"])
    except (KeyError, InputError, TypeError):
        return ("C" if n_channels > 1 else "") + "ZYX"[-ndim:]


def _unet_and_groups(kwargs: dict, path: Path):
    from ..core.model import UNetConfig

    fields = ("ndim", "depth", "base_channels", "max_channels", "padding")
    try:
        unet = UNetConfig(**{k: kwargs[k] for k in fields if k in kwargs})
        groups = kwargs.get("channel_groups") or [list(range(int(kwargs.get("in_channels", 1))))]
        groups = [[int(c) for c in g] for g in groups]
    except (InputError, TypeError, ValueError) as exc:
        raise ModelFileError(
            f"{path.name}: its network's arguments are not those of napari-n2n's U-Net ({exc})."
        ) from exc
    return unet, groups


def _networks(unet, groups, callable_name, state: dict, path: Path) -> list:
    """One napari-n2n U-Net per channel group, with the package's weights (keys as the frozen file's)."""
    from ..core.model import UNet

    per_channel = str(callable_name) == FROZEN_CALLABLES[1]
    models = []
    try:
        for i, group in enumerate(groups):
            prefix = f"nets.{i}." if per_channel else ""
            part = {k[len(prefix) :]: v.float() for k, v in state.items() if k.startswith(prefix)}
            model = UNet(unet.for_channels(len(group)))
            model.load_state_dict(part, strict=True)
            models.append(model)
    except (RuntimeError, KeyError, ValueError) as exc:
        raise ModelFileError(
            f"{path.name}: its weights do not fit the network its description names; the package is damaged."
        ) from exc
    return models


def _normalisation(descr, n_channels: int, path: Path):
    """``(offset, scale)`` per channel: the package's fixed zero-mean/unit-variance preprocessing."""
    for step in descr.inputs[0].preprocessing:
        if step.id == "fixed_zero_mean_unit_variance":
            mean = step.kwargs.mean
            std = step.kwargs.std
            mean = list(mean) if isinstance(mean, (list, tuple)) else [mean] * n_channels
            std = list(std) if isinstance(std, (list, tuple)) else [std] * n_channels
            if len(mean) == len(std) == n_channels:
                return tuple(float(m) for m in mean), tuple(float(s) for s in std)
    raise ModelFileError(
        f"{path.name}: its preprocessing is not the fixed per-channel standardisation napari-n2n's U-Net "
        "was trained with, so its weights cannot be trained further here."
    )
