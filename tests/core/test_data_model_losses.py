import numpy as np
import pytest
import torch

from napari_n2n.core.axes import AxisView
from napari_n2n.core.data.normalization import Normalization
from napari_n2n.core.errors import InputError
from napari_n2n.core.model import UNet, UNetConfig, count_parameters
from napari_n2n.core.training.losses import (
    apply_subsample,
    neighbor2neighbor_loss,
    pixel_loss,
    subsample_indices,
)
from napari_n2n.core.training.sampling import PatchSampler, augment


def test_normalization_is_robust_and_invertible():
    x = np.random.default_rng(0).normal(100, 10, (64, 64)).astype(np.float32)
    x[0, 0] = 1e6  # a hot pixel must not set the scale
    norm = Normalization.fit([AxisView(x, "YX", 2)])
    assert norm.offset[0] == pytest.approx(100, abs=1) and norm.scale[0] == pytest.approx(
        12.9, rel=0.1
    )
    y = norm.apply(x[None])
    assert abs(float(np.median(y))) < 0.01
    np.testing.assert_allclose(norm.undo(y), x[None], rtol=1e-5)
    assert Normalization.from_dict(norm.to_dict()) == norm


def test_constant_and_nan_images_are_refused():
    with pytest.raises(InputError, match="constant"):
        Normalization.fit([AxisView(np.ones((32, 32)), "YX", 2)])
    bad = np.ones((32, 32), np.float32)
    bad[3, 3] = np.inf
    with pytest.raises(InputError, match="NaN or Inf"):
        Normalization.fit([AxisView(bad, "YX", 2)])


def test_validation_band_is_held_out_from_training():
    arr = np.random.default_rng(0).random((64, 100)).astype(np.float32)
    s = PatchSampler.from_arrays(arr, arr, val_fraction=0.2, seed=1, patch=16)
    assert s.train_box[-1] == (0, 80)
    assert s.has_validation
    for _, sl in s.val_positions:
        assert sl[-1].start >= 80
    # training patches never reach into the band: mark the band and sample
    marked = arr.copy()
    marked[:, 80:] = 1000.0
    s2 = PatchSampler.from_arrays(marked, marked, val_fraction=0.2, seed=1, augment=False, patch=16)
    x, _ = s2.sample_batch(64)
    hi = s2.norm.apply(np.array([[1000.0]], np.float32))[0, 0]
    assert not np.any(np.isclose(x, hi))


def test_validation_falls_back_to_last_sample_or_none():
    stack = np.random.default_rng(0).random((3, 20, 20)).astype(np.float32)
    s = PatchSampler.from_arrays(stack, stack, axes="TYX", val_fraction=0.1, patch=16)
    assert s.train_samples == [0, 1] and {n for n, _ in s.val_positions} == {2}
    s = PatchSampler.from_arrays(stack[0], stack[0], val_fraction=0.1, patch=16)
    assert not s.has_validation and "disabled" in s.notes[0]


def test_patch_larger_than_image_is_explained():
    arr = np.random.default_rng(0).random((20, 40)).astype(np.float32)
    with pytest.raises(InputError, match="smaller than the patch.*at most 20"):
        PatchSampler.from_arrays(arr, arr, patch=(32, 32))
    with pytest.raises(InputError, match="twice as large"):
        PatchSampler.from_arrays(arr, None, patch=(16, 16), nb2nb=True)


def test_augmentation_is_identical_for_input_and_target():
    rng = np.random.default_rng(0)
    x = rng.random((1, 8, 8))
    for _ in range(10):
        a, b = augment([x, x.copy()], rng, 2)
        np.testing.assert_array_equal(a, b)
    seen = {augment([x], rng, 2)[0].tobytes() for _ in range(200)}
    assert len(seen) == 8  # the dihedral group of the square


def test_batches_have_the_expected_shapes_3d_and_nb2nb():
    vol = np.random.default_rng(0).random((12, 40, 40)).astype(np.float32)
    s = PatchSampler.from_arrays(vol, vol, axes="ZYX", patch=(8, 16, 16))
    x, y = s.sample_batch(3)
    assert x.shape == y.shape == (3, 1, 8, 16, 16) and x.dtype == np.float32
    s = PatchSampler.from_arrays(vol[0], None, patch=(8, 8), nb2nb=True)
    x, y = s.sample_batch(2)
    assert x.shape == (2, 1, 16, 16) and y is None


def test_unet_default_size_and_any_shape():
    n2d = count_parameters(UNet(UNetConfig()))
    n3d = count_parameters(UNet(UNetConfig(ndim=3, depth=3, base_channels=16)))
    assert 1e6 <= n2d <= 2e6 and 1e6 <= n3d <= 2e6
    m = UNet(UNetConfig(depth=3, base_channels=8))
    for shape in [(1, 1, 37, 50), (2, 1, 64, 64), (1, 1, 5, 9)]:
        assert m(torch.randn(shape)).shape == shape
    m3 = UNet(UNetConfig(ndim=3, depth=2, base_channels=4, in_channels=2, out_channels=2))
    assert m3(torch.randn(1, 2, 7, 13, 11)).shape == (1, 2, 7, 13, 11)


def test_losses():
    p, t = torch.zeros(100), torch.zeros(100)
    t[:10] = 10.0  # 10 % outliers
    assert pixel_loss(p, t, "l2") == pytest.approx(10.0)
    assert pixel_loss(p, t, "l1") == pytest.approx(1.0)
    # annealed L0: gamma 2 at the start (= L2), near 0 at the end (counts mismatches)
    assert pixel_loss(p, t, "l0", progress=0.0) == pytest.approx(10.0, rel=1e-4)
    assert pixel_loss(p, t, "l0", progress=0.999).item() < 1.1
    assert pixel_loss(torch.ones(4), torch.full((4,), 2.0), "hdr").item() == pytest.approx(
        1 / 1.01**2, rel=1e-4
    )
    with pytest.raises(ValueError):
        pixel_loss(p, t, "l3")


def test_neighbour_subsampling_picks_two_different_neighbours():
    y = torch.arange(2 * 1 * 8 * 8, dtype=torch.float32).reshape(2, 1, 8, 8)
    g = torch.Generator().manual_seed(0)
    i1, i2 = subsample_indices(y, g)
    g1, g2 = apply_subsample(y, i1), apply_subsample(y, i2)
    assert g1.shape == (2, 1, 4, 4)
    assert torch.all(g1 != g2)
    # each value comes from its own 2x2 cell, and the two picks are 4-neighbours
    diff = (g1 - g2).abs()
    assert set(diff.unique().tolist()) <= {1.0, 8.0}
    m = UNet(UNetConfig(depth=1, base_channels=4))
    loss = neighbor2neighbor_loss(m, y / 100, generator=g)
    loss.backward()
    assert loss.item() > 0 and m.head.weight.grad is not None
