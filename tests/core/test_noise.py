import numpy as np
import pytest

from napari_n2n.core.data.noise import (
    NOISE_MODELS,
    Bernoulli,
    Gaussian,
    Impulse,
    Poisson,
    PoissonGaussian,
    estimate_noise_sigma,
    make_noise,
    noise_from_dict,
    synthesize_pair,
)
from napari_n2n.core.errors import InputError

CLEAN = np.tile(np.linspace(10, 200, 128, dtype=np.float32), (128, 1))


@pytest.mark.parametrize(
    "noise",
    [
        Gaussian(10),
        Poisson(30),
        PoissonGaussian(2, 3),
        Impulse(0.1),
        Impulse(0.2, "random"),
        Bernoulli(0.3),
    ],
)
def test_pairs_are_seeded_and_independent(noise):
    a1, b1 = synthesize_pair(CLEAN, noise, seed=3)
    a2, b2 = synthesize_pair(CLEAN, noise, seed=3)
    np.testing.assert_array_equal(a1, a2)
    np.testing.assert_array_equal(b1, b2)
    a3, _ = synthesize_pair(CLEAN, noise, seed=4)
    assert not np.array_equal(a1, a3)
    assert a1.shape == CLEAN.shape and a1.dtype == np.float32
    # the two copies' noise is drawn independently (for impulse/drop-out: which pixels are hit)
    na, nb = (a1 - CLEAN).ravel(), (b1 - CLEAN).ravel()
    if isinstance(noise, Impulse):
        na, nb = (np.abs(na) > 1e-3).astype(float), (np.abs(nb) > 1e-3).astype(float)
    if isinstance(noise, Bernoulli):
        na, nb = (a1 == 0).ravel().astype(float), (b1 == 0).ravel().astype(float)
    assert abs(np.corrcoef(na, nb)[0, 1]) < 0.05


def test_gaussian_sigma_is_in_image_units():
    a, _ = synthesize_pair(CLEAN, Gaussian(sigma=25), seed=0)
    assert np.std(a - CLEAN) == pytest.approx(25, rel=0.03)
    assert abs(np.mean(a - CLEAN)) < 0.5


def test_poisson_is_unbiased_with_photon_variance():
    flat = np.full((256, 256), 100.0)
    a, _ = synthesize_pair(flat, Poisson(peak=25), seed=0)
    assert np.mean(a) == pytest.approx(100, rel=0.01)
    # 25 photons at 100 units: std = 100 / sqrt(25) = 20
    assert np.std(a) == pytest.approx(20, rel=0.03)


def test_poisson_gaussian_variance():
    flat = np.full((256, 256), 100.0)
    a, _ = synthesize_pair(flat, PoissonGaussian(gain=4, read_sigma=3), seed=0)
    # shot variance gain * signal = 400, read variance 9
    assert np.var(a) == pytest.approx(409, rel=0.05)


def test_impulse_fraction_and_values():
    a, _ = synthesize_pair(CLEAN, Impulse(fraction=0.2), seed=0)
    changed = np.abs(a - CLEAN) > 1e-3
    assert changed.mean() == pytest.approx(0.2, abs=0.02)
    assert set(np.unique(a[changed]).round(3)) <= {
        round(float(CLEAN.min()), 3),
        round(float(CLEAN.max()), 3),
    }


def test_bernoulli_is_unbiased():
    flat = np.full((256, 256), 50.0)
    a, _ = synthesize_pair(flat, Bernoulli(p=0.5), seed=0)
    assert (a == 0).mean() == pytest.approx(0.5, abs=0.02)
    assert a.mean() == pytest.approx(50, rel=0.02)


def test_make_noise_and_round_trip():
    for name in NOISE_MODELS:
        model = make_noise(name)
        assert noise_from_dict(model.to_dict()) == model
    assert make_noise("salt-pepper", fraction=0.05) == Impulse(0.05, "salt_pepper")
    with pytest.raises(InputError, match="Choose one of"):
        make_noise("speckle")
    with pytest.raises(InputError, match="unexpected sigma"):
        make_noise("poisson", sigma=3)


@pytest.mark.parametrize(
    "bad",
    [
        lambda: Gaussian(-1),
        lambda: Poisson(0),
        lambda: Impulse(1.5),
        lambda: Bernoulli(1.0),
        lambda: Impulse(0.1, "pepper"),
        lambda: PoissonGaussian(0, 1),
    ],
)
def test_invalid_parameters_are_explained(bad):
    with pytest.raises(InputError):
        bad()


def test_poisson_rejects_negative_and_nan():
    with pytest.raises(InputError, match="non-negative"):
        synthesize_pair(CLEAN - 100, Poisson(10))
    bad = CLEAN.copy()
    bad[0, 0] = np.nan
    with pytest.raises(InputError, match="NaN"):
        synthesize_pair(bad, Gaussian(1))


def test_estimate_noise_sigma(camera_crop):
    a, _ = synthesize_pair(camera_crop, Gaussian(sigma=20), seed=0)
    assert estimate_noise_sigma(a) == pytest.approx(20, rel=0.15)
    assert estimate_noise_sigma(np.stack([a, a])) == pytest.approx(20, rel=0.15)
    assert estimate_noise_sigma(np.stack([a, a]), channel_axis=0) == pytest.approx(20, rel=0.15)
    assert estimate_noise_sigma(camera_crop) < 5  # the clean image reads as nearly noise-free
