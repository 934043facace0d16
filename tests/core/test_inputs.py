"""Inputs: files say their axes; bad values are refused where they are read; outliers do not set the scale."""

import numpy as np
import pytest
import tifffile

from napari_n2n.core.axes import AxisView
from napari_n2n.core.config import TrainConfig
from napari_n2n.core.data.normalization import Normalization
from napari_n2n.core.errors import InputError
from napari_n2n.core.inference.denoiser import Denoiser
from napari_n2n.core.model import UNet, UNetConfig
from napari_n2n.core.training.sampling import PatchSampler
from napari_n2n.core.training.train import Trainer
from napari_n2n.io import read_image, write_image

from .._helpers import TRAIN_TINY


def _tiny_denoiser():
    unet = UNetConfig(depth=2, base_channels=4)
    return Denoiser([UNet(unet)], [[0]], Normalization((0.5,), (0.25,)), unet=unet, axes="YX")


def test_tiff_axes_and_pixel_sizes_come_from_the_file(tmp_path):
    rgb = (np.random.default_rng(0).random((96, 96, 3)) * 255).astype(np.uint8)
    tifffile.imwrite(tmp_path / "rgb.tif", rgb, photometric="rgb")
    stack = np.zeros((5, 32, 32), np.uint16)
    tifffile.imwrite(
        tmp_path / "ij.tif", stack, imagej=True, metadata={"axes": "TYX"}, resolution=(4.0, 4.0)
    )
    tifffile.imwrite(
        tmp_path / "ome.tif",
        stack,
        ome=True,
        metadata={"axes": "ZYX", "PhysicalSizeX": 0.1, "PhysicalSizeY": 0.1, "PhysicalSizeZ": 0.5},
    )
    tifffile.imwrite(tmp_path / "plain.tif", stack)
    assert read_image(tmp_path / "rgb.tif").axes == "YXC"
    ij = read_image(tmp_path / "ij.tif")
    assert ij.axes == "TYX" and ij.pixel_size == {"X": 0.25, "Y": 0.25}
    ome = read_image(tmp_path / "ome.tif")
    assert (
        ome.axes == "ZYX" and ome.pixel_size == {"X": 0.1, "Y": 0.1, "Z": 0.5} and ome.unit == "µm"
    )
    # a plain 3D TIFF says nothing: never guessed
    assert read_image(tmp_path / "plain.tif").axes is None


def test_written_images_keep_axes_and_pixel_sizes(tmp_path):
    data = np.random.default_rng(0).random((4, 24, 24, 3)).astype(np.float32)
    write_image(
        tmp_path / "out.tif",
        data,
        axes="TYXC",
        pixel_size={"X": 0.2, "Y": 0.2, "Z": 1.5},
        unit="µm",
    )
    back = read_image(tmp_path / "out.tif")
    np.testing.assert_array_equal(back.data, data)
    assert (
        back.axes == "TYXC"
        and back.pixel_size == pytest.approx({"X": 0.2, "Y": 0.2, "Z": 1.5})
        and back.unit == "µm"
    )
    write_image(tmp_path / "out.npy", data)
    np.testing.assert_array_equal(read_image(tmp_path / "out.npy").data, data)
    with pytest.raises(InputError, match="Cannot tell the format"):
        write_image(tmp_path / "out.png", data)


@pytest.mark.parametrize("content,message", [(b"", "not a readable .npy"), (None, "is empty")])
def test_empty_files_and_arrays_are_refused(tmp_path, content, message):
    path = tmp_path / "e.npy"
    if content is None:
        np.save(path, np.zeros((0, 16)))
    else:
        path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        read_image(path)


def test_empty_arrays_are_refused_by_predict_and_train():
    with pytest.raises(InputError, match="empty"):
        _tiny_denoiser().predict(np.zeros((0, 0), np.float32))
    with pytest.raises(InputError, match="empty"):
        Trainer(np.zeros((0, 64), np.float32), np.zeros((0, 64), np.float32))


def test_trainer_without_input_says_so():
    with pytest.raises(InputError, match="The input is missing"):
        Trainer(None, np.zeros((64, 64)))


