"""The widgets' one way to tell the user something: napari's notifications, imported lazily.

The widget modules import without napari (the plugin manifest test checks it), so napari's
:mod:`napari.utils.notifications` is imported inside each helper, when a message is shown.
"""

from __future__ import annotations


def info(message: str) -> None:
    """Show ``message`` as an information notification.

    Parameters
    ----------
    message : str
        What to tell the user.
    """
    from napari.utils.notifications import show_info

    show_info(message)


def warning(message: str) -> None:
    """Show ``message`` as a warning notification.

    Parameters
    ----------
    message : str
        What went wrong or needs the user's attention (work may go on).
    """
    from napari.utils.notifications import show_warning

    show_warning(message)


def error(message: str) -> None:
    """Show ``message`` as an error notification (no traceback: for the user's mistakes).

    Parameters
    ----------
    message : str
        What failed and what to do about it.
    """
    from napari.utils.notifications import show_error

    show_error(message)
