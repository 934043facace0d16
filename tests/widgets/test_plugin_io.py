"""The npe2 reader and writer, driven through napari's own ``viewer.open`` and ``layer.save``; the files
are judged by the libraries of their formats (nibabel, ome-zarr-py, tifffile's ImageJ and OME parsers)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

nib = pytest.importorskip("nibabel")
pytest.importorskip("zarr")

MANIFEST = Path(__file__).parents[2] / "src" / "napari_n2n" / "napari.yaml"


def test_the_manifest_declares_a_nifti_reader_and_an_image_writer():
    from npe2 import PluginManifest

    pm = PluginManifest.from_file(MANIFEST)  # validates the schema
    pm.validate_imports()
    (reader,) = pm.contributions.readers
    assert set(reader.filename_patterns) == {"*.nii", "*.nii.gz"}
    (writer,) = pm.contributions.writers
    assert writer.layer_types == ["image"]
    assert {".ome.zarr", ".nii.gz", ".tif", ".ome.tif"} <= set(writer.filename_extensions)


@pytest.fixture
def volume():
    return np.random.default_rng(0).normal(100, 10, (20, 24, 6)).astype(np.float32)  # X, Y, Z


@pytest.mark.parametrize("name", ["brain.nii.gz", "brain.nii"])  # read whole; read lazily
def test_napari_opens_nifti_with_its_voxel_size_and_origin(viewer, tmp_path, volume, name):
    affine = np.diag([0.5, 0.75, 2.0, 1.0])
    affine[:3, 3] = [10.0, -4.0, 3.0]
    img = nib.Nifti1Image(volume, affine)
    img.header.set_xyzt_units("mm")
    nib.save(img, tmp_path / name)
    (layer,) = viewer.open(tmp_path / name, plugin="napari-n2n")
    viewer.dims.set_point(2, 4.0)  # napari reads another slice
    np.testing.assert_array_equal(np.asarray(layer.data), nib.load(tmp_path / name).get_fdata())
    assert tuple(layer.axis_labels) == ("x", "y", "z")
    np.testing.assert_allclose(layer.scale, [0.5, 0.75, 2.0])
    np.testing.assert_allclose(layer.translate, [10.0, -4.0, 3.0])
    assert {str(u) for u in layer.units} == {"millimeter"}


def test_a_layer_saved_as_nifti_keeps_zooms_origin_and_unit(viewer, tmp_path, volume):
    layer = viewer.add_image(
        volume,
        scale=(0.5, 0.75, 2.0),
        translate=(10.0, -4.0, 3.0),
        units=("mm", "mm", "mm"),
        axis_labels=("x", "y", "z"),
    )
    (path,) = layer.save(str(tmp_path / "out.nii.gz"), plugin="napari-n2n")
    img = nib.load(path)
    np.testing.assert_array_equal(img.get_fdata(), volume)
    np.testing.assert_allclose(img.header.get_zooms(), (0.5, 0.75, 2.0))
    np.testing.assert_allclose(img.affine[:3, 3], (10.0, -4.0, 3.0))
    assert img.header.get_xyzt_units()[0] == "mm"


def test_a_multiscale_layer_saved_as_ome_zarr_opens_in_napari_ome_zarr(viewer, tmp_path):
    import yaozarrs

    pytest.importorskip("napari_ome_zarr")
    image = np.random.default_rng(1).normal(100, 10, (3, 64, 80)).astype(np.float32)
    layer = viewer.add_image(
        [image, image[:, ::2, ::2]],
        multiscale=True,
        scale=(1.0, 0.2, 0.3),
        translate=(0.0, 5.0, -2.0),
        units=("pixel", "µm", "µm"),
        axis_labels=("z", "y", "x"),
    )
    (path,) = layer.save(str(tmp_path / "out.ome.zarr"), plugin="napari-n2n")
    yaozarrs.validate_zarr_store(path)
    (back,) = viewer.open(path, plugin="napari-ome-zarr")
    level0 = back.data[0] if back.multiscale else back.data
    np.testing.assert_array_equal(np.asarray(level0), image)  # level 0, the full resolution
    np.testing.assert_allclose(back.scale[-2:], (0.2, 0.3))
    # napari-ome-zarr 0.10 does not apply translations: the validated metadata has it
    import zarr

    (dataset,) = zarr.open_group(path, mode="r").attrs["ome"]["multiscales"][0]["datasets"]
    transforms = {t["type"]: t for t in dataset["coordinateTransformations"]}
    np.testing.assert_allclose(transforms["translation"]["translation"], (0.0, 5.0, -2.0))


@pytest.fixture
def movie_layer(viewer):
    data = np.random.default_rng(2).integers(0, 4000, (2, 3, 32, 40)).astype(np.float32)
    return viewer.add_image(
        data,
        scale=(2.5, 1.75, 0.25, 0.25),
        units=("s", "µm", "µm", "µm"),
        axis_labels=("t", "z", "y", "x"),
    )


def test_a_layer_saved_as_tif_is_an_imagej_hyperstack(movie_layer, tmp_path):
    (path,) = movie_layer.save(str(tmp_path / "movie.tif"), plugin="napari-n2n")
    with tifffile.TiffFile(path) as tf:
        assert tf.is_imagej and tf.series[0].axes == "TZYX"
        meta = tf.imagej_metadata
        assert meta["spacing"] == 1.75 and meta["finterval"] == 2.5 and meta["unit"] == "micron"
        assert tf.pages[0].resolution == pytest.approx((4.0, 4.0))
        assert tf.pages[0].resolutionunit == tifffile.RESUNIT.NONE


def test_a_layer_saved_as_ome_tif_has_physical_sizes(movie_layer, tmp_path):
    (path,) = movie_layer.save(str(tmp_path / "movie.ome.tif"), plugin="napari-n2n")
    with tifffile.TiffFile(path) as tf:
        pixels = tifffile.xml2dict(tf.ome_metadata)["OME"]["Image"]["Pixels"]
    assert pixels["PhysicalSizeX"] == pytest.approx(0.25) and pixels["PhysicalSizeXUnit"] == "µm"
    assert pixels["PhysicalSizeZ"] == pytest.approx(1.75)
    assert pixels["TimeIncrement"] == pytest.approx(2.5) and pixels["TimeIncrementUnit"] == "s"


def test_a_movie_saved_as_ome_zarr_keeps_its_frame_interval(movie_layer, tmp_path):
    import yaozarrs
    import zarr

    from napari_n2n.io import read_image

    (path,) = movie_layer.save(str(tmp_path / "movie.ome.zarr"), plugin="napari-n2n")
    yaozarrs.validate_zarr_store(path)
    multiscale = zarr.open_group(path, mode="r").attrs["ome"]["multiscales"][0]
    assert multiscale["axes"][0] == {"name": "t", "type": "time", "unit": "second"}
    scale = multiscale["datasets"][0]["coordinateTransformations"][0]["scale"]
    np.testing.assert_allclose(scale, (2.5, 1.75, 0.25, 0.25))
    back = read_image(path)
    assert back.axes == "TZYX" and back.frame_interval == 2.5
    assert back.pixel_size == pytest.approx({"Z": 1.75, "Y": 0.25, "X": 0.25})
