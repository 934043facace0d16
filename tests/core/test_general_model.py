"""The bundled general 2D denoiser: where a run starts from it, and what it buys in a short run."""

from __future__ import annotations

import numpy as np
import pytest

from napari_n2n.core.config import TrainConfig
from napari_n2n.core.errors import InputError
from napari_n2n.core.metrics import psnr
from napari_n2n.core.training.start import GENERAL, general_model_path
from napari_n2n.core.training.train import Trainer

#: a short CPU run of the cpu-quick preset (the general model's network), no validation band
SHORT = dict(steps=30, patch_size=32, device="cpu", seed=0, val_fraction=0.0)


def _start(trainer: Trainer):
    return trainer.info.get("init_from", {}).get("model")


def test_the_general_model_ships_with_the_package_and_loads():
    from napari_n2n import Denoiser

    den = Denoiser.load(general_model_path())
    assert (
        den.unet.ndim == 2
        and den.unet.in_channels == 1
        and (den.unet.depth, den.unet.base_channels) == (3, 16)
    )
    assert "train_general_model.py" in den.info.get("trained_by", "")


def test_auto_starts_from_the_general_model_only_where_it_applies(gaussian_pair):
    clean, a, b = gaussian_pair
    auto = Trainer(a, b, config=TrainConfig(**SHORT))
    assert _start(auto) == GENERAL and any("general 2D denoiser" in n for n in auto.notes)
    # a network chosen, another preset, random weights asked for, several channels, a volume: from scratch
    assert _start(Trainer(a, b, config=TrainConfig(depth=2, **SHORT))) is None
    assert _start(Trainer(a, b, config=TrainConfig(preset="standard", **SHORT))) is None
    assert _start(Trainer(a, b, config=TrainConfig(**SHORT), init=None)) is None
    rgb = np.stack([a, a, a], axis=-1)
    assert (
        _start(Trainer(rgb, np.stack([b, b, b], axis=-1), axes="YXC", config=TrainConfig(**SHORT)))
        is None
    )
    # a volume starts from the general 3D denoiser (tests/core/test_volumes.py)
    vol = np.stack([a[:64, :64]] * 8)
    volume = Trainer(vol, vol[::-1].copy(), axes="ZYX", config=TrainConfig(**SHORT))
    assert _start(volume) == GENERAL and any("general 3D denoiser" in n for n in volume.notes)
    # asked for by name where it cannot serve: refused in one line
    with pytest.raises(InputError, match="general 2D denoiser was trained on 1 channel"):
        Trainer(rgb, rgb, axes="YXC", config=TrainConfig(**SHORT), init=GENERAL)


@pytest.mark.slow
def test_thirty_steps_from_the_general_model_beat_thirty_from_scratch(gaussian_pair):
    """What the CPU user gets in the first seconds: the general start is far ahead of random weights.

    The camera image is not among the general model's training images (scripts/train_general_model.py).
    """
    clean, a, b = gaussian_pair
    scores = {}
    for init in ("auto", None):
        trainer = Trainer(a, b, config=TrainConfig(**SHORT), init=init)
        list(trainer.run())
        scores[init] = psnr(clean, trainer.denoiser().predict(a))
    noisy = psnr(clean, a)
    assert scores["auto"] >= noisy + 7.0, (noisy, scores)
    assert scores["auto"] >= scores[None] + 2.0, scores