def test_nan_in_a_dask_input_is_found_where_it_is_read():
    da = pytest.importorskip("dask.array")
    image = np.random.default_rng(0).random((3, 96, 96)).astype(np.float32)
    image[2, 70, 10] = np.nan
    lazy = da.from_array(image, chunks=(1, 32, 32))
    # the tile's part inside the image (tiles cover the image extended by its reflected border)
    with pytest.raises(InputError, match=r"NaN or Inf values \(sample 2, tile Y 32-95, X 0-31\)"):
        _tiny_denoiser().predict(lazy, axes="TYX", tile=64, overlap=16)
    # the normalisation reads samples
    with pytest.raises(InputError, match=r"NaN or Inf values \(sample 2\)"):
        PatchSampler.from_arrays(lazy, lazy, axes="TYX", patch=32, val_fraction=0.0, seed=0)
    view = AxisView(lazy, "TYX", 2)
    sampler = PatchSampler(
        view,
        view,
        None,
        patch=(32, 32),
        norm=Normalization((0.5,), (0.25,)),
        channels=[0],
        val_fraction=0.0,
        seed=0,
    )
    with pytest.raises(
        InputError, match=r"NaN or Inf values \(sample 2, patch Y \d+-\d+, X \d+-\d+\)"
    ):
        for _ in range(500):
            sampler.sample_batch(4)


def test_hot_pixels_do_not_move_the_scale_and_suggest_l1():
    from skimage import data

    clean = data.camera()[128:384, 128:384].astype(np.float64) * 6 + 100
    rng = np.random.default_rng(0)
    noisy = np.clip(clean + rng.normal(0, 60, clean.shape), 0, 65535).astype(np.uint16)
    hot = noisy.copy()
    mask = rng.random(clean.shape) < 0.01
    hot[mask] = np.where(rng.random(int(mask.sum())) < 0.5, 0, 65535)
    plain = Normalization.fit([AxisView(noisy, "YX", 2)])
    with_hot = Normalization.fit([AxisView(hot, "YX", 2)])
    # it was 41.8× with the percentiles of all values
    assert with_hot.scale[0] / plain.scale[0] < 1.1
    assert with_hot.outliers > 0.005 and plain.outliers < 0.001
    trainer = Trainer(hot, hot[::-1].copy(), config=TrainConfig(**TRAIN_TINY))
    assert any("L1 loss" in n for n in trainer.notes)
    assert not any(
        "L1 loss" in n
        for n in Trainer(noisy, noisy[::-1].copy(), config=TrainConfig(**TRAIN_TINY)).notes
    )


@pytest.mark.parametrize(
    "shape,patch,nb2nb,expected",
    [
        ((64, 1), 32, False, "too small to train on: X is 1 pixel, .*YXC"),
        ((20, 40), 32, False, "Choose a patch size of at most 20"),
        ((100, 100), 64, True, "Choose a patch size of at most 50"),
    ],
)
def test_patch_advice_is_a_size_that_works(shape, patch, nb2nb, expected):
    arr = np.random.default_rng(0).random(shape).astype(np.float32)
    with pytest.raises(InputError, match=expected) as info:
        PatchSampler.from_arrays(arr, None if nb2nb else arr, patch=patch, nb2nb=nb2nb)
    assert "rounded" not in str(info.value)


def test_a_model_with_bad_axes_never_blames_the_users_axes(tmp_path):
    """Axes inside a model are checked when it is loaded (they used to fail later, as if the user's were wrong)."""
    import json

    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    path = _tiny_denoiser().save(tmp_path / "m.n2n")
    with safe_open(path, framework="pt") as f:
        meta = dict(f.metadata())
    payload = json.loads(meta["payload"])
    payload["axes"] = "QX"
    save_file(
        load_file(path),
        str(tmp_path / "bad.n2n"),
        metadata={**meta, "payload": json.dumps(payload)},
    )
    with pytest.raises(Exception, match="bad.n2n.*its axes 'QX' are not valid"):
        Denoiser.load(tmp_path / "bad.n2n")
