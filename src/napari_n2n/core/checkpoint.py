"""Model files: weights and metadata in one safetensors file (no pickle).

A ``.n2n`` file is a `safetensors <https://github.com/huggingface/safetensors>`_ file: the
tensors are the U-Net weights, and the string metadata holds ``format = "napari-n2n"``, a
format version and one JSON document with the architecture, normalisation, axes, training
configuration, noise model, training history and package version. Loading parses JSON and raw
tensors only, so a model file shared by someone else cannot run code on your machine.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .errors import ModelFileError

FORMAT = "napari-n2n"
FORMAT_VERSION = 1
SUFFIX = ".n2n"


def save_checkpoint(path: str | os.PathLike, tensors: dict, payload: dict) -> Path:
    """Write ``tensors`` (name → torch.Tensor) and the JSON-able ``payload`` to ``path`` atomically."""
    from safetensors.torch import save_file

    path = Path(path)
    if path.parent and not path.parent.exists():
        raise ModelFileError(f"Cannot save the model: folder {path.parent} does not exist. Create it or choose another place.")
    meta = {"format": FORMAT, "format_version": str(FORMAT_VERSION), "payload": json.dumps(payload)}
    tmp = path.with_name(path.name + ".part")
    try:
        save_file({k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}, str(tmp), metadata=meta)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ModelFileError(f"Cannot save the model to {path}: {exc.strerror or exc}. Choose a writable place.") from exc
    return path


def load_checkpoint(path: str | os.PathLike) -> tuple[dict, dict]:
    """Read a model file; return ``(tensors, payload)``.

    Raises
    ------
    ModelFileError
        If the file is missing, truncated, corrupted, or not a napari-n2n model.
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
    version = int(meta.get("format_version", "0") or 0)
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path} was written by a newer napari-n2n (file format {version}, this version reads up to "
            f"{FORMAT_VERSION}). Upgrade napari-n2n to load it."
        )
    try:
        payload = json.loads(meta["payload"])
    except (KeyError, json.JSONDecodeError) as exc:
        raise ModelFileError(not_ours) from exc
    return tensors, payload
