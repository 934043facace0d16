"""The pair check: shift, gain/offset, correlated noise, intensity-dependent noise, bad input."""

import numpy as np
import pytest
from scipy.ndimage import fourier_shift, gaussian_filter

from napari_n2n.core.data.noise import Gaussian, Impulse, Poisson, PoissonGaussian, synthesize_pair
from napari_n2n.core.data.noisestats import measure_shift
from napari_n2n.core.data.paircheck import check_pair
from napari_n2n.core.errors import InputError


def _fourier_shifted(image, shift):
    return np.real(np.fft.ifftn(fourier_shift(np.fft.fftn(image), shift)))


def test_clean_pair_passes(gaussian_pair):
    _, a, b = gaussian_pair
    report = check_pair(a, b)
    assert report.ok, report.summary()
    assert np.hypot(*report.shift) < 0.1
    assert report.gain == pytest.approx(1.0, abs=0.02)
    assert report.noise_sigma == pytest.approx(25.0, rel=0.03)
    assert max(map(abs, report.correlation)) < 0.05
    assert not report.poisson_like
    assert report.finding("shift").severity == "ok"


@pytest.mark.parametrize("shift", [(2.3, -1.7), (0.45, 0.3), (-5.6, 3.1)])
def test_injected_subpixel_shift_is_found(camera_crop, shift):
    rng = np.random.default_rng(0)
    a = camera_crop + rng.normal(0, 15, camera_crop.shape)
    b = _fourier_shifted(camera_crop, shift) + rng.normal(0, 15, camera_crop.shape)
    report = check_pair(a, b)
    np.testing.assert_allclose(report.shift, shift, atol=0.1)
    finding = report.finding("shift")
    assert finding.severity == "warning" and "register" in finding.text


def test_shift_of_a_real_crop(camera_crop):
    """Two crops of one scene, 3 px apart in Y and -4 px in X (no wrap-around)."""
    from skimage import data

    big = data.camera().astype(np.float64)
    rng = np.random.default_rng(1)
    a = big[100:356, 100:356] + rng.normal(0, 10, (256, 256))
    b = big[97:353, 104:360] + rng.normal(0, 10, (256, 256))
    report = check_pair(a, b)
    np.testing.assert_allclose(report.shift, (3.0, -4.0), atol=0.15)


def test_gain_and_offset_are_recovered(camera_crop):
    a, b = synthesize_pair(camera_crop, Gaussian(sigma=20), seed=2)
    report = check_pair(a, 0.8 * b + 10.0)
    assert report.gain == pytest.approx(0.8, abs=0.01)
    assert report.offset == pytest.approx(10.0, abs=1.5)
    assert report.finding("intensity").severity == "warning"
    assert "rescale" in report.finding("intensity").text
    # noise in A does not bias the fit towards 0 (a plain regression of B on A gives ~0.7 here)
    naive = np.polyfit(a.ravel(), (0.8 * b + 10).ravel(), 1)[0]
    assert naive < 0.75


@pytest.mark.parametrize("blur", [1.0, 0.6])
def test_correlated_noise_is_flagged(camera_crop, blur):
    rng = np.random.default_rng(3)
    noise = [gaussian_filter(rng.normal(0, 25, camera_crop.shape), blur) * 3 for _ in range(2)]
    report = check_pair(camera_crop + noise[0], camera_crop + noise[1])
    assert min(report.correlation) > 0.2
    finding = report.finding("correlation")
    assert finding.severity == "warning" and "bin" in finding.text


def test_white_noise_is_not_flagged(gaussian_pair):
    _, a, b = gaussian_pair
    assert check_pair(a, b).finding("correlation").severity == "ok"


@pytest.mark.parametrize("noise", [Poisson(peak=30), PoissonGaussian(gain=4, read_sigma=10)])
def test_shot_noise_is_recognised_as_intensity_dependent(camera_crop, noise):
    a, b = synthesize_pair(camera_crop, noise, seed=4)
    report = check_pair(a, b)
    assert report.poisson_like
    # the slope of the variance is the image units per photon
    per_photon = camera_crop.max() / noise.peak if isinstance(noise, Poisson) else noise.gain
    assert report.mean_variance.slope == pytest.approx(per_photon, rel=0.1)
    assert "photon" in report.finding("noise").text


def test_gaussian_noise_is_not_intensity_dependent(gaussian_pair):
    _, a, b = gaussian_pair
    report = check_pair(a, b)
    assert not report.poisson_like
    assert "same at all intensities" in report.finding("noise").text


def test_impulse_noise_suggests_l1(camera_crop):
    a, b = synthesize_pair(camera_crop, Impulse(fraction=0.1), seed=5)
    finding = check_pair(a, b).finding("outliers")
    assert finding.severity == "warning" and "L1" in finding.text


def test_identical_images_are_one_refusal_without_contradictory_oks(gaussian_pair):
    _, a, _ = gaussian_pair
    report = check_pair(a, a.copy())
    assert [(f.topic, f.severity) for f in report.findings] == [("shared", "error")]
    assert not report.ok and report.errors and "cannot train" in report.summary()
    assert "[ok]" not in report.summary() and "aligned" not in report.summary()


