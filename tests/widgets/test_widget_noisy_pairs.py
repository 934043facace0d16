"""Noisy pairs widget in a real viewer: synthesise, pick two layers, a stack, or one image; bad input."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from napari_n2n.core.data.noise import NOISE_MODELS, noise_params
from napari_n2n.widgets._layers import n2n_meta
from napari_n2n.widgets.noisy_pairs.sources import NOISE_CHOICES
from napari_n2n.widgets.noisy_pairs.widget import NoisyPairsWidget

from .._helpers import add_widget


@pytest.fixture
def pairs(viewer):
    return add_widget(viewer, NoisyPairsWidget)


def test_synthesise_pair_names_placement_and_estimate(viewer, pairs, small_pair, notes):
    clean = small_pair[0]
    src = viewer.add_image(clean, name="cells", scale=(0.5, 0.25), translate=(10.0, -3.0))
    pairs.reset_choices()
    pairs.source.value = "synthetic"  # an unmarked image is offered as noisy: this one is clean
    pairs.synthetic.clean_layer.value = src
    pairs.synthetic.noise.value = "gaussian"
    pairs.synthetic.params["gaussian"]["sigma"].value = 20.0
    added = pairs.start()
    a, b = added
    assert (
        a.name == "A · cells noisy · gaussian(sigma=20)"
        and b.name == "B · cells noisy · gaussian(sigma=20)"
    )
    for layer in (a, b):
        assert layer.data.shape == clean.shape
        np.testing.assert_allclose(layer.scale, (0.5, 0.25))
        np.testing.assert_allclose(layer.translate, (10.0, -3.0))
    assert not np.array_equal(a.data, b.data)  # independent noise
    assert n2n_meta(a)["partner"] == b.name and n2n_meta(b)["partner"] == a.name
    assert n2n_meta(a)["clean"] == "cells" and n2n_meta(a)["noise"]["sigma"] == 20.0
    # the noise estimate is shown and close to the true sigma
    estimate = float(pairs.estimate.value.split("≈")[1].split()[0])
    assert 16 < estimate < 24
    assert any("Next: Train" in m for m in notes.infos) and not notes.errors
    # making it again never replaces a layer
    again = pairs.start()
    assert again[0].name == f"{a.name} [2]" and len(viewer.layers) == 5


def test_every_noise_model_shows_its_parameters_and_makes_a_pair(viewer, pairs):
    src = viewer.add_image(
        np.random.default_rng(0).uniform(10, 200, (40, 48)).astype(np.float32), name="img"
    )
    pairs.reset_choices()
    pairs.source.value = "synthetic"
    pairs.synthetic.clean_layer.value = src
    for _, noise in NOISE_CHOICES:
        pairs.synthetic.noise.value = noise
        shown = {
            name
            for fields in pairs.synthetic.params.values()
            for name, w in fields.items()
            if not w.native.isHidden()
        }
        assert shown == set(noise_params(noise))
        a, b = pairs.start()
        assert noise in a.name and a.data.shape == (40, 48)


def test_the_noise_fields_are_the_noise_models_own(pairs):
    """One field per parameter of each offered noise model, in its order, at the model's default."""
    for _, name in NOISE_CHOICES:
        fields = pairs.synthetic.params[name]
        assert tuple(fields) == noise_params(name)
        defaults = {f.name: f.default for f in dataclasses.fields(NOISE_MODELS[name])}
        assert {param: w.value for param, w in fields.items()} == {
            param: defaults[param] for param in fields
        }


def test_defaults_follow_the_clean_layers_range(viewer, pairs):
    src = viewer.add_image(
        np.linspace(0, 1, 64 * 64, dtype=np.float32).reshape(64, 64), name="unit"
    )
    pairs.reset_choices()
    pairs.synthetic.clean_layer.value = src
    # 10 % of a 0–1 range, not 25
    assert 0.05 <= pairs.synthetic.params["gaussian"]["sigma"].value <= 0.15


def test_two_layers_pair_checked_and_linked(viewer, pairs, small_pair, notes):
    _, a, b = small_pair
    la, lb = viewer.add_image(a, name="exp1"), viewer.add_image(b, name="exp2")
    pairs.source.value = "two"
    pairs.two_layers.layer_a.value, pairs.two_layers.layer_b.value = la, lb
    assert "A ≈" in pairs.estimate.value and "B ≈" in pairs.estimate.value
    assert pairs.start() == []
    assert n2n_meta(la)["partner"] == "exp2" and n2n_meta(lb)["partner"] == "exp1"
    assert not notes.errors


def test_two_layers_of_different_shapes_are_refused(viewer, pairs, notes):
    la = viewer.add_image(np.random.default_rng(0).random((64, 64)).astype(np.float32), name="a")
    lb = viewer.add_image(np.random.default_rng(0).random((64, 60)).astype(np.float32), name="b")
    pairs.source.value = "two"
    pairs.two_layers.layer_a.value, pairs.two_layers.layer_b.value = la, lb
    n_layers = len(viewer.layers)
    assert pairs.start() == []
    assert (
        len(notes.errors) == 1 and "same shape" in notes.errors[0] and "(64, 64)" in notes.errors[0]
    )
    assert len(viewer.layers) == n_layers and not n2n_meta(la) and not notes.tracebacks()


