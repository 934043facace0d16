"""Sample makers (pure numpy, no napari): bundled or synthesised data, noisy pairs with a clean reference."""

from __future__ import annotations

import numpy as np

from napari_n2n.core.data import samples
from napari_n2n.core.metrics import psnr


def test_2d_pair_from_bundled_camera():
    s = samples.pair_2d()
    assert s.clean.shape == (512, 512) and s.axes == "YX" and s.noise.sigma == 25
    assert abs(np.std(s.a - s.clean) - 25) < 1 and not np.array_equal(s.a, s.b)


def test_3d_volume_is_anisotropic_with_camera_noise():
    s = samples.volume_3d()
    assert s.clean.shape == (32, 128, 128) and s.axes == "ZYX" and s.scale == (2.0, 1.0, 1.0)
    assert s.clean.min() >= 0 and s.noise.name == "poisson_gaussian"
    assert 15 < psnr(s.clean, s.a) < 30
    np.testing.assert_array_equal(s.a, samples.volume_3d().a)  # reproducible


def test_digits_are_distinct_and_in_unit_range():
    templates = [samples.digit_image(d) for d in range(10)]
    for t in templates:
        assert t.shape == (28, 28) and 0 <= t.min() and t.max() == 1.0 and 0.05 < t.mean() < 0.4
    diffs = [
        np.abs(templates[i] - templates[j]).mean() for i in range(10) for j in range(i + 1, 10)
    ]
    assert min(diffs) > 0.03  # no two digits look the same
    s = samples.digits(rows=2, cols=3)
    assert s.clean.shape == (56, 84) and s.axes == "YX"
    assert psnr(s.clean, s.a) < 12  # heavy noise, as in the MNIST experiments
