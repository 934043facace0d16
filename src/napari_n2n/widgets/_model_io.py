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

FILE_FILTER = "napari-n2n models (*.n2n);;All files (*)"


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def save_model(denoiser, path) -> str | None:
    """Save ``denoiser`` to ``path`` (``.n2n`` added if missing); the path, or ``None`` after a notification."""
    from napari.utils.notifications import show_error, show_info

    path = str(path) if str(path).lower().endswith(".n2n") else f"{path}.n2n"
    try:
        saved = str(denoiser.save(path))
    except N2NError as exc:
        show_error(str(exc))
        return None
    except Exception as exc:
        show_error(f"Could not save the model to {path} ({_first_line(exc)}). The model is still here: choose "
                   "another place and press 'Save model…' again.")
        return None
    show_info(f"Model saved to {saved}. Load it in Denoise with 'Load model file…'.")
    return saved


def load_model(path, open_fn=None) -> tuple[object, str] | None:
    """``(model, summary)`` read from ``path`` by ``open_fn(path)`` (default: ``Denoiser.load``).

    ``None`` after a notification, or when ``open_fn`` returns ``None`` (the user declined).
    """
    from napari.utils.notifications import show_error

    from ..core.denoiser import Denoiser

    name = Path(path).name
    try:
        denoiser = (open_fn or Denoiser.load)(path)
        if denoiser is None:
            return None
        summary = denoiser.summary()  # a model that cannot describe itself would fail in every view of it
    except N2NError as exc:
        show_error(str(exc))
        return None
    except Exception as exc:
        show_error(f"Cannot use the model file {name} ({_first_line(exc)}): it may be corrupted or written by "
                   "another program. Choose another .n2n file, or train a model.")
        return None
    return denoiser, summary


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
    path, _filter = QFileDialog.getSaveFileName(parent, "Save napari-n2n model", default, FILE_FILTER)
    return path or None


