"""The out-of-distribution check: statistics stored in every model file, a warning with the figures."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_n2n.core.axes import AxisView
from napari_n2n.core.inference.ood import (
    INFO_KEY,
    IntensityStats,
    _fmt,
    check_image,
    compare,
    measure,
    training_stats,
)

from .._helpers import TRAIN_TINY


@pytest.fixture(scope="module")
def camera_model(tmp_path_factory):
    """A tiny model trained on a camera pair (0–255), saved and loaded back."""
    from skimage import data

    from napari_n2n.core.config import TrainConfig
    from napari_n2n.core.data.noise import Gaussian, synthesize_pair
    from napari_n2n.core.inference.denoiser import Denoiser
    from napari_n2n.core.training.train import Trainer

    clean = data.camera().astype(np.float32)[::4, ::4]
    a, b = synthesize_pair(clean, Gaussian(sigma=25.0), seed=0)
    trainer = Trainer(a, b, axes="YX", config=TrainConfig(**TRAIN_TINY, val_fraction=0.0))
    for _ in trainer.run():
        pass
    path = tmp_path_factory.mktemp("ood") / "camera.n2n"
    trainer.denoiser().save(path)
    return Denoiser.load(path), path, a, b


def test_measure_is_robust_median_and_spread():
    rng = np.random.default_rng(0)
    image = rng.normal(1000.0, 50.0, (200, 200)).astype(np.float32)
    image.flat[::100] = 65535.0  # 1 % hot pixels move neither figure much
    stats = measure(AxisView(image, "YX", 2))
    assert stats.median[0] == pytest.approx(1000.0, abs=3.0)
    assert stats.spread[0] == pytest.approx(50.0, rel=0.05)
    # channels are measured one by one
    two = np.stack([image, image * 10.0])
    stats = measure(AxisView(two, "CYX", 2))
    assert stats.median[1] == pytest.approx(10 * stats.median[0], rel=1e-3)


def test_model_file_keeps_the_training_statistics(camera_model):
    den, path, a, _ = camera_model
    stats = training_stats(den)
    assert stats is not None and den.info[INFO_KEY]["spread_is"] == "IQR/1.349"
    assert stats.median[0] == pytest.approx(float(np.median(a)), rel=0.02)
    # a file without them (written before) is simply not checked
    den.info.pop(INFO_KEY)
    try:
        assert training_stats(den) is None and check_image(den, a * 100.0) is None
    finally:
        den.info[INFO_KEY] = IntensityStats.from_dict(stats.to_dict()).to_dict()
    # malformed statistics do not break anything
    assert (
        IntensityStats.from_dict({"median": "x"}) is None and IntensityStats.from_dict(None) is None
    )


def test_warning_with_the_figures_for_very_different_data(camera_model):
    from napari_n2n.core.data import samples

    den, _, a, b = camera_model
    assert check_image(den, b) is None  # the other noisy copy: same data
    assert check_image(den, b[:64, :64]) is None  # a crop of it
    nuclei = samples.volume_3d()  # photon counts up to ~30 against 0–255
    warning = check_image(den, nuclei.a, axes="ZYX")
    assert warning is not None and "far from the training data" in warning
    image = measure(AxisView(nuclei.a, "ZYX", 2))
    assert (
        f"median {_fmt(image.median[0])} " in warning
        and f"data's {_fmt(training_stats(den).median[0])} " in warning
    )
    assert check_image(den, a * 16.0) is not None  # the same picture on a 12-bit scale
    assert compare(IntensityStats((1800.0,), (400.0,)), IntensityStats((12.0,), (3.0,))).startswith(
        "This image's median 12 and spread 3 are far from the training data's 1800 and 400"
    )


def test_cli_predict_prints_one_warning_line(camera_model, tmp_path, capsys):
    from napari_n2n.cli import main
    from napari_n2n.core.data import samples

    _, path, _, b = camera_model
    far, near = tmp_path / "digits.tif", tmp_path / "b.tif"
    tifffile.imwrite(far, samples.digits().a)
    tifffile.imwrite(near, b)
    assert (
        main(
            [
                "predict",
                "--model",
                str(path),
                "--input",
                str(near),
                "--output",
                str(tmp_path / "o1.tif"),
                "--quiet",
            ]
        )
        == 0
    )
    assert "warning" not in capsys.readouterr().err
    assert (
        main(
            [
                "predict",
                "--model",
                str(path),
                "--input",
                str(far),
                "--output",
                str(tmp_path / "o2.tif"),
                "--quiet",
            ]
        )
        == 0
    )
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(err) == 1 and "far from the training data" in err[0]
