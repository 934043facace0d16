"""Damaged files of foreign formats end in one line that names the file, never a library's traceback.

Each file is written for real, then damaged the way disks, editors and crafted files damage them;
the damage may show only when a chunk or block is read, long after the file was opened.
"""

import json
import shutil

import numpy as np
import pytest

from napari_n2n.core.errors import InputError
from napari_n2n.io import read_image, write_image

zarr = pytest.importorskip("zarr")

IMAGE = np.random.default_rng(0).normal(100, 25, (128, 128)).astype(np.float32)


@pytest.fixture
def store(tmp_path):
    return write_image(tmp_path / "ok.ome.zarr", IMAGE, axes="YX")


def _copy(store, name, damage):
    path = store.with_name(name)
    shutil.copytree(store, path)
    damage(path)
    return path


def _edit(path, change):
    meta = json.loads(path.read_text())
    change(meta)
    path.write_text(json.dumps(meta))


def _read_all(path):
    image = read_image(path)
    return np.asarray(image.data[...])


def _one_line_naming(info, path):
    message = str(info.value)
    assert "\n" not in message and str(path) in message


def _garble_chunks(path):
    for chunk in (path / "0").rglob("*"):
        if chunk.is_file() and chunk.name != "zarr.json":
            chunk.write_bytes(b"\x02\x01garbage" * 10)


def _complex(path):
    _edit(path / "0" / "zarr.json", lambda m: m.update(data_type="complex64"))


def _escaping(path):
    def change(meta):
        meta["attributes"]["ome"]["multiscales"][0]["datasets"][0]["path"] = "../../etc"

    _edit(path / "zarr.json", change)


@pytest.mark.parametrize(
    "damage,match",
    [
        (_garble_chunks, r"a part of the OME-Zarr image could not be read \(RuntimeError"),
        (_complex, r"its OME-Zarr metadata are damaged \(TypeError"),
        (_escaping, r"level 0's path '../../etc' in its metadata does not name an array inside"),
    ],
    ids=["garbage in a chunk", "data_type complex64", "dataset path ../../etc"],
)
def test_a_damaged_ome_zarr_is_one_line_naming_it(store, damage, match):
    damaged = _copy(store, "damaged.ome.zarr", damage)
    with pytest.raises(InputError, match=match) as info:
        _read_all(damaged)
    _one_line_naming(info, damaged)


def test_axes_metadata_that_do_not_fit_the_array_are_ignored_with_a_warning(store):
    def three_axes(meta):
        meta["attributes"]["ome"]["multiscales"][0]["axes"].insert(0, {"name": "t", "type": "time"})

    path = _copy(store, "axes.ome.zarr", lambda p: _edit(p / "zarr.json", three_axes))
    with pytest.warns(UserWarning, match=r"axes metadata \(t, y, x\) do not fit its 2D image"):
        image = read_image(path)
    assert image.axes is None
    np.testing.assert_array_equal(np.asarray(image.data), IMAGE)


def test_a_truncated_nifti_read_lazily_is_one_line_naming_it(tmp_path):
    pytest.importorskip("nibabel")
    whole = write_image(tmp_path / "v.nii", IMAGE, axes="YX")
    raw = whole.read_bytes()
    cut = tmp_path / "cut.nii"
    cut.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(InputError, match="a part of the NIfTI image could not be read") as info:
        _read_all(cut)
    _one_line_naming(info, cut)


def test_a_garbled_block_of_a_large_tiff_read_lazily_is_one_line_naming_it(tmp_path, monkeypatch):
    import tifffile

    from napari_n2n.io import tiff

    monkeypatch.setattr(tiff, "LAZY_BYTES", 0)  # read lazily as a large file is
    tifffile.imwrite(tmp_path / "z.tif", IMAGE, compression="zlib", rowsperstrip=16)
    raw = bytearray((tmp_path / "z.tif").read_bytes())
    for i in range(2000, len(raw) - 2000, 7):
        raw[i] ^= 0x5A
    garbled = tmp_path / "g.tif"
    garbled.write_bytes(bytes(raw))
    with pytest.raises(InputError, match="a part of the TIFF image could not be read") as info:
        _read_all(garbled)
    _one_line_naming(info, garbled)
