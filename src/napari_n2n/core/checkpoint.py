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
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ModelFileError

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
        :meth:`Normalization.to_dict <napari_n2n.core.normalization.Normalization.to_dict>`.
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
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_payload(cls, payload: dict) -> ModelFile:
        """The schema from a current-format JSON document (unknown keys are ignored)."""
        known = {f.name for f in dataclasses.fields(cls)}
        missing = [k for k in ("unet", "channel_groups", "normalization", "axes") if k not in payload]
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
    if isinstance(config, dict):  # format 1 predates presets: its defaults were the standard preset's
        config = {"preset": "standard", **config, "padding": unet["padding"]}
    return {**payload, "unet": unet, "config": config}


#: ``{version: function}``: each function turns a payload of that version into one of the next version
MIGRATIONS: dict[int, Callable[[dict], dict]] = {1: _from_v1}


def migrate(payload: dict, version: int) -> dict:
    """Bring a payload of format ``version`` up to :data:`FORMAT_VERSION`."""
    while version < FORMAT_VERSION:
        payload = MIGRATIONS[version](payload)
        version += 1
    return payload


def save_checkpoint(path: str | os.PathLike, tensors: dict, model_file: ModelFile) -> Path:
    """Write ``tensors`` (name → torch.Tensor) and ``model_file`` to ``path`` atomically."""
    from safetensors.torch import save_file

    path = Path(path)
    if path.parent and not path.parent.exists():
        raise ModelFileError(f"Cannot save the model: folder {path.parent} does not exist. Create it or choose another place.")
    meta = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "payload": model_file.to_json()}
    tmp = path.with_name(path.name + ".part")
    try:
        save_file({k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}, str(tmp), metadata=meta)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ModelFileError(f"Cannot save the model to {path}: {exc.strerror or exc}. Choose a writable place.") from exc
    return path


def load_checkpoint(path: str | os.PathLike) -> tuple[dict, ModelFile]:
    """Read a model file of any known format; return ``(tensors, model_file)`` in the current format.

    Raises
    ------
    ModelFileError
        If the file is missing, truncated, corrupted, not a napari-n2n model, or from a newer version.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open

    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"Model file {path} does not exist. Check the path, or train a model first.")
    not_ours = (
        f"{path} is not a napari-n2n model file (or it is truncated or corrupted). "
        "Choose a .n2n file saved by napari-n2n, or train a new model."
    )
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise ModelFileError(not_ours) from exc
    if meta.get("format") != FORMAT:
        raise ModelFileError(not_ours)
    try:
        version = int(meta.get("format_version", "0") or 0)
    except ValueError:
        raise ModelFileError(f"{path} has an unreadable format version ({meta.get('format_version')!r}); "
                             "it is corrupted. Retrain or use another file.") from None
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path} was written by a newer napari-n2n (file format {version}, this version reads up to "
            f"{FORMAT_VERSION}). Upgrade napari-n2n to load it."
        )
    try:
        payload = migrate(json.loads(meta["payload"]), max(version, 1))
        return tensors, ModelFile.from_payload(payload)
    except ModelFileError as exc:
        raise ModelFileError(f"{path}: {exc}") from exc
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ModelFileError(not_ours) from exc