def _drifting_time_lapse(frames=9, sigma=25.0, seed=0):
    """Frames of skimage's moon drifting 1-2 px a frame in Y and X, with noise: (A, B) = (t, t+1)."""
    from scipy.ndimage import shift as nd_shift
    from skimage import data

    rng = np.random.default_rng(seed)
    moon = data.moon().astype(np.float64)
    steps = rng.uniform(1.0, 2.0, size=(frames, 2)) * (-1, 1)
    drift = np.cumsum(steps, axis=0)
    movie = np.stack([nd_shift(moon, d, mode="nearest")[40:296, 40:296] for d in drift])
    movie += rng.normal(0, sigma, movie.shape)
    return movie[:-1], movie[1:], steps[1:]


def test_a_drifting_time_lapse_is_a_finding_that_says_to_register():
    a, b, steps = _drifting_time_lapse()
    report = check_pair(a, b, axes="TYX")
    finding = report.finding("shift")
    assert finding.severity == "warning" and "register" in finding.text, report.summary()
    np.testing.assert_allclose(report.shift, np.median(steps, axis=0), atol=0.25)
    # the same scene without the drift is not flagged
    still = _drifting_time_lapse(seed=1)[0]
    rng = np.random.default_rng(2)
    assert check_pair(still, still + rng.normal(0, 25, still.shape), axes="TYX").finding(
        "shift"
    ).severity in ("ok", "info")


def test_a_whole_3_px_shift_is_measured_within_a_tenth_and_shown_as_measured():
    from skimage import data

    big = data.camera().astype(np.float64)
    rng = np.random.default_rng(3)
    a = big[128:384, 128:384] + rng.normal(0, 5, (256, 256))
    b = big[128:384, 125:381] + rng.normal(0, 5, (256, 256))  # B(y, x) = A(y, x - 3)
    report = check_pair(a, b)
    assert abs(report.shift[1] - 3.0) < 0.02 and abs(report.shift[0]) < 0.02, report.shift
    text = report.finding("shift").text  # to the precision measured (±0.01 px here)
    assert any(f"{v:+.2f} px in X" in text for v in (2.99, 3.0, 3.01)), text
    # without noise, exact (a circular shift of the whole plane measured 2.98 px)
    dy, dx = measure_shift(big[128:384, 128:384], big[128:384, 125:381])
    assert abs(dx - 3.0) < 0.005 and abs(dy) < 0.005, (dy, dx)
    # a copy of A moved by whole pixels is a copy (no independent noise), said with the shift
    copy = check_pair(big[128:384, 128:384], big[128:384, 125:381])
    assert copy.errors and "moved by" in copy.errors[0].text


def test_constant_images_have_no_measurable_shift_and_warn_nothing_on_stderr(capfd):
    import warnings

    flat = np.full((128, 128), 7.0, np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a leaked library warning fails the test
        report = check_pair(flat, flat.copy())
        other = check_pair(flat, np.random.default_rng(0).normal(7, 1, flat.shape).astype("f4"))
    assert capfd.readouterr().err == ""
    for r in (report, other):
        assert [(f.topic, f.severity) for f in r.findings] == [("content", "error")]
        text = r.findings[0].text
        assert "constant" in text and "no measurable shift" in text and "shifted by" not in text
    assert "A is constant (every pixel 7)" in report.findings[0].text
    assert "B is constant" not in other.findings[0].text


def test_stack_checks_a_subset_of_planes(camera_crop):
    stack = np.stack([camera_crop] * 12)
    a, b = synthesize_pair(stack, Poisson(peak=20), seed=6)
    b = _fourier_shifted(b, (0, 1.5, 0))  # every plane shifted by 1.5 px in Y
    report = check_pair(a, b, axes="TYX", max_planes=4)
    assert report.planes == 4
    assert report.shift[0] == pytest.approx(1.5, abs=0.1)
    # axes other than the last two: Y and X are found by name
    report_t = check_pair(np.moveaxis(a, 0, -1), np.moveaxis(b, 0, -1), axes="YXT", max_planes=4)
    assert report_t.shift[0] == pytest.approx(1.5, abs=0.1)


def test_report_serialises(gaussian_pair):
    import json

    _, a, b = gaussian_pair
    d = check_pair(a, b).to_dict()
    assert json.loads(json.dumps(d))["findings"]


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda a: (a, a[:-1]), "same scene with the same shape"),
        (lambda a: (a, a.astype(np.float64)), "same type"),
        (lambda a: (a[:8, :8], a[:8, :8]), "at least"),
        (lambda a: (a.astype(str), a.astype(str)), "not numbers"),
    ],
)
def test_bad_input_says_what_to_do(gaussian_pair, make, words):
    _, a, _ = gaussian_pair
    x, y = make(a)
    with pytest.raises(InputError, match=words):
        check_pair(x, y)
