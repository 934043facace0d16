"""Fixtures for the BioImage Model Zoo tests: tiny trained models, their packages, no network.

Every test here runs offline: bioimageio's cache is a temporary folder, and any attempt to open
a network connection is recorded and fails the test session's ``offline`` check.
"""

from __future__ import annotations

import socket

import numpy as np
import pytest

#: the tiny models of these tests (a 2-level U-Net with 8 base channels, a few steps)
TINY_BMZ = dict(depth=2, base_channels=8, batch_size=4, steps=5, seed=0, device="cpu")


@pytest.fixture(scope="package", autouse=True)
def offline(tmp_path_factory):
    """A temporary bioimageio cache, and a record of network connections (there must be none)."""
    attempts: list = []
    real_connect = socket.socket.connect

    def connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            attempts.append(address)
            raise OSError(f"network access in an offline test: {address}")
        return real_connect(sock, address)

    cache = tmp_path_factory.mktemp("bioimageio-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BIOIMAGEIO_CACHE_PATH", str(cache))
        from bioimageio.spec._internal._settings import settings

        mp.setattr(settings, "cache_path", cache)
        mp.setattr(socket.socket, "connect", connect)
        yield attempts
    assert not attempts, f"the BioImage Model Zoo tests tried to reach the network: {attempts}"


def _train(a, b, axes, **overrides):
    from napari_n2n.core.config import TrainConfig
    from napari_n2n.core.training.train import Trainer

    trainer = Trainer(a, b, axes=axes, config=TrainConfig(**{**TINY_BMZ, **overrides}))
    for _ in trainer.run():
        pass
    return trainer.denoiser()


@pytest.fixture(scope="package")
def den2d(gaussian_pair):
    _, a, b = gaussian_pair
    return _train(a, b, "YX", patch_size=32)


@pytest.fixture(scope="package")
def volume_pair():
    from skimage.filters import gaussian as blur

    from napari_n2n.core.data.noise import Poisson, synthesize_pair

    clean = (blur(np.random.default_rng(0).random((24, 64, 64)), 2) * 400).astype(np.float32)
    a, b = synthesize_pair(clean, Poisson(peak=30), seed=1)
    return clean, a, b


@pytest.fixture(scope="package")
def den3d(volume_pair):
    _, a, b = volume_pair
    return _train(a, b, "ZYX", patch_size=16)


@pytest.fixture(scope="package")
def pkg2d(den2d, tmp_path_factory):
    """The tiny 2D model with all three weights formats (bioimageio's test is run by the tests)."""
    from napari_n2n.bmz import export_bmz

    path = tmp_path_factory.mktemp("bmz2d") / "tiny-2d.bioimageio.zip"
    return export_bmz(
        den2d,
        path,
        name="tiny · 2D",
        authors=["Test Author"],
        github_user="test-author",
        torchscript=True,
        onnx=True,
        test=False,
    )
