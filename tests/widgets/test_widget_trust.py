"""Trusting a result without a clean image, in a real viewer: the pair check, the photon split,
the estimated PSNR while training, test-time augmentation and uncertainty layers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import fourier_shift

from napari_n2n.widgets._registry import MODELS
from napari_n2n.widgets.denoise.widget import DenoiseWidget
from napari_n2n.widgets.noisy_pairs.widget import NoisyPairsWidget
from napari_n2n.widgets.train.widget import TrainWidget

from .._helpers import add_widget, wait_training
from ._forms import set_tiny


@pytest.fixture
def pairs(viewer):
    return add_widget(viewer, NoisyPairsWidget)


def _shifted(image, shift):
    return np.real(np.fft.ifftn(fourier_shift(np.fft.fftn(image), shift))).astype(np.float32)


def test_pair_check_panel_runs_off_the_main_thread_and_shows_findings(
    viewer, qtbot, pairs, gaussian_pair, notes
):
    _, a, b = gaussian_pair
    la = viewer.add_image(a, name="A")
    lb = viewer.add_image(_shifted(b, (2.0, 0.0)), name="B shifted")
    pairs.source.value = "two"
    assert pairs.check.native.isVisibleTo(pairs.native)
    pairs.two_layers.layer_a.value, pairs.two_layers.layer_b.value = la, lb
    assert pairs.check.start() is not None
    assert pairs.check.wait(60)
    report = pairs.check.report
    assert report.shift[0] == pytest.approx(2.0, abs=0.1)
    assert "⚠" in pairs.check.findings.value and "register" in pairs.check.findings.value
    # choosing another layer clears the old findings; a good pair shows no warning
    # selected: Noisy pairs follows the selection (A := B), so choose both
    lb2 = viewer.add_image(b, name="B")
    pairs.two_layers.layer_a.value, pairs.two_layers.layer_b.value = la, lb2
    assert pairs.check.findings.value == "" and pairs.check.report is None
    pairs.check.start()
    assert pairs.check.wait(60) and pairs.check.report.ok and "⚠" not in pairs.check.findings.value
    assert not notes.errors
    # it is offered for two layers and for stacks, not for synthetic pairs
    pairs.source.value = "synthetic"
    assert not pairs.check.native.isVisibleTo(pairs.native)


def test_pair_check_of_a_stack_and_bad_input(viewer, qtbot, pairs, gaussian_pair, notes):
    _, a, b = gaussian_pair
    # the last frame does not match: still only a warning
    stack = np.stack([a, b, a[::-1]])[:, :128, :128]
    layer = viewer.add_image(stack, name="stack")
    pairs.source.value = "stack"
    pairs.stack.layer.value = layer
    pairs.check.start()
    assert pairs.check.wait(60) and pairs.check.report.planes == 2
    pairs.source.value = "two"
    small = viewer.add_image(a[:10, :10], name="small")
    pairs.two_layers.layer_a.value, pairs.two_layers.layer_b.value = small, small
    pairs.check.start()
    pairs.check.wait(60)
    assert any("at least" in e for e in notes.errors) and not notes.tracebacks()


def test_photon_split_beside_single_image_mode(viewer, pairs, camera_crop, notes):
    counts = np.random.default_rng(0).poisson(camera_crop / 255.0 * 20 + 0.5)
    raw = viewer.add_image((counts * 3 + 100).astype(np.uint16), name="raw")
    pairs.source.value = "photon"
    assert pairs.photon.layer.native.isVisibleTo(pairs.native)
    assert not pairs.photon.gain.native.isVisibleTo(pairs.native)  # estimated by default
    pairs.photon.layer.value = raw
    layer_a, layer_b = pairs.start()
    assert pairs.photon.gain.value == pytest.approx(
        3.0
    ) and pairs.photon.offset.value == pytest.approx(100, abs=6)
    np.testing.assert_allclose((layer_a.data + layer_b.data) / 2, raw.data, atol=1e-3)
    assert layer_a.metadata["napari_n2n"]["partner"] == layer_b.name
    assert any("independent" in i for i in notes.infos)
    # given values that do not fit: a message that says what to do, no layer
    pairs.photon.auto.value = False
    assert pairs.photon.gain.native.isVisibleTo(pairs.native)
    pairs.photon.gain.value = 2.5
    n_layers = len(viewer.layers)
    assert pairs.start() == [] and len(viewer.layers) == n_layers
    assert any("not a photon-count image" in e for e in notes.errors)


def test_training_plots_the_estimated_psnr_without_a_clean_image(viewer, qtbot, small_pair, notes):
    train = add_widget(viewer, TrainWidget)
    _, a, b = small_pair
    la = viewer.add_image(a, name="A", metadata={"napari_n2n": {"partner": "B"}})
    viewer.add_image(b, name="B")
    train.form.input_layer.value = la
    assert train.form.clean_layer.value is None
    set_tiny(train, steps=40)
    train.start()
    wait_training(qtbot, train)
    assert not notes.errors
    assert train.plot.est_psnr[0] and not train.plot.psnr[0]  # estimated, no true PSNR
    assert train.session.last_validation.estimated_psnr is not None
    history = MODELS.latest().denoiser.history
    assert history["val_est_psnr"] and all(np.isfinite(v) for v in history["val_est_psnr"])


def test_denoise_with_tta_and_uncertainty_layers(viewer, qtbot, tiny_model, small_pair, notes):
    denoise = add_widget(viewer, DenoiseWidget)
    MODELS.add(tiny_model, "model")
    _, a, b = small_pair
    la = viewer.add_image(a, name="A", metadata={"napari_n2n": {"partner": "B"}})
    viewer.add_image(b, name="B")
    viewer.layers.selection.active = la  # Denoise follows the layer selected in the layer list
    assert denoise.image_layer.value is la and denoise.average.value  # the A/B average by default
    denoise.tta.value = 4
    denoise.maps.value = True
    denoise.start()
    qtbot.waitUntil(lambda: not denoise.busy, timeout=60_000)
    assert not notes.errors
    out = denoise.last_layer
    from napari_n2n.core.inference.tta import denoise_pair

    expected = denoise_pair(tiny_model, a, b, tta=4)
    np.testing.assert_allclose(out.data, expected.mean, atol=1e-4)
    names = [layer.name for layer in denoise.map_layers]
    assert names == ["A A/B disagreement", "A residual"]
    np.testing.assert_allclose(viewer.layers["A residual"].data, expected.residual, atol=1e-4)
    assert not viewer.layers["A residual"].visible
    # a single image: the residual only, with TTA
    denoise.partner_layer.value = None
    denoise.start()
    qtbot.waitUntil(lambda: not denoise.busy, timeout=60_000)
    assert [layer.name for layer in denoise.map_layers] == ["A residual [2]"]
