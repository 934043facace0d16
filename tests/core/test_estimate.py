"""The PSNR estimated from a noisy target tracks the true PSNR (which needs the clean image)."""

import numpy as np
import pytest

from napari_n2n.core.data.noise import Gaussian, Poisson, PoissonGaussian, synthesize_pair
from napari_n2n.core.errors import InputError
from napari_n2n.core.inference.estimate import (
    NoisyTargetMSE,
    clean_mse,
    data_range_of,
    estimate_psnr,
)
from napari_n2n.core.metrics import psnr

NOISES = {
    "gaussian 25": Gaussian(sigma=25),
    "poisson 30": Poisson(peak=30),
    "poisson 5": Poisson(peak=5),
    "poisson-gaussian": PoissonGaussian(gain=4, read_sigma=10),
}


@pytest.mark.parametrize("name", NOISES)
def test_estimate_is_exact_for_a_known_error(camera_crop, name):
    """A 'prediction' whose error is known: a blurred image plus a leak of the input's own noise."""
    from scipy.ndimage import gaussian_filter

    clean = np.tile(camera_crop, (2, 2)).astype(np.float64)
    a, b = synthesize_pair(clean, NOISES[name], seed=0)
    pred = gaussian_filter(clean, 1.5) + 0.3 * (a - clean)
    est = estimate_psnr(pred, b, a, data_range=255.0)
    assert est.psnr == pytest.approx(psnr(clean, pred, data_range=255.0), abs=0.15)
    assert est.psnr_stderr < 0.15
    # the noisy-target PSNR itself is far below: the correction is what makes the estimate
    assert 10 * np.log10(255.0**2 / est.noisy_target_mse) < est.psnr - 3


def test_accumulator_matches_one_shot_and_scales(camera_crop):
    a, b = synthesize_pair(camera_crop, Gaussian(sigma=20), seed=1)
    pred = camera_crop + 0.2 * (a - camera_crop)
    one = estimate_psnr(pred, b, a, data_range=255.0)
    acc = NoisyTargetMSE()
    for rows in np.array_split(np.arange(a.shape[0]), 5):  # batches, in normalised units
        acc.add(pred[rows] / 10.0, b[rows] / 10.0, a[rows] / 10.0, scale=10.0)
    est = acc.estimate(data_range=255.0)
    assert est.mse == pytest.approx(one.mse, rel=1e-6)
    assert est.noise_variance == pytest.approx(400.0, rel=0.05)
    assert est.n == a.size
    assert "estimated PSNR" in est.describe()
    assert clean_mse(5.0, 3.0) == 2.0


def test_bad_input():
    with pytest.raises(InputError, match="one shape"):
        NoisyTargetMSE().add(np.zeros(4), np.zeros(5), np.zeros(4))
    with pytest.raises(InputError, match="No pixels"):
        NoisyTargetMSE().estimate(data_range=1.0)
    acc = NoisyTargetMSE()
    acc.add(np.zeros(4), np.ones(4), np.ones(4))
    with pytest.raises(InputError, match="positive"):
        acc.estimate(data_range=0.0)


def test_data_range_ignores_a_few_extreme_pixels(camera_crop):
    img = camera_crop.copy()
    img[0, :5] = 10_000.0
    assert data_range_of(img) == pytest.approx(np.ptp(camera_crop), rel=0.05)


def test_the_range_of_a_noisy_pair_is_close_to_the_clean_range(gaussian_pair):
    from napari_n2n.core.inference.estimate import pair_data_range

    clean, a, b = gaussian_pair
    # the noisy image's own range is far too wide
    assert data_range_of(a) > 1.2 * data_range_of(clean)
    assert pair_data_range(a, b) == pytest.approx(data_range_of(clean), rel=0.1)


@pytest.mark.slow
@pytest.mark.parametrize("name", NOISES)
def test_estimated_psnr_tracks_the_true_psnr_after_training(name):
    """Train on the top quarter of the camera, estimate on the other three quarters: within 0.5 dB."""
    from skimage import data

    from napari_n2n.core.config import TrainConfig
    from napari_n2n.core.training.train import train

    clean = data.camera().astype(np.float32)
    a, b = synthesize_pair(clean, NOISES[name], seed=0)
    cfg = TrainConfig(
        depth=2,
        base_channels=8,
        patch_size=32,
        batch_size=8,
        steps=200,
        learning_rate=3e-3,
        val_fraction=0.0,
        device="cpu",
        seed=0,
    )
    den = train(a[:128], b[:128], config=cfg)
    held_a, held_b, held_clean = a[128:], b[128:], clean[128:]
    fa, fb = den.predict(held_a), den.predict(held_b)
    rng = data_range_of(0.5 * (fa + fb))
    one_way = estimate_psnr(fa, held_b, held_a, data_range=rng)
    assert one_way.psnr == pytest.approx(psnr(held_clean, fa, data_range=rng), abs=0.5)
    both = estimate_psnr(fa, held_b, held_a, data_range=rng, prediction_of_target=fb)
    true_both = 10 * np.log10(
        rng**2 / (0.5 * (np.mean((fa - held_clean) ** 2) + np.mean((fb - held_clean) ** 2)))
    )
    assert both.psnr == pytest.approx(true_both, abs=0.5)
    # the model did learn something: the estimate is well above the noisy input
    assert both.psnr > both.noisy_psnr + 3


def test_training_reports_the_estimate_live_and_keeps_it(n2n_result, tmp_path):
    """Each validation of a Noise2Noise run carries the estimated PSNR; it tracks the true one."""
    from napari_n2n.core.events import Validated
    from napari_n2n.core.inference.denoiser import Denoiser
    from napari_n2n.core.progress import describe_progress

    vals = [e for e in n2n_result["events"] if isinstance(e, Validated)]
    assert all(v.estimated_psnr is not None and v.estimated_psnr_stderr > 0 for v in vals)
    # with a clean reference both use its range, so they compare; the validation band is small
    # (a 32-pixel band of a 256² image), hence the error bar
    last = vals[-1]
    assert abs(last.estimated_psnr - last.psnr) < max(0.5, 3 * last.estimated_psnr_stderr)
    assert vals[-1].estimated_psnr > vals[0].estimated_psnr + 1  # rises as training goes on
    den = n2n_result["denoiser"]
    path = den.save(tmp_path / "m.n2n")
    history = Denoiser.load(path).history
    assert history["val_est_psnr"] == pytest.approx([v.estimated_psnr for v in vals])
    from napari_n2n.core.events import Progress

    prog = next(e for e in n2n_result["events"] if isinstance(e, Progress))
    assert "est. PSNR" in describe_progress(prog, last)


def test_no_estimate_without_a_noisy_target(gaussian_pair):
    """Noise2Clean and single-image runs have no noisy target to estimate from."""
    from napari_n2n.core.config import TrainConfig
    from napari_n2n.core.events import Validated
    from napari_n2n.core.training.train import Trainer

    from .._helpers import TRAIN_TINY

    clean, a, _ = gaussian_pair
    for mode, target in (("n2c", clean), ("nb2nb", None)):
        cfg = TrainConfig(mode=mode, **{**TRAIN_TINY, "val_every": 1})
        vals = [e for e in Trainer(a, target, config=cfg).run() if isinstance(e, Validated)]
        assert vals and all(v.estimated_psnr is None for v in vals)
