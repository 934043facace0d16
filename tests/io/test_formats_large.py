"""OME-Zarr, NIfTI and lazy TIFF: every round trip keeps its metadata; bad stores and files get one clear message."""

import sys

import numpy as np
import pytest
import tifffile

from napari_n2n.core.errors import InputError
from napari_n2n.io import read_image, write_image

pytest.importorskip("zarr")
nib = pytest.importorskip("nibabel")


@pytest.fixture
def stack():
    return np.random.default_rng(0).normal(100, 20, (3, 300, 520)).astype(np.float32)


def test_ome_zarr_round_trip_keeps_axes_scale_translation_and_has_a_valid_pyramid(tmp_path, stack):
    import yaozarrs
    import zarr

    out = write_image(
        tmp_path / "s.ome.zarr",
        stack,
        axes="TYX",
        pixel_size={"Y": 0.25, "X": 0.5},
        unit="µm",
        translation={"Y": 10.0, "X": -3.0},
    )
    yaozarrs.validate_zarr_store(str(out))  # OME-NGFF 0.5, structure and metadata
    image = read_image(out)
    assert image.axes == "TYX" and image.pixel_size == {"Y": 0.25, "X": 0.5} and image.unit == "µm"
    assert image.translation == {"Y": 10.0, "X": -3.0}
    # lazy: level 0 is read block by block (a damaged block is one line naming the file)
    assert isinstance(image.data.array, zarr.Array)
    np.testing.assert_array_equal(image.data[:], stack)
    group = zarr.open_group(str(out), mode="r")
    ms = group.attrs["ome"]["multiscales"][0]
    assert [a["name"] for a in ms["axes"]] == ["t", "y", "x"] and ms["axes"][1][
        "unit"
    ] == "micrometer"
    levels = [group[d["path"]] for d in ms["datasets"]]
    # down to 256 pixels
    assert [lv.shape for lv in levels] == [
        (3, 300, 520),
        (3, 150, 260),
        (3, 75, 130),
    ]
    assert ms["datasets"][1]["coordinateTransformations"][0]["scale"] == [1.0, 0.5, 1.0]
    np.testing.assert_allclose(
        levels[1][0, :2, :2], stack[0, :4, :4].reshape(2, 2, 2, 2).mean(axis=(1, 3)), rtol=1e-6
    )


def test_ome_zarr_puts_axes_in_ome_order_and_refuses_what_it_cannot_hold(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 255, (40, 50, 3), dtype=np.uint8)
    out = write_image(tmp_path / "c.ome.zarr", rgb, axes="YXC")
    image = read_image(out)
    assert image.axes == "CYX" and image.data.dtype == np.uint8
    np.testing.assert_array_equal(image.data[:], np.moveaxis(rgb, -1, 0))
    with pytest.raises(InputError, match="both S and C"):
        write_image(tmp_path / "sc.ome.zarr", np.zeros((2, 2, 8, 8)), axes="SCYX")


def test_the_written_ome_zarr_opens_in_napari_ome_zarr(tmp_path, stack):
    reader = pytest.importorskip("napari_ome_zarr").napari_get_reader
    out = write_image(
        tmp_path / "s.ome.zarr", stack, axes="TYX", pixel_size={"Y": 0.25, "X": 0.5}, unit="µm"
    )
    layers = reader(str(out))(str(out))
    data, meta = layers[0][0], layers[0][1]
    assert len(data) == 3 and data[0].shape == stack.shape  # multiscale: one dask array per level
    np.testing.assert_array_equal(np.asarray(data[0][1]), stack[1])
    assert list(meta["scale"])[-2:] == [0.25, 0.5]


def test_stores_that_are_not_one_ome_zarr_image(tmp_path):
    import zarr

    zarr.open_group(str(tmp_path / "plain.zarr"), mode="w").create_array(
        "a", shape=(4, 4), dtype="f4"
    )
    with pytest.raises(InputError, match="not an OME-Zarr image.*path of a zarr array inside it"):
        read_image(tmp_path / "plain.zarr")
    plate = zarr.open_group(str(tmp_path / "plate.ome.zarr"), mode="w")
    plate.attrs["ome"] = {"version": "0.5", "plate": {"rows": [], "columns": []}}
    with pytest.raises(InputError, match="collection .* not one image"):
        read_image(tmp_path / "plate.ome.zarr")
    # a bare zarr array is an array; its dimension names are its axes where they are axis letters
    arr = zarr.create_array(
        str(tmp_path / "arr.zarr"), shape=(2, 16, 16), dtype="f4", dimension_names=["z", "y", "x"]
    )
    arr[:] = 1
    image = read_image(tmp_path / "arr.zarr")
    assert image.axes == "ZYX" and image.shape == (2, 16, 16)
    (tmp_path / "empty.zarr").mkdir()
    with pytest.raises(InputError, match="not a readable zarr store"):
        read_image(tmp_path / "empty.zarr")


