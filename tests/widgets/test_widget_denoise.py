"""Denoise widget in a real viewer: session and file models, 2D/3D/time series/channels, Cancel, errors."""

from __future__ import annotations

import numpy as np
import pytest

from napari_n2n.widgets._registry import MODELS
from napari_n2n.widgets.denoise.widget import DenoiseWidget

from .._helpers import add_widget


@pytest.fixture
def denoise(viewer):
    return add_widget(viewer, DenoiseWidget)


def _run(qtbot, widget, timeout=30_000):
    widget.start()
    qtbot.waitUntil(lambda: not widget.busy, timeout=timeout)


def test_session_model_is_offered_and_names_never_clash(
    viewer, qtbot, denoise, tiny_model, small_pair, notes
):
    assert denoise.model.value is None  # nothing trained yet
    entry = MODELS.add(tiny_model, "N2N · test")
    assert denoise.model.value is entry and "2D U-Net" in denoise.model_info.value
    layer = viewer.add_image(small_pair[1], name="img", scale=(2.0, 3.0), translate=(1.0, -1.0))
    viewer.add_image(np.zeros((4, 4), dtype=np.float32), name="img denoised")  # already taken
    denoise.reset_choices()
    denoise.image_layer.value = layer
    assert denoise.partner_layer.value is None and not denoise.average.native.isVisibleTo(
        denoise.native
    )
    _run(qtbot, denoise)
    out = denoise.last_layer
    assert out.name == "img denoised [2]" and viewer.layers["img denoised"].data.shape == (4, 4)
    assert out.data.shape == layer.data.shape
    np.testing.assert_allclose(out.scale, (2.0, 3.0))
    np.testing.assert_allclose(out.translate, (1.0, -1.0))
    assert out.contrast_limits[0] < out.contrast_limits[1]
    assert not notes.errors and denoise.denoise_button.enabled and not denoise.cancel_button.enabled


def test_volume_time_series_and_channels(viewer, qtbot, denoise, tiny_model, notes):
    MODELS.add(tiny_model, "2D model")
    rng = np.random.default_rng(0)
    # a 2D model runs slice by slice
    # each channel in turn
    cases = [
        (
            "volume",
            rng.normal(100, 10, (3, 40, 48)).astype(np.float32),
            "",
        ),
        ("movie", rng.normal(100, 10, (2, 3, 40, 48)).astype(np.float32), "TZYX"),
        (
            "channels",
            rng.normal(100, 10, (2, 40, 48)).astype(np.float32),
            "CYX",
        ),
        ("uint16", rng.integers(0, 4000, (40, 48)).astype(np.uint16), ""),
    ]
    for name, data, axes in cases:
        layer = viewer.add_image(data, name=name)
        denoise.reset_choices()
        denoise.image_layer.value = layer
        denoise.axes.value = axes
        _run(qtbot, denoise)
        out = denoise.last_layer
        assert out.name == f"{name} denoised" and out.data.shape == data.shape, name
        assert np.isfinite(out.data).all(), name
    assert not notes.errors


def test_pair_partner_offered_and_averaged(viewer, qtbot, denoise, tiny_model, small_pair):
    MODELS.add(tiny_model, "model")
    _, a, b = small_pair
    la = viewer.add_image(a, name="A", metadata={"napari_n2n": {"partner": "B"}})
    lb = viewer.add_image(b, name="B")  # added later: offered as soon as it appears
    # the image follows the layer selected (napari selects a new layer)
    assert denoise.image_layer.value is lb
    viewer.layers.selection.active = la
    assert denoise.image_layer.value is la
    assert denoise.partner_layer.value is lb and denoise.average.native.isVisibleTo(denoise.native)
    _run(qtbot, denoise)
    out = denoise.last_layer
    assert out.name == "A denoised (A+B averaged)"
    np.testing.assert_allclose(out.data, tiny_model.predict_pair(a, b), atol=1e-4)


