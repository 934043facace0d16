"""Test-time augmentation and the uncertainty maps of a pair."""

import numpy as np
import pytest

from napari_n2n.core.errors import InputError
from napari_n2n.core.inference.tta import (
    DIHEDRAL,
    denoise_pair,
    disagreement,
    predict_tta,
    residual,
    transform,
    untransform,
)
from napari_n2n.core.metrics import psnr


@pytest.fixture(scope="module")
def brief(gaussian_pair):
    """A tiny Noise2Noise model trained briefly (150 steps, ~3 s) on the Gaussian pair."""
    from napari_n2n.core.config import TrainConfig
    from napari_n2n.core.training.train import train

    cfg = TrainConfig(
        depth=2,
        base_channels=8,
        patch_size=32,
        batch_size=4,
        steps=150,
        val_fraction=0.0,
        device="cpu",
        seed=0,
    )
    _, a, b = gaussian_pair
    return train(a, b, config=cfg)


@pytest.mark.parametrize("axes", [(0, 1), (1, 2), (-2, -1)])
def test_every_transform_is_undone(axes):
    x = np.arange(2 * 5 * 7).reshape(2, 5, 7) if axes != (0, 1) else np.arange(35).reshape(5, 7)
    seen = set()
    for t in DIHEDRAL:
        y = transform(x, t, axes)
        np.testing.assert_array_equal(untransform(y, t, axes), x)
        seen.add(y.tobytes() + bytes(y.shape))
    assert len(seen) == 8  # eight different images


def test_tta_raises_psnr_of_a_briefly_trained_model(brief, gaussian_pair):
    clean, a, _ = gaussian_pair
    plain = psnr(clean, brief.predict(a), data_range=255)
    tta = psnr(clean, predict_tta(brief, a), data_range=255)
    # small for a tiny network (+0.01 to +0.14 dB over three seeds and 100-300 steps), but always a gain
    assert tta > plain
    # each transform must be undone: averaging the transformed predictions without undoing them ruins it
    from napari_n2n.core.inference.tta import DIHEDRAL

    wrong = np.mean([brief.predict(transform(a, t, (0, 1))) for t in DIHEDRAL[:4:2]], axis=0)
    assert psnr(clean, wrong, data_range=255) < plain - 3
    # fewer transforms: in between or equal
    assert psnr(clean, predict_tta(brief, a, transforms=1), data_range=255) == pytest.approx(
        plain, abs=1e-4
    )


def test_tta_keeps_shape_for_stacks_and_non_square_images(brief, gaussian_pair):
    _, a, _ = gaussian_pair
    stack = np.stack([a[:, :200], a[:, 40:240]])
    out = predict_tta(brief, stack, axes="TYX", transforms=4)
    assert out.shape == stack.shape
    single = brief.predict(stack[1], axes="YX")
    # TTA agrees with the plain prediction up to the (small) disagreement between orientations
    assert np.sqrt(np.mean((out[1] - single) ** 2)) < 10


def test_tta_on_dask(brief, gaussian_pair):
    da = pytest.importorskip("dask.array")
    _, a, _ = gaussian_pair
    out = predict_tta(brief, da.from_array(a, chunks=64), transforms=2)
    np.testing.assert_allclose(out, predict_tta(brief, a, transforms=2), atol=1e-3)


def test_disagreement_is_larger_where_the_noise_is_larger(brief, camera_crop):
    rng = np.random.default_rng(0)
    sigma = np.where(np.arange(256)[None, :] < 128, 8.0, 40.0)
    a = camera_crop + rng.normal(0, 1, camera_crop.shape) * sigma
    b = camera_crop + rng.normal(0, 1, camera_crop.shape) * sigma
    r = denoise_pair(brief, a, b)
    low, high = r.disagreement[:, :112].mean(), r.disagreement[:, 144:].mean()
    assert high > 2.5 * low
    # and it tracks the actual error of one prediction where the noise is high
    err_high = np.sqrt(np.mean((r.pred_a - camera_crop)[:, 144:] ** 2))
    assert r.disagreement[:, 144:].mean() < err_high
    np.testing.assert_allclose(r.mean, 0.5 * (r.pred_a + r.pred_b), atol=1e-4)


def test_pair_mean_beats_single_prediction_and_residual_is_mostly_noise(brief, gaussian_pair):
    clean, a, b = (x[:128] for x in gaussian_pair)
    r = denoise_pair(brief, a, b, tta=4)
    single = brief.predict(a)
    assert psnr(clean, r.mean, data_range=255) > psnr(clean, single, data_range=255) + 0.2
    # what was removed is mostly noise: it correlates far more with the noise than with the scene
    noise = 0.5 * (a + b) - clean
    assert np.corrcoef(r.residual.ravel(), noise.ravel())[0, 1] > 0.6
    np.testing.assert_allclose(residual(a, single), a - single)


def test_bad_input(brief, gaussian_pair):
    _, a, b = gaussian_pair
    with pytest.raises(InputError, match="same shape"):
        denoise_pair(brief, a, b[:-1])
    with pytest.raises(InputError, match="1, 2, 4 or 8"):
        predict_tta(brief, a, transforms=3)
    with pytest.raises(InputError, match="must match"):
        disagreement(a, b[:-1])


def test_options_object_gives_the_keyword_result_and_progress_counts_every_pass(
    brief, gaussian_pair
):
    from napari_n2n.core.inference.predict import PredictOptions
    from napari_n2n.core.inference.tta import denoise_pair_iter
    from napari_n2n.core.progress import drain

    _, a, b = (x[:96, :96] for x in gaussian_pair)
    by_keywords = predict_tta(brief, a, transforms=2, tile=64, overlap=16)
    by_options = predict_tta(brief, a, transforms=2, options=PredictOptions(tile=64, overlap=16))
    np.testing.assert_array_equal(by_keywords, by_options)
    events = []
    result = drain(
        denoise_pair_iter(brief, a, b, tta=2, options=PredictOptions(tile=64)), events.append
    )
    # 2 images × 2 transforms, their tiles (one per event on the CPU) counted as one run
    total = events[-1].total
    assert total % 4 == 0 and {e.total for e in events} == {total}
    assert [e.done for e in events] == list(range(1, total + 1))
    np.testing.assert_array_equal(result.mean, denoise_pair(brief, a, b, tta=2, tile=64).mean)
    with pytest.raises(InputError, match="leave out 'out'"):
        predict_tta(brief, a, out=np.zeros_like(a))
