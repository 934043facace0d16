"""The device-resident patch sampler (the GPU's data path), checked on the CPU."""

import numpy as np
import pytest
import torch

from napari_n2n.core.config import TrainConfig
from napari_n2n.core.events import Started
from napari_n2n.core.metrics import psnr
from napari_n2n.core.training.batches import ResidentPatchSampler, can_be_resident
from napari_n2n.core.training.sampling import PatchSampler
from napari_n2n.core.training.train import Trainer

from .._helpers import TRAIN_QUALITY


def _dihedral(block):
    """The 8 rotations/reflections of a (..., Y, X) block, as bytes for set membership."""
    out = set()
    for k in range(4):
        r = np.rot90(block, k, axes=(-2, -1))
        out.add(np.ascontiguousarray(r).tobytes())
        out.add(np.ascontiguousarray(np.flip(r, -1)).tobytes())
    return out


def test_patches_are_crops_of_the_normalised_training_region():
    rng = np.random.default_rng(0)
    arr = rng.random((3, 40, 50)).astype(np.float32)  # TYX: three samples
    geo = PatchSampler.from_arrays(
        arr, arr * 2, axes="TYX", val_fraction=0.2, augment=False, patch=8
    )
    s = ResidentPatchSampler(geo, torch.device("cpu"), seed=1)
    x, y = s.sample_batch(64)
    assert x.shape == (64, 1, 8, 8) and y.shape == (64, 1, 8, 8) and x.dtype == torch.float32
    norm_x = geo.norm.apply(arr[:, None])[:, 0]  # (T, Y, X)
    norm_y = geo.norm.apply((arr * 2)[:, None])[:, 0]
    x_end = geo.train_box[-1][1]
    for xb, yb in zip(x.numpy()[:, 0], y.numpy()[:, 0]):
        # find the crop: every patch must be an exact crop that lies left of the validation band
        hits = [
            (t, i, j)
            for t in range(3)
            for i in range(40 - 7)
            for j in range(x_end - 7)
            if np.array_equal(norm_x[t, i : i + 8, j : j + 8], xb)
        ]
        assert len(hits) == 1, "a resident patch is not a crop of the training region"
        t, i, j = hits[0]
        # input and target stay aligned
        np.testing.assert_array_equal(norm_y[t, i : i + 8, j : j + 8], yb)


def test_augmentation_draws_every_rotation_and_reflection_and_symmetric_swaps():
    arr = np.arange(16 * 16, dtype=np.float32).reshape(16, 16)
    geo = PatchSampler.from_arrays(arr, -arr, val_fraction=0.0, patch=(16, 16), symmetric=True)
    s = ResidentPatchSampler(geo, torch.device("cpu"), seed=3)
    x, y = s.sample_batch(400)
    nx = geo.norm.apply(arr[None])[0]
    ny = geo.norm.apply(-arr[None])[0]
    seen = {}
    swapped = 0
    for xb, yb in zip(x.numpy()[:, 0], y.numpy()[:, 0]):
        # the whole image is one patch: each draw is one of the 8 transforms, applied to both
        key = np.ascontiguousarray(xb).tobytes()
        is_swapped = key in _dihedral(ny)
        assert is_swapped or key in _dihedral(nx)
        swapped += is_swapped
        partner = nx if is_swapped else ny
        assert np.ascontiguousarray(yb).tobytes() in _dihedral(partner)
        seen[key] = seen.get(key, 0) + 1
    assert len(seen) == 16  # 8 transforms × (input, target) swap
    assert 150 < swapped < 250
    assert min(seen.values()) > 10  # roughly uniform (expected 25 each)


def test_3d_and_channels():
    rng = np.random.default_rng(1)
    vol = rng.random((2, 10, 20, 20)).astype(np.float32)  # CZYX
    geo = PatchSampler.from_arrays(
        vol, vol, axes="CZYX", patch=(4, 8, 8), val_fraction=0.0, augment=True
    )
    norm = geo.norm
    s = ResidentPatchSampler(geo, torch.device("cpu"), seed=0)
    x, y = s.sample_batch(5)
    assert x.shape == (5, 2, 4, 8, 8)
    torch.testing.assert_close(x, y)
    # the two channels of one patch come from the same place
    nv = norm.apply(vol)
    xb = x[0].numpy()
    hits = [
        (k, i, j)
        for k in range(7)
        for i in range(13)
        for j in range(13)
        if any(
            np.array_equal(np.ascontiguousarray(t), np.ascontiguousarray(xb[0]))
            for t in _3d_variants(nv[0, k : k + 4, i : i + 8, j : j + 8])
        )
    ]
    assert hits


def _3d_variants(block):
    for flip_z in (False, True):
        b = np.flip(block, 0) if flip_z else block
        for k in range(4):
            r = np.rot90(b, k, axes=(-2, -1))
            yield r
            yield np.flip(r, -1)


def test_lazy_or_memory_mapped_data_stay_on_the_host(tmp_path):
    arr = np.random.default_rng(0).random((32, 32)).astype(np.float32)
    ok, _ = can_be_resident(PatchSampler.from_arrays(arr, arr, patch=8), torch.device("cpu"))
    assert ok
    mm = np.lib.format.open_memmap(tmp_path / "a.npy", mode="w+", dtype=np.float32, shape=arr.shape)
    mm[:] = arr
    ok, why = can_be_resident(PatchSampler.from_arrays(mm, mm, patch=8), torch.device("cpu"))
    assert not ok and "lazy or memory-mapped" in why


@pytest.mark.slow
def test_training_from_resident_data_denoises_as_well(gaussian_pair):
    """The resident path (the one GPUs take) trains as well as the streaming one, on the CPU."""
    clean, a, b = gaussian_pair
    cfg = TrainConfig(mode="n2n", **TRAIN_QUALITY, data_on_device=True)
    tr = Trainer(a, b, axes="YX", config=cfg)
    events = list(tr.run())
    assert tr.data_on_device
    assert any("training data on cpu" in n for n in events[0].notes) and isinstance(
        events[0], Started
    )
    gain = psnr(clean, tr.denoiser().predict(a)) - psnr(clean, a)
    assert gain >= 6.0, f"resident-data N2N gained only {gain:.2f} dB"


@pytest.mark.slow
def test_nb2nb_from_resident_data(gaussian_pair):
    clean, a, _ = gaussian_pair
    cfg = TrainConfig(
        mode="nb2nb", **{**TRAIN_QUALITY, "steps": 150, "patch_size": 24}, data_on_device=True
    )
    tr = Trainer(a, None, axes="YX", config=cfg)
    list(tr.run())
    gain = psnr(clean, tr.denoiser().predict(a)) - psnr(clean, a)
    assert gain >= 3.0, f"resident-data Neighbor2Neighbor gained only {gain:.2f} dB"


def test_cpu_streams_by_default_and_config_is_validated(gaussian_pair):
    _, a, b = gaussian_pair
    assert not Trainer(a, b, config=TrainConfig(device="cpu")).data_on_device
    with pytest.raises(Exception, match="data_on_device"):
        TrainConfig(data_on_device="yes")
