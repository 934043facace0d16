"""Shared fixtures: small images made from data that ships with scikit-image (no download)."""

import numpy as np
import pytest

from ._helpers import TRAIN_QUALITY


@pytest.fixture(scope="session")
def camera_crop():
    """A 256×256 crop of scikit-image's camera, float32 on the 0–255 scale."""
    from skimage import data

    return data.camera().astype(np.float32)[128:384, 128:384]


@pytest.fixture(scope="session")
def gaussian_pair(camera_crop):
    """(clean, A, B): the camera crop and two independent Gaussian (sigma 25) copies."""
    from napari_n2n.core.data.noise import Gaussian, synthesize_pair

    a, b = synthesize_pair(camera_crop, Gaussian(sigma=25.0), seed=0)
    return camera_crop, a, b


@pytest.fixture(scope="session")
def n2n_result(gaussian_pair):
    """A Noise2Noise model trained on the Gaussian pair, with its prediction of A."""
    from napari_n2n.core.config import TrainConfig
    from napari_n2n.core.training.train import Trainer

    clean, a, b = gaussian_pair
    trainer = Trainer(a, b, axes="YX", config=TrainConfig(mode="n2n", **TRAIN_QUALITY), clean=clean)
    events = list(trainer.run())
    den = trainer.denoiser()
    return {"denoiser": den, "events": events, "pred": den.predict(a), "trainer": trainer}
