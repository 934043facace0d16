"""What export and import share: the optional dependencies, quiet logging, the frozen architectures."""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import zipfile
from pathlib import Path

from ..core.errors import InputError, ModelFileError

#: the suffix of BioImage Model Zoo packages written by :func:`napari_n2n.bmz.export_bmz`
SUFFIX = ".bioimageio.zip"
#: names a package's description may have (``rdf.yaml`` is the canonical one)
DESCRIPTION_NAMES = ("rdf.yaml", "bioimageio.yaml", "model.yaml")
#: frozen architecture files shipped in this folder, with their sha256 (a test pins them: never
#: edit such a file, add a new version). A package whose architecture file is byte-identical to
#: one of them runs the code napari-n2n ships, not code from the package.
FROZEN_ARCHITECTURES = {
    "n2n_unet_v1.py": "6bf1d501dded47657ac37fc6262c8bce7690bf1f3750c9b99b6d0496b38dd590",
}
CURRENT_ARCHITECTURE = "n2n_unet_v1.py"


class CodeConsentRequired(ModelFileError):
    """The package can only run by executing Python code it names, or by fetching its weights from
    a web address (which tells that server the user's address); ask the user first.

    Retry with ``allow_code=True`` (CLI: ``--allow-code``) if the package comes from a source
    the user trusts.
    """


def require_bioimageio():
    """Import ``bioimageio.core`` and ``bioimageio.spec``; a one-line :class:`InputError` if missing."""
    try:
        import bioimageio.core
        import bioimageio.spec  # noqa: F401
    except ImportError as exc:
        raise InputError(
            "BioImage Model Zoo support needs the optional extra: pip install 'napari-n2n[bmz]'."
        ) from exc


def has_onnx_runtime() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


def has_onnx_export() -> bool:
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        return False
    return True


def require_onnx_export():
    """Import what torch's ONNX exporter needs; a one-line :class:`InputError` if missing."""
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as exc:
        raise InputError(
            "ONNX export needs the optional extra: pip install 'napari-n2n[onnx]'."
        ) from exc


_QUIET = {"depth": 0, "bar": None}
_QUIET_LOCK = threading.Lock()


@contextlib.contextmanager
def quiet():
    """Silence bioimageio for the duration: its log messages and its tqdm bar on stderr.

    napari-n2n reports progress itself (a terminal bar, napari's activity dock); the bar of
    bioimageio.core's blockwise prediction would interleave with it. Nested and concurrent uses
    (a widget and a menu function denoising at once) restore the originals when the last ends.
    """
    from loguru import logger

    try:
        from bioimageio.core import _prediction_pipeline as pipeline_module
    except ImportError:  # pragma: no cover - only with a bioimageio.core that moved it
        pipeline_module = None
    with _QUIET_LOCK:
        if _QUIET["depth"] == 0:
            logger.disable("bioimageio")
            if hasattr(pipeline_module, "tqdm"):
                _QUIET["bar"], pipeline_module.tqdm = pipeline_module.tqdm, _no_bar
        _QUIET["depth"] += 1
    try:
        yield
    finally:
        with _QUIET_LOCK:
            _QUIET["depth"] -= 1
            if _QUIET["depth"] == 0:
                logger.enable("bioimageio")
                if _QUIET["bar"] is not None:
                    pipeline_module.tqdm, _QUIET["bar"] = _QUIET["bar"], None


def _no_bar(iterable, *args, **kwargs):
    return iterable


def frozen_architecture_path(name: str = CURRENT_ARCHITECTURE) -> Path:
    return Path(__file__).with_name(name)


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def is_bmz_path(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a zip file holding a BioImage Model Zoo description.

    Cheap: reads the zip's index only, and needs no extra.

    Parameters
    ----------
    path : str or os.PathLike
        Any path.

    Returns
    -------
    bool
    """
    path = Path(path)
    if not path.is_file() or not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
    except (OSError, zipfile.BadZipFile):
        return False
    return any(n in names for n in DESCRIPTION_NAMES)


def first_line(exc: BaseException | str) -> str:
    """The first non-empty line of an exception's message (bioimageio's messages are long)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
