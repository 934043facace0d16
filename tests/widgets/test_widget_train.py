"""Train widget in a real viewer: end to end with Denoise, stop, preview, save, and every bad input."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from napari_n2n.core.metrics import psnr
from napari_n2n.widgets._layers import n2n_meta
from napari_n2n.widgets._registry import MODELS
from napari_n2n.widgets.denoise.widget import DenoiseWidget
from napari_n2n.widgets.noisy_pairs.widget import NoisyPairsWidget
from napari_n2n.widgets.train.widget import TrainWidget

from .._helpers import add_widget, wait_training
from ._forms import set_tiny


@pytest.fixture
def train(viewer):
    return add_widget(viewer, TrainWidget)


def _pair_layers(viewer, small_pair, **kwargs):
    clean, a, b = small_pair
    lc = viewer.add_image(clean, name="clean", **kwargs)
    la = viewer.add_image(a, name="noisy A", **kwargs)
    lb = viewer.add_image(b, name="noisy B", **kwargs)
    return lc, la, lb


def _select(train, la, lb=None, lc=None):
    train.reset_choices()
    train.form.input_layer.value = la
    train.form.target_layer.value = lb
    train.form.clean_layer.value = lc


# ---- end to end ----------------------------------------------------------------------------
@pytest.mark.slow
def test_pair_train_stop_denoise_improves_psnr(viewer, qtbot, small_pair, notes):
    """Noisy pairs → Train (stopped early) → Denoise: a new placed layer, PSNR up by > 2 dB.

    The widgets are opened as napari opens them from Plugins → napari-n2n (npe2, with the
    viewer passed as napari's public-only proxy).
    """
    clean = small_pair[0]
    src = viewer.add_image(clean, name="cells", scale=(0.5, 0.5), translate=(4.0, 8.0))
    _, pairs = viewer.window.add_plugin_dock_widget("napari-n2n", "Noisy pairs")
    _, train = viewer.window.add_plugin_dock_widget("napari-n2n", "Train Noise2Noise")
    _, denoise = viewer.window.add_plugin_dock_widget("napari-n2n", "Denoise")
    assert isinstance(pairs, NoisyPairsWidget) and isinstance(train, TrainWidget)
    assert isinstance(denoise, DenoiseWidget)
    # an unmarked image is offered as noisy data (single image): this one is clean, so synthesise
    pairs.source.value = "synthetic"
    pairs.synthetic.clean_layer.value = src
    pairs.synthetic.params["gaussian"]["sigma"].value = 25.0
    layer_a, layer_b = pairs.start()
    # the Train widget takes the pair at once, with target and clean from the pair's metadata
    assert train.form.input_layer.value == layer_a
    assert train.form.target_layer.value == layer_b and train.form.clean_layer.value == src
    set_tiny(train, steps=400)  # validation (and PSNR) every 20 steps
    train.form.keep_preview.value = True
    train.preview.every_s = 0.3
    train.start()
    assert train.busy and not train.train_button.enabled and train.stop_button.enabled
    run = train.session
    qtbot.waitUntil(lambda: len(run.trainer.history["step"]) >= 150, timeout=240_000)
    train.stop()
    wait_training(qtbot, train, 10_000)
    assert run.finished.reason == "stopped" and run.finished.steps_done < 400
    assert (
        train.train_button.enabled and not train.stop_button.enabled and train.save_button.enabled
    )
    # PSNR plotted (clean given)
    assert len(MODELS) == 1 and train.plot.train[0] and train.plot.psnr[0]
    assert "Stopped after" in train.status.value
    # the preview layer showed the model's output on the visible region, placed like the input
    preview = train.preview.layer
    assert preview.data.shape == clean.shape
    np.testing.assert_allclose(preview.scale, (0.5, 0.5))
    np.testing.assert_allclose(preview.translate, (4.0, 8.0))
    # Denoise: the model just trained is chosen, on the layer it was trained on; the partner is offered
    assert denoise.model.value is MODELS.latest()
    assert denoise.image_layer.value == layer_a and MODELS.latest().trained_on == layer_a
    denoise.image_layer.value = layer_a
    assert denoise.partner_layer.value == layer_b
    denoise.average.value = False
    denoise.start()
    qtbot.waitUntil(lambda: not denoise.busy, timeout=30_000)
    out = denoise.last_layer
    assert out.name == f"{layer_a.name} denoised"
    assert out.data.shape == clean.shape and out.data.dtype == np.float32
    np.testing.assert_allclose(out.scale, (0.5, 0.5))
    np.testing.assert_allclose(out.translate, (4.0, 8.0))
    lo, hi = out.contrast_limits
    assert out.data.min() <= lo < hi <= out.data.max()
    noisy_db, single_db = psnr(clean, layer_a.data), psnr(clean, out.data)
    assert single_db > noisy_db + 2.0, (noisy_db, single_db)
    assert "PSNR vs 'cells'" in denoise.status.value
    # averaged prediction of A and B: better still
    denoise.average.value = True
    denoise.start()
    qtbot.waitUntil(lambda: not denoise.busy, timeout=30_000)
    averaged = denoise.last_layer
    assert averaged.name == f"{layer_a.name} denoised (A+B averaged)"
    assert psnr(clean, averaged.data) > single_db
    assert not notes.errors and not notes.tracebacks()


@pytest.mark.parametrize("mode", ["nb2nb", "n2c"])
def test_single_image_and_noise2clean_modes(viewer, qtbot, small_pair, train, notes, mode):
    lc, la, lb = _pair_layers(viewer, small_pair)
    _select(train, la, None if mode == "nb2nb" else lc, lc)
    assert train.form.mode.value == ("nb2nb" if mode == "nb2nb" else "n2n")
    train.form.mode.value = mode
    set_tiny(train, steps=4)
    train.start()
    wait_training(qtbot, train)
    assert not notes.errors, notes.errors
    assert MODELS.latest().denoiser.config.mode == mode


def test_save_model_then_load_it_in_denoise(viewer, qtbot, small_pair, train, tmp_path, notes):
    lc, la, lb = _pair_layers(viewer, small_pair)
    _select(train, la, lb)
    set_tiny(train, steps=3)
    train.start()
    wait_training(qtbot, train)
    path = train.save_model(tmp_path / "my model")
    assert path.endswith("my model.n2n") and (tmp_path / "my model.n2n").is_file()
    denoise = add_widget(viewer, DenoiseWidget)
    entry = denoise.load_model(path)
    assert entry is not None and denoise.model.value is entry and entry.source == "file"
    assert "2D U-Net" in denoise.model_info.value
    # a broken file: a message, nothing loaded
    bad = tmp_path / "broken.n2n"
    bad.write_bytes(b"not a model")
    assert denoise.load_model(bad) is None
    assert len(notes.errors) == 1 and "broken.n2n" in notes.errors[0] and not notes.tracebacks()
    # saving where it cannot be written: a message
    assert train.save_model(tmp_path / "missing folder" / "m.n2n") is None
    assert "does not exist" in notes.errors[-1]


def test_time_series_and_volume_train_with_a_placed_preview(viewer, qtbot, train):
    """TYX trains a 2D model, previewed on the current frame; ZYX a 3D model, previewed around the current slice."""
    rng = np.random.default_rng(0)
    clean = np.repeat(np.linspace(0, 100, 48 * 48, dtype=np.float32).reshape(1, 48, 48), 4, axis=0)
    la = viewer.add_image(
        clean + rng.normal(0, 10, clean.shape).astype(np.float32),
        name="t a",
        scale=(5.0, 1.0, 1.0),
        translate=(100.0, 0.0, 0.0),
    )
    lb = viewer.add_image(
        clean + rng.normal(0, 10, clean.shape).astype(np.float32),
        name="t b",
        scale=(5.0, 1.0, 1.0),
        translate=(100.0, 0.0, 0.0),
    )
    viewer.dims.set_point(0, 110.0)  # frame 2
    for axes, spatial_ndim, expected_shape, expected_t in (
        ("TYX", 2, (1, 48, 48), 110.0),
        ("ZYX", 3, (4, 48, 48), 100.0),
    ):
        _select(train, la, lb)
        train.form.axes.value = axes
        set_tiny(train, steps=2)
        train.form.keep_preview.value = (
            True  # (the preview layer goes when training ends, unless kept)
        )
        train.preview.every_s = 0.0  # a preview after every step
        train.start()
        wait_training(qtbot, train)
        den = MODELS.latest().denoiser
        assert den.spatial_ndim == spatial_ndim and den.axes == axes
        preview = train.preview.layer
        assert preview.data.shape == expected_shape, axes
        np.testing.assert_allclose(preview.scale, (5.0, 1.0, 1.0))
        np.testing.assert_allclose(preview.translate, (expected_t, 0.0, 0.0))


# ---- bad input: each gets a message, nothing starts, the widget stays usable --------------------------
BAD_INPUTS = {
    "shape": "same shape",
    "nan": "NaN",
    "constant": "constant",
    "empty": "empty",
    "small": "smaller than the patch",
    "rgb": "RGB",
    "no target": "needs a target layer",
    "same layer": "same layer",
}


def test_bad_training_input_gets_a_message(viewer, qtbot, train, notes):
    """Each bad input: one error notification that says what to do; nothing starts or is added."""
    rng = np.random.default_rng(0)
    img = rng.normal(100, 10, (64, 64)).astype(np.float32)
    for case, expected in BAD_INPUTS.items():
        viewer.layers.clear()
        notes.clear()
        la = viewer.add_image(img, name="a")
        other = {
            "shape": img[:, :60],
            "nan": np.where(np.eye(64, dtype=bool), np.nan, img).astype(np.float32),
            "small": img[:24, :24],
        }.get(case, img + 1)
        lb = viewer.add_image(other, name="b")
        if case in ("constant", "empty"):
            la = viewer.add_image(
                np.full((64, 64), 3.0 if case == "constant" else 0.0, dtype=np.float32), name=case
            )
        if case == "rgb":
            la = viewer.add_image(
                rng.integers(0, 255, (64, 64, 3), dtype=np.uint8), name="photo", rgb=True
            )
        if case == "small":
            la = viewer.add_image(img[:24, :24].copy(), name="tiny")
        _select(train, la, lb)
        set_tiny(train, steps=3)
        train.form.device.value = "cpu"
        if case == "no target":
            train.form.target_layer.value = None
            train.form.mode.value = "n2n"
        if case == "same layer":
            train.form.target_layer.value = la
        n_layers = len(viewer.layers)
        train.start()
        assert not train.busy and train.train_button.enabled, case
        assert len(notes.errors) == 1 and expected in notes.errors[0], (case, notes.errors)
        assert not notes.tracebacks(), case
        assert len(viewer.layers) == n_layers and len(MODELS) == 0, case


def test_only_image_layers_are_offered(viewer, train):
    viewer.add_labels(np.zeros((32, 32), dtype=np.uint8), name="labels")
    viewer.add_points(np.zeros((3, 2)), name="points")
    img = viewer.add_image(np.random.default_rng(0).random((32, 32)).astype(np.float32), name="img")
    train.reset_choices()
    assert train.form.input_layer.choices == (img,)
    # the input itself is no clean reference for itself
    assert train.form.target_layer.choices == (None, img) and train.form.clean_layer.choices == (
        None,
    )


def test_train_pressed_while_training_warns_and_keeps_one_run(
    viewer, qtbot, small_pair, train, notes
):
    lc, la, lb = _pair_layers(viewer, small_pair)
    _select(train, la, lb)
    set_tiny(train, steps=2000)
    train.start()
    run = train.session
    train.start()
    assert train.session is run
    assert len(notes.warnings) == 1 and "already running" in notes.warnings[0]
    train.stop()
    wait_training(qtbot, train)
    assert not notes.errors


def test_layer_removed_during_training(viewer, qtbot, small_pair, train, notes):
    lc, la, lb = _pair_layers(viewer, small_pair)
    _select(train, la, lb, lc)
    set_tiny(train, steps=2000)
    train.start()
    run = train.session
    qtbot.waitUntil(lambda: len(run.trainer.history["step"]) >= 2, timeout=60_000)
    viewer.layers.remove(lb)
    qtbot.waitUntil(lambda: bool(notes.warnings), timeout=5_000)
    assert (
        "target layer 'noisy B' was removed" in notes.warnings[0]
        and "press Stop" in notes.warnings[0]
    )
    assert train.busy  # it goes on with the data it started with
    assert train.form.target_layer.value is not lb  # the list no longer offers the removed layer
    train.stop()
    wait_training(qtbot, train)
    assert len(MODELS) == 1 and not notes.errors and train.train_button.enabled


def test_viewer_closed_during_training_stops_the_workers(
    make_napari_viewer, qtbot, small_pair, tiny_model, notes
):
    """Closing the viewer while training and denoising run stops both workers, with no error."""
    from qtpy.QtCore import QThreadPool

    viewer = make_napari_viewer()
    train = add_widget(viewer, TrainWidget)
    denoise = add_widget(viewer, DenoiseWidget)
    lc, la, lb = _pair_layers(viewer, small_pair)
    big = viewer.add_image(
        np.zeros((200, 128, 128), dtype=np.float32) + np.arange(128, dtype=np.float32), name="big"
    )
    _select(train, la, lb)
    set_tiny(train, steps=100_000)
    train.start()
    run = train.session
    qtbot.waitUntil(lambda: len(run.trainer.history["step"]) >= 1, timeout=60_000)
    MODELS.add(tiny_model, "model")
    denoise.image_layer.value = big
    denoise.tile.value = 64
    denoise.start()
    job = denoise.job
    qtbot.waitUntil(lambda: denoise.progress.value > 0, timeout=30_000)
    viewer.close()
    assert run.trainer.stop_requested and job.worker.abort_requested
    qtbot.waitUntil(lambda: QThreadPool.globalInstance().activeThreadCount() == 0, timeout=5_000)
    assert run.trainer.history["steps_done"] < 100_000
    assert not notes.errors and not notes.warnings and not notes.tracebacks()
    assert gc.get_freeze_count() == 0  # the garbage collector is back to normal


def test_out_of_memory_in_the_worker_reaches_the_user(
    viewer, qtbot, small_pair, train, notes, monkeypatch
):
    """A RuntimeError inside the worker (torch's OOM) is not swallowed: message, UI back, best model kept."""
    import napari_n2n.core.training.objectives as objectives

    real_loss, calls = objectives.pixel_loss, []

    def failing_loss(*args, **kwargs):
        calls.append(1)
        if len(calls) >= 4:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_loss(*args, **kwargs)

    monkeypatch.setattr(objectives, "pixel_loss", failing_loss)
    lc, la, lb = _pair_layers(viewer, small_pair)
    _select(train, la, lb)
    set_tiny(train, steps=50)
    train.start()
    wait_training(qtbot, train, 30_000)
    assert len(notes.errors) == 1
    assert "out of memory" in notes.errors[0] and "reduce the batch size" in notes.errors[0]
    assert not notes.tracebacks()
    assert (
        train.train_button.enabled
        and not train.stop_button.enabled
        and all(w.enabled for w in train.form.settings)
    )
    assert len(MODELS) == 1 and "before the error" in MODELS.latest().name
    # nothing added or replaced
    assert [n.name for n in viewer.layers] == [
        "clean",
        "noisy A",
        "noisy B",
    ]
    assert gc.get_freeze_count() == 0


def test_unexpected_error_in_the_worker_is_reported(
    viewer, qtbot, small_pair, train, notes, monkeypatch
):
    """Any exception type (here a device error at the first step) ends the run with a message."""
    import napari_n2n.core.training.train as core_train

    def broken(self, *args, **kwargs):
        raise RuntimeError("CUDA error: device-side assert triggered")
        yield  # pragma: no cover

    monkeypatch.setattr(core_train.Trainer, "_train_group", broken)
    lc, la, lb = _pair_layers(viewer, small_pair)
    _select(train, la, lb)
    set_tiny(train, steps=5)
    train.start()
    wait_training(qtbot, train, 30_000)
    assert (
        len(notes.errors) == 1 and "try device 'cpu'" in notes.errors[0] and not notes.tracebacks()
    )
    assert train.train_button.enabled and len(MODELS) == 0


def test_metadata_from_sample_fills_the_widget(viewer, train):
    from napari_n2n._sample_data import digits

    for data, kwargs, _ in digits():
        viewer.add_image(data, **kwargs)
    train.reset_choices()
    noisy_a = next(layer for layer in viewer.layers if n2n_meta(layer).get("role") == "noisy A")
    train.form.input_layer.value = noisy_a
    assert train.form.target_layer.value.name.startswith("B · digits noisy")
    assert train.form.clean_layer.value.name == "digits clean"
    assert train.form.mode.value == "n2n" and train.form.loss.value == "l2"


def test_gc_hold_is_counted_and_released_once():
    from napari_n2n.widgets._jobs import hold_gc

    assert gc.get_freeze_count() == 0
    first, second = hold_gc(), hold_gc()
    assert gc.get_freeze_count() > 0
    first()
    first()  # releasing twice is harmless
    assert gc.get_freeze_count() > 0
    second()
    assert gc.get_freeze_count() == 0


# ---- the clean reference follows the input (issue 22, item 3) ---------------------------------------
def _digits(viewer):
    from napari_n2n._sample_data import digits

    for data, kwargs, _ in digits():
        viewer.add_image(data, **kwargs)
    return next(layer for layer in viewer.layers if n2n_meta(layer).get("role") == "noisy A")


def test_the_clean_reference_follows_the_input_and_never_blocks_training(
    viewer, qtbot, train, notes
):
    """A sample's 2D clean layer is neither kept nor offered for a stack of another shape."""
    train.form.input_layer.value = _digits(viewer)
    clean = train.form.clean_layer.value
    assert clean is not None and clean.name == "digits clean"
    rng = np.random.default_rng(0)
    movie = viewer.add_image(rng.normal(100, 10, (5, 80, 80)).astype(np.float32), name="movie")
    assert train.form.input_layer.value is movie  # a new noisy layer is followed
    assert train.form.clean_layer.value is None and train.form.target_layer.value is None
    assert train.form.clean_layer.choices == (None,)  # nothing of the movie's shape
    train.form.axes.value = "TYX"
    set_tiny(train, steps=2)
    train.form.show_preview.value = False
    assert train.start() is not None
    wait_training(qtbot, train)
    assert not notes.errors and len(MODELS) == 1, notes.errors


def test_a_clean_reference_that_no_longer_fits_is_dropped_with_a_note(
    viewer, qtbot, small_pair, train, notes
):
    lc, la, lb = _pair_layers(viewer, small_pair)
    _select(train, la, lb, lc)
    assert train.form.clean_layer.value is lc
    lc.data = lc.data[:64, :64].copy()  # edited (cropped) after it was chosen
    set_tiny(train, steps=2)
    train.form.show_preview.value = False
    assert train.start() is not None
    wait_training(qtbot, train)
    assert not notes.errors and len(MODELS) == 1, notes.errors
    assert any("without the clean reference 'clean'" in text for text in notes.infos), notes.infos
    assert train.form.clean_layer.value is None


def test_results_added_to_the_viewer_do_not_become_the_input(viewer, train, small_pair):
    """Denoise's uncertainty maps (and results, previews) are not followed; a new noisy layer is."""
    from napari_n2n.widgets._layers import placement
    from napari_n2n.widgets.denoise.maps import add_map_layers

    _, a, b = small_pair
    la = viewer.add_image(a, name="A")
    assert train.form.input_layer.value is la
    maps = {"residual": a - b, "A/B disagreement": np.abs(a - b)}
    added = add_map_layers(viewer, maps, source="A", model="m", placement=placement(la))
    assert len(added) == 2 and train.form.input_layer.value is la
    lb = viewer.add_image(b, name="B")
    assert train.form.input_layer.value is lb


def test_only_devices_that_exist_are_offered(viewer, qtbot, train):
    """A CUDA GPU or Apple MPS is offered only where torch finds one (told off the main thread)."""
    import torch

    from napari_n2n.core.device import available_devices

    qtbot.waitUntil(lambda: train.form.device_label.value != "checking…", timeout=60_000)
    assert set(train.form.device.choices) == {"auto", *available_devices()}
    if not torch.cuda.is_available():
        assert "cuda" not in train.form.device.choices


def test_preset_labels_fit_and_the_tooltip_says_what_they_stand_for(viewer, qtbot, train):
    from qtpy.QtWidgets import QStyle, QStyleOptionComboBox

    from napari_n2n.core.training.presets import PRESETS

    viewer.window._qt_window.resize(1600, 1000)
    viewer.window._qt_window.show()
    qtbot.wait(50)
    combos = (train.form.preset, train.form.device, train.form.mode, train.form.start_from.model)
    for combo in combos:
        native = combo.native
        opt = QStyleOptionComboBox()
        native.initStyleOption(opt)
        field = native.style().subControlRect(
            QStyle.ComplexControl.CC_ComboBox, opt, QStyle.SubControl.SC_ComboBoxEditField, native
        )
        for i in range(native.count()):
            text = native.itemText(i)
            assert native.fontMetrics().horizontalAdvance(text) <= field.width(), (text, field)
    for name in PRESETS:
        if name in train.form.preset.choices:
            train.form.preset.value = name
            assert PRESETS[name].description in train.form.preset.tooltip