def test_nifti_round_trip_keeps_the_affine_and_the_header(tmp_path):
    vol = np.random.default_rng(1).normal(0, 1, (20, 24, 6)).astype(np.float32)
    affine = np.array([[-0.8, 0.1, 0, 90], [0.05, 0.9, 0, -120], [0, 0, 2.5, -60], [0, 0, 0, 1]])
    img = nib.Nifti1Image(vol, affine)
    img.header.set_xyzt_units("mm", "sec")
    img.header["descrip"] = b"T1 after motion correction"
    img.header.set_intent("none")
    nib.save(img, tmp_path / "in.nii.gz")
    image = read_image(tmp_path / "in.nii.gz")
    assert image.axes == "XYZ" and image.unit == "mm" and image.shape == (20, 24, 6)
    assert image.pixel_size["Z"] == pytest.approx(2.5)
    out = write_image(tmp_path / "out.nii.gz", image.data * 2, axes=image.axes, **image.metadata())
    back = nib.load(out)
    np.testing.assert_allclose(back.affine, affine, atol=1e-6)
    assert back.header["descrip"].tobytes().rstrip(b"\0") == b"T1 after motion correction"
    assert (
        back.header.get_xyzt_units() == ("mm", "sec")
        and back.header["sform_code"] == img.header["sform_code"]
    )
    np.testing.assert_allclose(np.asarray(back.dataobj), vol * 2, rtol=1e-6)
    # an uncompressed file is read lazily, and a TIFF volume becomes NIfTI in X, Y, Z order with its voxel size
    nib.save(img, tmp_path / "raw.nii")
    assert not isinstance(read_image(tmp_path / "raw.nii").data, np.ndarray)
    zyx = np.moveaxis(vol, [0, 1, 2], [2, 1, 0])
    out = write_image(
        tmp_path / "from_tif.nii",
        zyx,
        axes="ZYX",
        pixel_size={"Z": 2.0, "Y": 0.5, "X": 0.4},
        unit="µm",
    )
    back = nib.load(out)
    np.testing.assert_array_equal(np.asarray(back.dataobj), vol)
    assert (
        back.header.get_zooms() == pytest.approx((0.4, 0.5, 2.0))
        and back.header.get_xyzt_units()[0] == "micron"
    )


def test_nifti_without_a_usable_affine_or_unreadable(tmp_path):
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 4), np.float32), np.eye(4)), tmp_path / "flat.nii")
    # a header nibabel would not write: srow_z all zeros
    raw = bytearray((tmp_path / "flat.nii").read_bytes())
    raw[252:256] = np.array([0, 1], "<i2").tobytes()  # qform_code 0, sform_code 1
    raw[312:328] = np.zeros(4, "<f4").tobytes()
    (tmp_path / "flat.nii").write_bytes(bytes(raw))
    with pytest.raises(InputError, match="no usable affine.*singular"):
        read_image(tmp_path / "flat.nii")
    (tmp_path / "junk.nii.gz").write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(InputError, match="not a readable NIfTI"):
        read_image(tmp_path / "junk.nii.gz")


def test_big_tiffs_are_read_lazily_with_their_metadata(tmp_path, monkeypatch):
    import zarr

    from napari_n2n.io import tiff

    data = np.random.default_rng(0).integers(0, 4000, (4, 64, 80), dtype=np.uint16)
    tifffile.imwrite(
        tmp_path / "t.tif",
        data,
        imagej=True,
        resolution=(1 / 0.2, 1 / 0.2),
        metadata={"axes": "ZYX", "spacing": 1.5, "unit": "um"},
    )
    monkeypatch.setattr(tiff, "LAZY_BYTES", 1000)
    image = read_image(tmp_path / "t.tif")
    assert isinstance(image.data.array, zarr.Array) and image.axes == "ZYX" and image.unit == "µm"
    assert image.pixel_size == pytest.approx({"X": 0.2, "Y": 0.2, "Z": 1.5})
    np.testing.assert_array_equal(image.data[2, 10:20, 5:9], data[2, 10:20, 5:9])


def test_a_missing_library_is_one_line_naming_the_extra(tmp_path, monkeypatch, stack):
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 4), np.float32), np.eye(4)), tmp_path / "v.nii")
    monkeypatch.setitem(sys.modules, "nibabel", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "zarr", None)
    with pytest.raises(
        InputError, match=r"^Reading NIfTI needs nibabel, .*pip install 'napari-n2n\[io\]'\.$"
    ):
        read_image(tmp_path / "v.nii")
    with pytest.raises(
        InputError, match=r"^Writing OME-Zarr needs zarr, .*pip install 'napari-n2n\[io\]'\.$"
    ):
        write_image(tmp_path / "o.ome.zarr", stack, axes="TYX")
