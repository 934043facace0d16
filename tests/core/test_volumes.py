"""Volumes: the voxel size shapes the 3D network, few slices train, the model file keeps the choice,
and the bundled general 3D start gives a head start on a volume it never saw."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_n2n.cli import main
from napari_n2n.core.config import TrainConfig
from napari_n2n.core.errors import InputError
from napari_n2n.core.inference.denoiser import Denoiser
from napari_n2n.core.metrics import psnr
from napari_n2n.core.model import UNet, UNetConfig, xy_only_levels_for
from napari_n2n.core.training.start import (
    GENERAL,
    general_model_path,
    parse_voxel_size,
    voxel_size_from,
)
from napari_n2n.core.training.train import Trainer
from napari_n2n.io import read_image, write_image

#: a few CPU steps of a small network, no validation band
TINY = dict(steps=3, depth=2, base_channels=8, batch_size=2, device="cpu", seed=0, val_fraction=0.0)


def _blobs(shape, seed=0):
    """A clean volume of soft blobs (0-200), not the general model's training data."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    vol = np.zeros(shape, np.float32)
    for _ in range(40):
        vol[tuple(rng.integers(0, s) for s in shape)] = 1
    vol = gaussian_filter(vol, (1.0, 3.0, 3.0))
    return (vol / vol.max() * 200).astype(np.float32)


def _pair(clean, sigma=25.0, seed=0):
    rng = np.random.default_rng(seed)
    a, b = (clean + rng.normal(0, sigma, clean.shape).astype(np.float32) for _ in range(2))
    return a, b


def _pools(model: UNet) -> list:
    return [tuple(p.kernel_size) for p in model.pools]


def test_the_network_pools_in_xy_only_while_z_is_coarser():
    assert xy_only_levels_for((4.0, 1.0, 1.0), 2) == 2
    assert xy_only_levels_for((2.0, 0.5, 0.5), 3) == 2
    assert xy_only_levels_for((1.0, 1.0, 1.0), 3) == 0 and xy_only_levels_for(None, 3) == 0
    # few slices: z is not pooled below 2 slices at the bottom
    assert xy_only_levels_for(None, 2, slices=8) == 0
    assert xy_only_levels_for(None, 3, slices=8) == 1
    net = UNet(UNetConfig(ndim=3, depth=3, base_channels=4, xy_only_levels=2))
    assert _pools(net) == [(1, 2, 2), (1, 2, 2), (2, 2, 2)]
    x = np.random.default_rng(0).normal(size=(1, 1, 5, 20, 24)).astype(np.float32)
    import torch

    assert net(torch.from_numpy(x)).shape == x.shape
    # the weights do not depend on the pooling: an isotropic model's weights load
    iso = UNet(UNetConfig(ndim=3, depth=3, base_channels=4))
    net.load_state_dict(iso.state_dict())
    with pytest.raises(InputError, match="xy_only_levels"):
        UNetConfig(ndim=2, depth=3, xy_only_levels=1)
    with pytest.raises(InputError, match="xy_only_levels"):
        UNetConfig(ndim=3, depth=2, xy_only_levels=3)


def test_an_anisotropic_eight_slice_stack_trains_predicts_and_its_model_file_keeps_the_network(
    tmp_path,
):
    clean = _blobs((8, 48, 48))
    a, b = _pair(clean)
    trainer = Trainer(
        a, b, axes="ZYX", config=TrainConfig(**TINY), init=None, voxel_size=(4.0, 1.0, 1.0)
    )
    assert trainer.unet.xy_only_levels == 2 and trainer.patch[0] == 8
    assert any("pool in y and x only" in n for n in trainer.notes)
    list(trainer.run())
    den = trainer.denoiser()
    assert _pools(den.models[0]) == [(1, 2, 2), (1, 2, 2)]
    out = den.predict(a)
    assert out.shape == a.shape and np.isfinite(out).all()
    den.save(tmp_path / "m.n2n")
    back = Denoiser.load(tmp_path / "m.n2n")
    assert back.unet == den.unet and back.info["voxel_size"] == [4.0, 1.0, 1.0]
    assert _pools(back.models[0]) == [(1, 2, 2), (1, 2, 2)]
    np.testing.assert_allclose(back.predict(a), out, atol=1e-4)
    # an isotropic 8-slice stack too
    iso = Trainer(a, b, axes="ZYX", config=TrainConfig(**TINY), init=None)
    assert iso.unet.xy_only_levels == 0
    list(iso.run())
    assert iso.denoiser().predict(a).shape == a.shape


def test_voxel_sizes_typed_and_from_sizes():
    assert parse_voxel_size("4 1 1") == (4.0, 1.0, 1.0) and parse_voxel_size("") is None
    with pytest.raises(InputError, match="three positive numbers"):
        parse_voxel_size("1 2")
    with pytest.raises(InputError, match="three positive numbers"):
        parse_voxel_size("0 1 1")
    assert voxel_size_from({"Z": 3, "Y": 1, "X": 1}, "YX") is None
    assert voxel_size_from([2.0, 0.5, 0.5], "ZYX") == (2.0, 0.5, 0.5)


