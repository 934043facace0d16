"""Shared fixtures: small images made from data that ships with scikit-image (no download)."""

import numpy as np
import pytest


@pytest.fixture(scope="session")
def camera_crop():
    """A 256×256 crop of scikit-image's camera, float32 on the 0–255 scale."""
    from skimage import data

    return data.camera().astype(np.float32)[128:384, 128:384]


@pytest.fixture(scope="session")
def gaussian_pair(camera_crop):
    """(clean, A, B): the camera crop and two independent Gaussian (sigma 25) copies."""
    from napari_n2n.core.noise import Gaussian, synthesize_pair

    a, b = synthesize_pair(camera_crop, Gaussian(sigma=25.0), seed=0)
    return camera_crop, a, b


#: a tiny U-Net and budget for tests that only need training to run, not to converge
TINY = dict(depth=2, base_channels=8, patch_size=32, batch_size=4, steps=3)


#: the budget of the quality tests: a small U-Net, 400 steps (about 20-40 s on 2 CPU cores)
QUALITY = dict(depth=3, base_channels=16, patch_size=32, batch_size=8, steps=400, seed=0, device="cpu")


@pytest.fixture(scope="session")
def n2n_result(gaussian_pair):
    """A Noise2Noise model trained on the Gaussian pair, with its prediction of A."""
    from napari_n2n.core.config import TrainConfig
    from napari_n2n.core.train import Trainer

    clean, a, b = gaussian_pair
    trainer = Trainer(a, b, axes="YX", config=TrainConfig(mode="n2n", **QUALITY), clean=clean)
    events = list(trainer.run())
    den = trainer.denoiser()
    return {"denoiser": den, "events": events, "pred": den.predict(a), "trainer": trainer}
