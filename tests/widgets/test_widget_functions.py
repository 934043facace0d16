"""*Layers → Filter → Denoising → Denoise with a model file* in a real viewer: a multiscale layer (as an
OME-Zarr opens) is denoised at full resolution, and every result sits where its source is (scale,
translate, affine, units)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_n2n.widgets._layers import n2n_meta
from napari_n2n.widgets.functions import denoise

da = pytest.importorskip("dask.array")


@pytest.fixture
def model_file(tiny_model, tmp_path):
    return tiny_model.save(tmp_path / "tiny.n2n")


@pytest.fixture
def function_panel(viewer):
    """The menu command's panel, as napari builds it from the manifest (npe2 autogenerate)."""
    _, panel = viewer.window.add_plugin_dock_widget("napari-n2n", "Denoise with a model file")
    return panel


def _run(panel, layer, model_file):
    panel.reset_choices()
    panel.image.value = layer
    panel.model_file.value = model_file
    panel()  # napari adds the returned LayerDataTuple to the viewer


def test_a_multiscale_layer_is_denoised_at_full_resolution_where_it_is(
    viewer, function_panel, tiny_model, model_file, small_pair, notes
):
    _, a, _ = small_pair
    level0 = da.from_array(a, chunks=(64, 64))
    layer = viewer.add_image(
        [level0, level0[::2, ::2]],
        multiscale=True,
        name="pyramid",
        scale=(0.5, 0.25),
        translate=(3.0, 4.0),
        units=("µm", "µm"),
    )
    _run(function_panel, layer, model_file)
    out = viewer.layers["pyramid denoised with tiny"]
    assert not notes.errors, notes.errors
    assert not out.multiscale and out.data.shape == a.shape
    np.testing.assert_allclose(out.data, tiny_model.predict(a), atol=1e-4)
    np.testing.assert_allclose(out.scale, (0.5, 0.25))
    np.testing.assert_allclose(out.translate, (3.0, 4.0))
    assert tuple(str(u) for u in out.units) == tuple(str(u) for u in layer.units)
    assert str(out.units[0]) == "micrometer"
    np.testing.assert_allclose(out._data_to_world((10, 20)), layer._data_to_world((10, 20)))
    assert n2n_meta(out)["role"] == "denoised" and n2n_meta(out)["source"] == "pyramid"


def test_a_scaled_layer_keeps_scale_translate_units_and_affine(
    viewer, function_panel, tiny_model, model_file, small_pair, notes
):
    _, a, b = small_pair
    movie = np.stack([a, b])
    affine = np.eye(4)
    affine[1:3, 1:3] = [[np.cos(0.3), -np.sin(0.3)], [np.sin(0.3), np.cos(0.3)]]
    layer = viewer.add_image(
        movie,
        name="movie",
        scale=(2.5, 0.3, 0.3),
        translate=(0.0, 5.0, -1.0),
        units=("s", "µm", "µm"),
        axis_labels=("t", "y", "x"),
        affine=affine,
    )
    _run(function_panel, layer, model_file)
    out = viewer.layers["movie denoised with tiny"]
    assert not notes.errors, notes.errors
    np.testing.assert_allclose(out.data, tiny_model.predict(movie, axes="TYX"), atol=1e-4)
    np.testing.assert_allclose(out.scale, layer.scale)
    np.testing.assert_allclose(out.translate, layer.translate)
    np.testing.assert_allclose(out.affine.affine_matrix, layer.affine.affine_matrix)
    assert tuple(out.units) == tuple(layer.units) and tuple(out.axis_labels) == ("t", "y", "x")
    # a second run replaces the result (napari's rule for a returned layer of the same name)
    _run(function_panel, layer, model_file)
    assert [l.name for l in viewer.layers] == ["movie", "movie denoised with tiny"]


def test_the_workflow_function_takes_the_first_level_of_a_pyramid(
    tiny_model, model_file, small_pair
):
    _, a, _ = small_pair
    result = denoise([a, a[::2, ::2]], model_file)
    np.testing.assert_allclose(result, tiny_model.predict(a), atol=1e-4)