def _written_by_other_tools(tmp_path, vol):
    """The same ZYX volume (z-step 2, pixel 0.5), written by tifffile (ImageJ and OME), nibabel and
    our OME-Zarr writer (validated by yaozarrs)."""
    nib = pytest.importorskip("nibabel")
    files = {}
    files["imagej"] = tmp_path / "ij.tif"
    tifffile.imwrite(
        files["imagej"],
        vol,
        imagej=True,
        resolution=(2.0, 2.0),
        metadata={"axes": "ZYX", "spacing": 2.0, "unit": "um"},
    )
    files["ome"] = tmp_path / "o.ome.tif"
    tifffile.imwrite(
        files["ome"],
        vol,
        metadata={"axes": "ZYX", "PhysicalSizeZ": 2.0, "PhysicalSizeY": 0.5, "PhysicalSizeX": 0.5},
    )
    files["nifti"] = tmp_path / "v.nii.gz"
    # NIfTI's index order is x, y, z
    nib.save(nib.Nifti1Image(vol.T.copy(), np.diag([0.5, 0.5, 2.0, 1.0])), files["nifti"])
    files["zarr"] = write_image(
        tmp_path / "v.ome.zarr", vol, axes="ZYX", pixel_size={"Z": 2.0, "Y": 0.5, "X": 0.5}
    )
    try:
        import yaozarrs

        yaozarrs.validate_zarr_store(str(files["zarr"]))
    except ImportError:
        pass
    return files


def test_the_voxel_size_is_read_from_tiff_ome_tiff_nifti_and_ome_zarr(tmp_path):
    vol = _blobs((8, 32, 32))
    for kind, path in _written_by_other_tools(tmp_path, vol).items():
        image = read_image(path)
        assert voxel_size_from(image.pixel_size, image.axes) == (2.0, 0.5, 0.5), (kind, image)


def test_the_command_line_reads_the_voxel_size_or_takes_voxel_size(tmp_path, capsys):
    clean = _blobs((8, 48, 48))
    a, b = _pair(clean)
    meta = {"axes": "ZYX", "spacing": 3.0, "unit": "um"}
    for name, vol in (("a", a), ("b", b)):
        tifffile.imwrite(
            tmp_path / f"{name}.tif", vol, imagej=True, resolution=(1.0, 1.0), metadata=meta
        )
    args = ["train", "--input", str(tmp_path / "a.tif"), "--target", str(tmp_path / "b.tif")]
    tiny = ["--steps", "2", "--batch", "2", "--quiet", "--device", "cpu"]
    assert main([*args, "--model", str(tmp_path / "file.n2n"), *tiny]) == 0
    from_file = Denoiser.load(tmp_path / "file.n2n")
    # z 3× coarser: after two xy-only levels z and xy are 0.75 : 1
    assert from_file.info["voxel_size"] == [3.0, 1.0, 1.0] and from_file.unet.xy_only_levels == 2
    given = [*args, "--model", str(tmp_path / "given.n2n"), "--voxel-size", "1", "1", "1", *tiny]
    assert main(given) == 0
    assert Denoiser.load(tmp_path / "given.n2n").unet.xy_only_levels == 0


def test_the_general_3d_model_ships_and_auto_uses_it_for_one_channel_volumes():
    den = Denoiser.load(general_model_path(3))
    assert den.unet.ndim == 3 and den.unet.in_channels == 1 and den.unet.xy_only_levels == 0
    assert "train_general_3d.py" in den.info.get("trained_by", "")
    assert general_model_path(3).stat().st_size < 5 * 2**20
    clean = _blobs((12, 40, 40))
    a, b = _pair(clean)
    short = dict(steps=2, device="cpu", seed=0, val_fraction=0.0)
    auto = Trainer(a, b, axes="ZYX", config=TrainConfig(**short), voxel_size=(2.0, 1.0, 1.0))
    assert auto.info["init_from"]["model"] == GENERAL
    assert any("general 3D denoiser" in n for n in auto.notes)
    # its weights go into the network the voxel size asks for
    assert auto.unet.xy_only_levels == 1
    own = Trainer(a, b, axes="ZYX", config=TrainConfig(depth=2, base_channels=8, **short))
    assert "init_from" not in own.info


@pytest.mark.slow
def test_a_few_steps_from_the_general_3d_model_beat_random_weights():
    """On blobs blurred more in z than in xy (not the general model's generator), σ 25."""
    clean = _blobs((16, 64, 64), seed=3)
    a, b = _pair(clean, seed=3)
    config = TrainConfig(steps=15, device="cpu", seed=0, val_fraction=0.0)
    scores = {}
    for init in ("auto", None):
        trainer = Trainer(a, b, axes="ZYX", config=config, init=init)
        list(trainer.run())
        scores[init] = psnr(clean, trainer.denoiser().predict(a))
    noisy = psnr(clean, a)
    assert scores["auto"] >= noisy + 6.0, (noisy, scores)
    assert scores["auto"] >= scores[None] + 3.0, scores
