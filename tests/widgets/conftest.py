"""Fixtures for the widget tests: a real napari viewer (napari's ``make_napari_viewer``) under Xvfb.

Training here is tiny (a 2-level U-Net with 16 channels, 32-pixel patches, batches of 4) so the
whole widget suite runs in a few minutes on two CPU cores.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

_HAS_DISPLAY = bool(
    os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
) or os.environ.get("QT_QPA_PLATFORM", "") in ("offscreen", "minimal")


def pytest_collection_modifyitems(config, items):
    """Without a display Qt aborts the whole run: skip the viewer tests and say how to run them."""
    if _HAS_DISPLAY:
        return
    skip = pytest.mark.skip(reason="needs a display: run under xvfb-run -a (see .ci/run)")
    for item in items:
        if {"viewer", "make_napari_viewer", "qtbot"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _fresh_models():
    from napari_n2n.widgets._registry import MODELS

    MODELS.clear()
    yield
    MODELS.clear()


class Notes:
    """The napari notifications shown during a test."""

    def __init__(self):
        self.items = []

    def __call__(self, notification):
        self.items.append(notification)

    def of(self, severity: str) -> list[str]:
        return [str(n.message) for n in self.items if str(n.severity).lower().endswith(severity)]

    @property
    def errors(self) -> list[str]:
        return self.of("error")

    @property
    def warnings(self) -> list[str]:
        return self.of("warning")

    @property
    def infos(self) -> list[str]:
        return self.of("info")

    def tracebacks(self) -> list:
        """Notifications made from an exception (these show a traceback button): none for user errors."""
        from napari.utils.notifications import ErrorNotification

        return [n for n in self.items if isinstance(n, ErrorNotification)]

    def clear(self):
        self.items.clear()


@pytest.fixture
def notes():
    from napari.utils.notifications import notification_manager

    collector = Notes()
    notification_manager.notification_ready.connect(collector)
    yield collector
    notification_manager.notification_ready.disconnect(collector)


@pytest.fixture
def viewer(make_napari_viewer):
    return make_napari_viewer()


@pytest.fixture
def small_pair():
    """A 128×160 clean image (camera, downsampled) with two Gaussian-noise copies (sigma 25)."""
    from skimage import data

    from napari_n2n.core.data.noise import Gaussian, synthesize_pair

    clean = data.camera()[::4, ::4][:128, :160].astype(np.float32)
    a, b = synthesize_pair(clean, Gaussian(sigma=25.0), seed=1)
    return clean, a, b


@pytest.fixture
def tiny_model(small_pair):
    """A quickly trained 2D denoiser (5 steps), straight from the core."""
    from napari_n2n.core.config import TrainConfig
    from napari_n2n.core.training.train import Trainer

    clean, a, b = small_pair
    trainer = Trainer(
        a,
        b,
        axes="YX",
        config=TrainConfig(
            steps=5, patch_size=32, batch_size=2, depth=2, base_channels=8, val_fraction=0.0
        ),
    )
    for _ in trainer.run():
        pass
    return trainer.denoiser()
