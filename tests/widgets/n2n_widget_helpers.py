"""Helpers shared by the widget tests (a uniquely named module, so it never shadows another)."""

from __future__ import annotations

#: settings of the Train widget that make a quick but real training run
TINY = dict(patch_size=32, batch_size=4, learning_rate=3e-3, network=(2, 16))


def add_widget(viewer, cls):
    """Create a widget and dock it in ``viewer`` (so it is cleaned up with the viewer)."""
    widget = cls(viewer)
    viewer.window.add_dock_widget(widget, name=cls.__name__)
    return widget


def set_tiny(widget, steps: int = 20):
    widget.steps.value = steps
    for name, value in TINY.items():
        getattr(widget, name).value = value


def wait_training(qtbot, widget, timeout_ms: int = 180_000):
    qtbot.waitUntil(lambda: not widget.is_training, timeout=timeout_ms)
