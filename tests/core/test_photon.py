"""Photon-split pairs: the halves sum to the input, are independent, and carry half the light each."""

import numpy as np
import pytest

from napari_n2n.core.data.photon import (
    binomial_split,
    estimate_photon_scale,
    photon_counts,
    photon_split,
)
from napari_n2n.core.errors import InputError


@pytest.fixture(scope="module")
def scene(camera_crop):
    """Expected photons per pixel (0.4 to 40) and one Poisson draw of it."""
    lam = 0.4 + camera_crop.astype(np.float64) / 255.0 * 40.0
    return lam, np.random.default_rng(0).poisson(lam)


def test_halves_sum_to_the_input(scene):
    _, counts = scene
    a, b = binomial_split(counts, seed=1)
    np.testing.assert_array_equal(a + b, counts)
    assert a.min() >= 0 and b.min() >= 0


def test_each_half_has_half_the_mean(scene):
    lam, counts = scene
    a, b = binomial_split(counts, seed=1)
    for half in (a, b):
        assert half.mean() == pytest.approx(lam.mean() / 2, rel=0.01)
        # and, per pixel, the variance of a Poisson image with half the light
        assert np.mean((half - lam / 2) ** 2) == pytest.approx(lam.mean() / 2, rel=0.03)


def test_halves_have_independent_noise(scene):
    lam, counts = scene
    a, b = binomial_split(counts, seed=1)
    rho = np.corrcoef((a - lam / 2).ravel(), (b - lam / 2).ravel())[0, 1]
    assert abs(rho) < 0.02
    # a split that is not random (half of each count, rounded) gives fully dependent halves
    a_det = counts // 2
    rho_det = np.corrcoef((a_det - lam / 2).ravel(), (counts - a_det - lam / 2).ravel())[0, 1]
    assert rho_det > 0.8


def test_photon_split_in_image_units(scene):
    _, counts = scene
    raw = (counts * 3 + 100).astype(np.uint16)
    a, b = photon_split(raw, gain=3, offset=100, seed=2)
    assert a.shape == raw.shape and a.dtype == np.float32
    # each half at the input's brightness; their mean is the input
    np.testing.assert_allclose((a + b) / 2, raw, atol=1e-3)
    assert a.mean() == pytest.approx(raw.mean(), rel=0.01)
    # seeded
    np.testing.assert_array_equal(a, photon_split(raw, gain=3, offset=100, seed=2)[0])


def test_scale_is_estimated_from_one_image(scene):
    _, counts = scene
    raw = counts * 3.0 + 50.0
    scale = estimate_photon_scale(raw)
    assert scale.exact
    assert scale.gain == pytest.approx(3.0, rel=1e-6)
    assert scale.offset == pytest.approx(50.0, abs=3.0 * 2)  # within two photons
    a, b = photon_split(raw, seed=0)  # gain and offset estimated
    np.testing.assert_allclose((a + b) / 2, raw, atol=1e-3)


def test_negative_counts_are_refused(scene):
    _, counts = scene
    raw = counts * 2.0 + 100
    with pytest.raises(InputError, match="fewer than zero photons"):
        photon_counts(raw, gain=2.0, offset=150)


def test_non_counts_are_refused(scene):
    lam, counts = scene
    raw = counts * 2.0 + 100
    with pytest.raises(InputError, match="not a photon-count image"):
        photon_counts(raw, gain=2.3, offset=100)  # a wrong gain
    noisy = raw + np.random.default_rng(0).normal(0, 2.0, raw.shape)  # read noise
    with pytest.raises(InputError, match="not a photon-count image"):
        photon_split(noisy, gain=2.0, offset=100)
    with pytest.raises(InputError, match="gain"):
        photon_counts(raw, gain=0, offset=100)
    # the estimator says when it cannot find whole counts
    with pytest.raises(InputError, match="photon scale"):
        photon_split(noisy)
    # rounding is allowed when asked for (for read noise far below one photon: here 0.15 photons)
    faint = raw + np.random.default_rng(0).normal(0, 0.3, raw.shape)
    with pytest.raises(InputError, match="not a photon-count image"):
        photon_counts(faint, gain=2.0, offset=100)
    rounded = photon_counts(faint, gain=2.0, offset=100, allow_rounding=True)
    assert np.mean(rounded != counts) < 0.005  # read noise beyond half a photon: 0.08 % of pixels


def test_signal_independent_noise_is_not_photon_counts(camera_crop):
    noisy = camera_crop + np.random.default_rng(0).normal(0, 20, camera_crop.shape)
    with pytest.raises(InputError, match="does not grow with intensity"):
        estimate_photon_scale(noisy)
