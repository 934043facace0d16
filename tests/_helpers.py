"""What the test packages share: training budgets and widget helpers (no fixtures: see conftest.py)."""

from __future__ import annotations

from napari_n2n.core.training.presets import preset

#: TrainConfig options for tests that only need training to run, not to converge: the
#: ``cpu-tiny`` network, 3 steps of batches of 4
TRAIN_TINY = dict(preset("cpu-tiny").options, batch_size=4, steps=3)

#: TrainConfig options of the quality tests: the ``cpu-quick`` network on 32-pixel patches,
#: 400 steps (about 20-40 s on 2 CPU cores)
TRAIN_QUALITY = dict(preset("cpu-quick").options, patch_size=32, steps=400, seed=0, device="cpu")

#: settings of the Train widget that make a quick but real training run
WIDGET_TINY = dict(patch_size=32, batch_size=4, learning_rate=3e-3, network="cpu-quick")


def add_widget(viewer, cls):
    """Create a widget and dock it in ``viewer`` (so it is cleaned up with the viewer)."""
    widget = cls(viewer)
    viewer.window.add_dock_widget(widget, name=cls.__name__)
    return widget


def set_tiny(widget, steps: int = 20):
    """Set the Train widget for a quick run of ``steps`` steps."""
    widget.budget.value = "steps"
    widget.steps.value = steps
    for name, value in WIDGET_TINY.items():
        getattr(widget, name).value = value


def wait_training(qtbot, widget, timeout_ms: int = 180_000):
    """Wait until the Train widget's run has ended."""
    qtbot.waitUntil(lambda: not widget.busy, timeout=timeout_ms)
