"""Moving time-lapses in the widgets (issue #26): the check shows the motion, Noisy pairs
registers the frames, and Train takes the registration from the target layer and trains."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from napari_n2n.widgets._layers import n2n_meta
from napari_n2n.widgets.noisy_pairs.widget import NoisyPairsWidget
from napari_n2n.widgets.train.widget import TrainWidget

from .._helpers import add_widget, wait_training
from ._forms import set_tiny


def _drifting_movie(n=5, size=96, step=2.0):
    rng = np.random.default_rng(0)
    big = ndi.gaussian_filter(rng.random((size, size + 16)), 2.0)
    big = (big - big.min()) / (big.max() - big.min())
    clean = np.stack([ndi.shift(big, (0, -step * t), order=3)[:, :size] for t in range(n)])
    return (100 * clean + rng.normal(0, 5, clean.shape)).astype(np.float32)


def test_the_widgets_show_the_motion_register_the_frames_and_train(viewer, qtbot, notes):
    movie = viewer.add_image(_drifting_movie(), name="movie")
    pairs = add_widget(viewer, NoisyPairsWidget)
    train = add_widget(viewer, TrainWidget)
    pairs.source.value = "stack"
    pairs.stack.layer.value = movie
    assert set(pairs.stack.register.choices) == {"none", "auto", "shift", "flow"}
    # the check measures the motion before training, and says to register
    pairs.check.start()
    assert pairs.check.wait(120)
    motion = pairs.check.motion
    assert motion is not None and motion.method in ("shift", "flow")
    assert all(abs(m.shift[1] + 2.0) < 0.2 for m in motion.motions)
    shown = pairs.check.findings.value
    assert "frames 0–1: shift" in shown and "Register the frames before pairing" in shown
    # frame pairs registered: B is warped onto A, its unfilled border empty
    pairs.stack.register.value = "auto"
    assert pairs.start() == []  # registered in the background: the window stays responsive
    assert pairs.wait(120) and pairs.run_button.enabled
    layer_a, layer_b = pairs.stack_layers
    assert n2n_meta(layer_b)["register"] == motion.method
    assert (
        np.isnan(layer_b.data[..., :2]).all() and np.isfinite(layer_b.data[..., 8:]).mean() > 0.98
    )
    assert any("registered onto A" in m for m in notes.infos) and not notes.errors
    # Train takes the registration from the target layer, records it, and trains
    train.reset_choices()
    train.form.input_layer.value = layer_a
    train.form.target_layer.value = layer_b
    assert train.form.register.value == motion.method
    assert train.form.config().register == motion.method
    set_tiny(train, steps=5)
    train.start()
    wait_training(qtbot, train, 120_000)
    assert train.session.finished.reason == "completed", notes.errors
    assert train.session.trainer.config.register == motion.method
    train.form.target_layer.value = None
    assert train.form.register.value == "none"
