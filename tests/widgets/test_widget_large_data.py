"""Denoise widget and large data: multiscale layers (level 0, lazily), the source's affine copied, and the result
written chunk by chunk to an OME-Zarr on disk, then shown from it; Cancel leaves no store that looks complete."""

from __future__ import annotations

import numpy as np
import pytest

from napari_n2n.widgets._registry import MODELS
from napari_n2n.widgets.denoise.widget import DenoiseWidget

from .._helpers import add_widget

zarr = pytest.importorskip("zarr")
da = pytest.importorskip("dask.array")

ROTATION = np.array([[np.cos(0.3), -np.sin(0.3), 0], [np.sin(0.3), np.cos(0.3), 0], [0, 0, 1.0]])


@pytest.fixture
def denoise(viewer, tiny_model):
    MODELS.add(tiny_model, "2D model")
    return add_widget(viewer, DenoiseWidget)


def _run(qtbot, widget, timeout=60_000):
    assert widget.start() is not None
    qtbot.waitUntil(lambda: not widget.busy, timeout=timeout)


def _pyramid(image):
    level0 = da.from_array(image, chunks=(64, 64))
    return [level0, level0[::2, ::2]]


def test_a_multiscale_layer_is_denoised_at_full_resolution_and_placed_with_its_affine(
    viewer, qtbot, denoise, tiny_model, small_pair, notes
):
    _, a, _ = small_pair
    layer = viewer.add_image(
        _pyramid(a),
        multiscale=True,
        name="pyramid",
        scale=(0.5, 0.25),
        translate=(3.0, 4.0),
        affine=ROTATION,
    )
    denoise.reset_choices()
    denoise.image_layer.value = layer
    _run(qtbot, denoise)
    out = denoise.last_layer
    assert not notes.errors and not out.multiscale and out.data.shape == a.shape
    np.testing.assert_allclose(out.data, tiny_model.predict(a), atol=1e-4)
    np.testing.assert_allclose(out.affine.affine_matrix, layer.affine.affine_matrix)
    np.testing.assert_allclose(out.scale, (0.5, 0.25))
    np.testing.assert_allclose(out.translate, (3.0, 4.0))
    # the same place in the world: the corner pixel of both layers maps to the same coordinates
    np.testing.assert_allclose(out._data_to_world((10, 20)), layer._data_to_world((10, 20)))


def test_the_result_goes_to_an_ome_zarr_on_disk_and_is_shown_from_it(
    viewer, qtbot, denoise, tiny_model, small_pair, notes, tmp_path
):
    import yaozarrs

    _, a, b = small_pair
    movie = np.stack([a, b, a[::-1]])
    layer = viewer.add_image(
        movie, name="movie", scale=(1.0, 0.3, 0.3), translate=(0.0, 5.0, 0.0), affine=np.eye(4)
    )
    denoise.reset_choices()
    denoise.image_layer.value = layer
    denoise.axes.value = "TYX"
    denoise.to_disk.value = True
    denoise.disk_output = tmp_path / "movie denoised.ome.zarr"
    _run(qtbot, denoise)
    out = denoise.last_layer
    assert not notes.errors, notes.errors
    # the status says where the store is (the full path: the tooltip has it when elided)
    where = f"saved to {denoise.disk_output}"
    assert where in denoise.status.value and any(where in m for m in notes.infos)
    yaozarrs.validate_zarr_store(str(denoise.disk_output))
    assert (
        out.multiscale and out.data[0].shape == movie.shape and isinstance(out.data[0], zarr.Array)
    )
    expected = tiny_model.predict(movie, axes="TYX")
    assert np.abs(np.asarray(out.data[0][:]) - expected).max() < 1e-3 * float(
        expected.max() - expected.min()
    )
    np.testing.assert_allclose(out.scale, (1.0, 0.3, 0.3))
    np.testing.assert_allclose(out.translate, (0.0, 5.0, 0.0))
    # napari-ome-zarr reads it with the same scale
    reader = pytest.importorskip("napari_ome_zarr").napari_get_reader
    meta = reader(str(denoise.disk_output))(str(denoise.disk_output))[0][1]
    np.testing.assert_allclose(meta["scale"], (1.0, 0.3, 0.3))


def test_cancel_leaves_no_store_at_the_output_and_the_next_run_resumes(
    viewer, qtbot, denoise, tiny_model, small_pair, notes, tmp_path
):
    from napari_n2n.ondisk.output import partial_path

    _, a, _ = small_pair
    layer = viewer.add_image(np.stack([a] * 6), name="long")
    denoise.reset_choices()
    denoise.image_layer.value = layer
    denoise.axes.value = "TYX"
    denoise.tile.value = 64
    denoise.to_disk.value = True
    denoise.disk_output = output = tmp_path / "long.ome.zarr"
    denoise.start()
    qtbot.waitUntil(lambda: denoise.progress.value > 0, timeout=30_000)
    denoise.stop()
    qtbot.waitUntil(lambda: not denoise.busy, timeout=30_000)
    assert not output.exists() and partial_path(output).exists()
    assert any("Nothing is at long.ome.zarr" in m for m in notes.infos)
    _run(qtbot, denoise)
    assert output.is_dir() and not partial_path(output).exists()
    result = np.asarray(denoise.last_layer.data[0][:])
    expected = tiny_model.predict(np.stack([a] * 6), axes="TYX", tile=64)
    assert result.shape == (6, 128, 128) and np.abs(result - expected).max() < 1e-3 * float(
        expected.max() - expected.min()
    )