def test_stack_neighbours_are_views_with_sample_axis(viewer, pairs, notes):
    stack = np.random.default_rng(0).normal(100, 10, (6, 40, 48)).astype(np.float32)
    src = viewer.add_image(stack, name="movie", scale=(1.0, 0.3, 0.3))
    pairs.source.value = "stack"
    pairs.stack.layer.value = src
    assert pairs.stack.pair_axis.value == 0
    a, b = pairs.start()
    assert a.data.shape == b.data.shape == (5, 40, 48)
    np.testing.assert_array_equal(b.data[0], stack[1])
    assert np.shares_memory(a.data, stack)  # no copy
    assert n2n_meta(a)["axes"] == "SYX" and n2n_meta(a)["partner"] == b.name
    np.testing.assert_allclose(a.scale, (1.0, 0.3, 0.3))
    assert not notes.errors


def test_stack_mode_refuses_a_2d_image(viewer, pairs, notes):
    src = viewer.add_image(
        np.random.default_rng(0).random((32, 32)).astype(np.float32), name="flat"
    )
    pairs.source.value = "stack"
    pairs.stack.layer.value = src
    assert pairs.start() == []
    assert "needs a stack" in notes.errors[0] and len(viewer.layers) == 1


def test_single_image_marked_for_neighbour_subsampling(viewer, pairs, small_pair, notes):
    layer = viewer.add_image(small_pair[1], name="one shot")
    pairs.source.value = "single"
    pairs.single.layer.value = layer
    assert "image ≈" in pairs.estimate.value
    pairs.start()
    assert n2n_meta(layer)["mode"] == "nb2nb" and any("single-image" in m for m in notes.infos)


def test_only_image_layers_are_offered(viewer, pairs):
    viewer.add_labels(np.zeros((32, 32), dtype=np.uint8), name="labels")
    viewer.add_points(np.zeros((3, 2)), name="points")
    viewer.add_shapes([np.array([[0, 0], [5, 5], [0, 5]])], shape_type="polygon", name="shapes")
    img = viewer.add_image(np.random.default_rng(0).random((32, 32)).astype(np.float32), name="img")
    pairs.reset_choices()
    assert [c for c in pairs.synthetic.clean_layer.choices if c is not None] == [img]
    assert pairs.synthetic.clean_layer.value is img


def test_bad_clean_layers_get_a_message(viewer, pairs, notes):
    from napari_n2n.core.errors import InputError
    from napari_n2n.widgets._layers import image_data

    labels = viewer.add_labels(np.zeros((32, 32), dtype=np.uint8), name="labels")
    # not offered in the lists; the check names it too
    with pytest.raises(InputError, match="Labels layer"):
        image_data(labels, "clean")
    # napari cannot show a zero-size layer
    cases = {
        "rgb": (np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8), "RGB"),
        "nan": (np.where(np.eye(32, dtype=bool), np.nan, 1.0).astype(np.float32), "NaN"),
        "constant": (np.full((32, 32), 7.0, dtype=np.float32), "constant (every value is 7.0)"),
        "empty": (
            np.zeros((32, 32), dtype=np.float32),
            "empty",
        ),
    }
    for case, (data, expected) in cases.items():
        notes.clear()
        layer = viewer.add_image(data, name=case, rgb=case == "rgb")
        pairs.reset_choices()
        pairs.synthetic.clean_layer.value = layer
        n_layers = len(viewer.layers)
        assert pairs.start() == [], case
        assert len(notes.errors) == 1 and expected in notes.errors[0], (case, notes.errors)
        assert len(viewer.layers) == n_layers and not notes.tracebacks(), case
        assert pairs.run_button.enabled


def test_the_panels_share_one_label_column(viewer, pairs, qtbot):
    """Each source shows its own panel; their fields start at one x, as in a single form."""
    pairs.native.window().show()
    lefts = set()
    for source in pairs.panels:
        pairs.source.value = source
        qtbot.wait(20)
        panel = pairs.panels[source]
        assert panel.visible
        for field in panel:
            if field.label and field.visible:
                lefts.add(field.native.mapTo(pairs.native, field.native.rect().topLeft()).x())
    lefts.add(pairs.source.native.mapTo(pairs.native, pairs.source.native.rect().topLeft()).x())
    assert len(lefts) == 1, lefts


# ---- the source fits the layers present (issue 22, item 7) -------------------------------------------
def _noisy(shape, seed=0):
    return np.random.default_rng(seed).normal(100, 10, shape).astype(np.float32)


@pytest.mark.parametrize(
    ("shapes", "source"),
    [
        ([], "synthetic"),
        ([(7, 64, 64)], "stack"),
        ([(64, 64), (64, 64)], "two"),
        ([(64, 64)], "single"),
    ],
)
def test_the_source_fits_the_noisy_layers_present(viewer, shapes, source):
    """Opened on noisy data, or with the data opened after it, the widget offers the source that fits."""
    for i, shape in enumerate(shapes):
        viewer.add_image(_noisy(shape, i), name=f"noisy {i}")
    assert add_widget(viewer, NoisyPairsWidget).source.value == source
    viewer.layers.clear()
    later = add_widget(viewer, NoisyPairsWidget)
    for i, shape in enumerate(shapes):
        viewer.add_image(_noisy(shape, i), name=f"noisy {i}")
    assert later.source.value == source
    if source == "two":
        assert later.two_layers.layer_a.value is not later.two_layers.layer_b.value


def test_a_sample_opens_on_its_pair_and_noisy_layers_are_never_the_clean_one(viewer, pairs):
    from napari_n2n._sample_data import pair_2d

    for data, kwargs, _ in pair_2d():
        viewer.add_image(data, **kwargs)
    assert pairs.source.value == "two"
    assert [layer.name for layer in pairs.synthetic.clean_layer.choices] == ["camera clean"]


def test_a_source_the_user_chose_stays_when_layers_are_added(viewer, pairs):
    pairs.source.value = "photon"
    viewer.add_image(_noisy((64, 64)), name="counts")
    assert pairs.source.value == "photon"
