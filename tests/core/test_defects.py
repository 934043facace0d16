"""Defect pixels of a sensor (issue 23 item 16): found at the same place in a pair, filled."""

import numpy as np
import pytest
from skimage import data

from napari_n2n.core.data import defects


def _pair_with_hot_pixels(seed=0, share=0.003):
    rng = np.random.default_rng(seed)
    clean = data.camera()[128:256, 128:256].astype(np.float32)
    hot = rng.random(clean.shape) < share
    a = clean + rng.normal(0, 25, clean.shape)
    b = clean + rng.normal(0, 25, clean.shape)
    a[hot] = b[hot] = 4000.0  # a sensor's hot pixels: the same place, in both
    return clean, a.astype(np.float32), b.astype(np.float32), hot


def test_shared_hot_pixels_are_found_and_independent_impulses_are_not():
    _, a, b, hot = _pair_with_hot_pixels()
    rng = np.random.default_rng(1)
    impulses = rng.random(a.shape) < 0.003
    a[impulses & ~hot] = 4000.0  # in A only: impulse noise, not a defect of the sensor
    found = defects.shared_defects(a, b)
    assert found[hot].mean() > 0.95
    assert not found[impulses & ~hot].any()
    assert found.sum() <= hot.sum() + 2


def test_a_noise_free_image_of_sharp_structures_has_no_defects():
    stripes = np.zeros((64, 64), np.float32)
    stripes[:, ::4] = 255.0  # one pixel wide lines: the same in both copies, and not defects
    assert not defects.shared_defects(stripes, stripes.copy()).any()


def test_filled_pixels_take_their_neighbours_values_and_keep_the_dtype():
    clean, a, _, hot = _pair_with_hot_pixels()
    filled = defects.fill(a, hot)
    assert np.abs(filled[hot] - clean[hot]).mean() < 30  # noise σ 25; the hot value was 4000
    assert np.array_equal(filled[~hot], a[~hot])
    ints = defects.fill(np.clip(a, 0, 65535).astype(np.uint16), hot)
    assert ints.dtype == np.uint16 and ints[hot].max() < 1000


def test_a_stack_is_filled_plane_by_plane_whatever_its_axes():
    _, a, _, hot = _pair_with_hot_pixels()
    stack = np.stack([a, a, a], axis=-1)  # Y X T
    filled = defects.fill_frames(stack, hot, "YXT")
    assert filled.shape == stack.shape
    assert filled[..., 1][hot].max() < 1000 and np.array_equal(filled[..., 2][~hot], a[~hot])


def test_a_defect_map_of_another_size_is_refused_with_what_to_give():
    from napari_n2n.core.errors import InputError

    with pytest.raises(InputError, match="one frame's size"):
        defects.read_map(np.ones((10, 10)), (128, 128), "map.tif")