def test_cancel_adds_nothing_and_returns_to_usable(viewer, qtbot, denoise, tiny_model, notes):
    MODELS.add(tiny_model, "model")
    layer = viewer.add_image(
        np.random.default_rng(0).normal(0, 1, (40, 256, 256)).astype(np.float32), name="big"
    )
    denoise.reset_choices()
    denoise.image_layer.value = layer
    denoise.tile.value = 64
    denoise.start()
    assert denoise.cancel_button.enabled and not denoise.denoise_button.enabled
    job = denoise.job
    qtbot.waitUntil(lambda: denoise.progress.value > 0, timeout=30_000)
    denoise.start()  # pressed again while running
    assert denoise.job is job and "already running" in notes.warnings[-1]
    denoise.stop()
    qtbot.waitUntil(lambda: not denoise.busy, timeout=5_000)
    assert [l.name for l in viewer.layers] == ["big"]
    assert "Cancelled" in denoise.status.value and any("cancelled" in m for m in notes.infos)
    assert denoise.denoise_button.enabled and not denoise.cancel_button.enabled and not notes.errors


def test_errors_get_messages(viewer, qtbot, denoise, tiny_model, notes):
    img = viewer.add_image(
        np.random.default_rng(0).normal(0, 1, (32, 32)).astype(np.float32), name="img"
    )
    denoise.reset_choices()
    denoise.image_layer.value = img
    # no model yet
    denoise.start()
    assert "No model yet" in notes.errors[-1]
    MODELS.add(tiny_model, "model")
    # a NaN layer, an RGB layer
    nan = viewer.add_image(
        np.full((32, 32), np.nan, dtype=np.float32), name="nan", contrast_limits=(0, 1)
    )
    rgb = viewer.add_image(np.zeros((32, 32, 3), dtype=np.uint8), name="rgb", rgb=True)
    for layer, expected in ((nan, "NaN"), (rgb, "RGB")):
        denoise.reset_choices()
        denoise.image_layer.value = layer
        denoise.start()
        assert expected in notes.errors[-1]
    # axes that do not fit the image: the core's message, raised inside the worker, reaches the user
    denoise.image_layer.value = img
    denoise.axes.value = "ZYX"
    _run(qtbot, denoise)
    assert "3 axes but the image has 2" in notes.errors[-1]
    # a mismatched pair partner
    other = viewer.add_image(
        np.random.default_rng(1).normal(0, 1, (30, 32)).astype(np.float32), name="other"
    )
    denoise.reset_choices()
    denoise.axes.value = ""
    denoise.image_layer.value = img
    denoise.partner_layer.value = other
    denoise.average.value = True
    denoise.start()
    assert "same shape" in notes.errors[-1]
    assert len(notes.errors) == 5 and not notes.tracebacks()
    assert [l.name for l in viewer.layers] == ["img", "nan", "rgb", "other"]
    assert denoise.denoise_button.enabled


def test_3d_model_refuses_a_2d_image(viewer, qtbot, denoise, notes):
    from napari_n2n.core.config import TrainConfig
    from napari_n2n.core.training.train import Trainer

    vol = np.random.default_rng(0).normal(0, 1, (8, 24, 24)).astype(np.float32)
    trainer = Trainer(
        vol,
        vol + 0.1,
        axes="ZYX",
        config=TrainConfig(
            steps=1, patch_size=8, batch_size=1, depth=1, base_channels=4, val_fraction=0.0
        ),
    )
    for _ in trainer.run():
        pass
    MODELS.add(trainer.denoiser(), "3D")
    viewer.add_image(vol[0], name="slice")
    denoise.reset_choices()
    _run(qtbot, denoise)
    assert "3D model" in notes.errors[-1] and not notes.tracebacks()
    assert len(viewer.layers) == 1


def test_a_long_status_uses_the_docks_width_and_its_two_lines(viewer, qtbot, denoise):
    """A status that fits in two lines of the dock is shown whole, not cut to a narrow label."""
    denoise.native.window().show()
    text = (
        "Added 'A · camera clean noisy · gaussian(sigma=25) denoised (A+B averaged)' · "
        "est. PSNR 29.1 dB"
    )
    denoise.status.value = text
    qtbot.wait(50)
    assert denoise.status.native.width() > 0.8 * denoise.native.width()
    assert not denoise.status.elided and denoise.status.native.text() == text
    denoise.status.value = text * 4  # too long for two lines: cut, whole in the tooltip
    qtbot.wait(50)
    assert denoise.status.elided and text * 4 in denoise.status.native.toolTip()
