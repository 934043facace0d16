"""Model files from the widgets: "Save model…" (Train) and "Load…" (Denoise), where nothing escapes as a traceback.

Both turn every failure into one notification that says what to do: the core's
:class:`~napari_n2n.core.errors.N2NError` messages as they are, anything else (a bug, or a file
the core did not foresee) with its type and first line. A failed save keeps the model in the
session; a file that loads but cannot be described (e.g. a malformed training history) is
refused rather than added to the session's list.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..core.errors import N2NError
from . import _notify as notify

FILE_FILTER = "napari-n2n models (*.n2n);;All files (*)"


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


_FAILED = object()


def _attempt(call, *, otherwise: str):
    """``call()``, or ``_FAILED`` after one error notification: an :class:`N2NError`'s own message, any
    other exception as ``otherwise`` (formatted with ``error``, its type and first line)."""
    try:
        return call()
    except N2NError as exc:
        notify.error(str(exc))
    except Exception as exc:
        notify.error(otherwise.format(error=_first_line(exc)))
    return _FAILED


def save_model(denoiser, path, *, overwrite: bool = False) -> str | None:
    """Save ``denoiser`` to ``path`` (``.n2n`` added if missing); the path, or ``None`` after a notification.

    ``overwrite`` (a save dialog asked the user) replaces an existing file of that very name,
    never one that the added ``.n2n`` names: the dialog did not ask about that one.
    """
    named = str(path)
    path = named if named.lower().endswith(".n2n") else f"{named}.n2n"
    replace = overwrite and path == named
    saved = _attempt(
        lambda: str(denoiser.save(path, overwrite=replace)),
        otherwise=(
            f"Could not save the model to {path} ({{error}}). The model is still here: choose another place and press "
            "'Save model…' again."
        ),
    )
    if saved is _FAILED:
        return None
    notify.info(f"Model saved to {saved}. Load it in Denoise with 'Load model file…'.")
    return saved


def load_model(path, open_fn=None) -> tuple[object, str] | None:
    """``(model, summary)`` read from ``path`` by ``open_fn(path)`` (default: ``Denoiser.load``).

    ``None`` after a notification, or when ``open_fn`` returns ``None`` (the user declined).
    """
    from ..core.inference.denoiser import Denoiser

    def read():
        model = (open_fn or Denoiser.load)(path)
        # a model that cannot describe itself would fail in every view of it: refused here
        return None if model is None else (model, model.summary())

    loaded = _attempt(
        read,
        otherwise=(
            f"Cannot use the model file {Path(path).name} ({{error}}): it may be corrupted or written by another "
            "program. Choose another .n2n file, or train a model."
        ),
    )
    return None if loaded is _FAILED else loaded


def describe_model(entry) -> str:
    """One line about a model of the session (a :class:`~._registry.ModelEntry`); never raises."""
    try:
        return entry.denoiser.summary()
    except Exception as exc:
        return f"(its description cannot be read: {type(exc).__name__})"


def ask_save_path(parent, source: str) -> str | None:
    """The path chosen in a save dialog (default: a name made from ``source``), or ``None``."""
    from qtpy.QtWidgets import QFileDialog

    default = re.sub(r"[^\w.-]+", "_", source).strip("_")[:60] + "_n2n.n2n"
    path, _filter = QFileDialog.getSaveFileName(
        parent, "Save napari-n2n model", default, FILE_FILTER
    )
    return path or None
