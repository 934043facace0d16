"""One model from several images of different sizes: patches in proportion to size, one normalisation,
resumable like a run on one image."""

import numpy as np
import pytest
import torch

from napari_n2n.core.config import TrainConfig
from napari_n2n.core.errors import InputError
from napari_n2n.core.events import Checkpointed, Progress
from napari_n2n.core.training.multi_image import MultiSampler
from napari_n2n.core.training.resume import Checkpointing
from napari_n2n.core.training.train import Trainer

from .._helpers import TRAIN_TINY


def test_patches_come_from_each_image_in_proportion_to_its_size(camera_crop):
    rng = np.random.default_rng(0)
    images = [camera_crop[:64, :64], camera_crop[:128, :192], camera_crop[:96, :96]]  # 1 : 6 : 2.25
    noisy = [
        [im + rng.normal(0, 20, im.shape).astype(np.float32) for im in images] for _ in range(2)
    ]
    trainer = Trainer(
        noisy[0], noisy[1], axes="YX", config=TrainConfig(**dict(TRAIN_TINY, val_fraction=0.0))
    )
    sampler = trainer._samplers[0]
    assert isinstance(sampler, MultiSampler)
    drawn = np.zeros(3)
    for k, s in enumerate(sampler.samplers):
        original = s.sample_batch
        s.sample_batch = lambda n, k=k, original=original, **kw: (
            drawn.__setitem__(k, drawn[k] + n),
            original(n, **kw),
        )[1]
    for _ in range(300):
        x, y = sampler.sample_batch(8)
        assert x.shape == y.shape == (8, 1, *trainer.patch)
    np.testing.assert_allclose(drawn / drawn.sum(), np.array([1, 6, 2.25]) / 9.25, atol=0.03)
    list(trainer.run())
    assert trainer.denoiser().predict(noisy[0][1]).shape == (128, 192)


def test_images_that_cannot_train_together():
    a, b = np.zeros((2, 32, 32), np.float32), np.zeros((32, 32), np.float32)
    with pytest.raises(InputError, match="different numbers of dimensions"):
        Trainer([a, b], [a, b], config=TrainConfig(**TRAIN_TINY))
    with pytest.raises(InputError, match="one target per input"):
        Trainer([b, b], b, config=TrainConfig(**TRAIN_TINY))
    with pytest.raises(InputError, match="Image 2 of 2: The target has shape"):
        Trainer([b, b], [b, b[:16]], config=TrainConfig(**TRAIN_TINY))
    rng = np.random.default_rng(0)
    with pytest.raises(InputError, match="different numbers of channels"):
        Trainer(
            [
                rng.random((2, 32, 32)).astype(np.float32),
                rng.random((3, 32, 32)).astype(np.float32),
            ],
            axes="CYX",
            config=TrainConfig(**dict(TRAIN_TINY, mode="nb2nb")),
        )


@pytest.fixture(scope="module")
def two_images():
    rng = np.random.default_rng(1)
    clean = [
        np.cumsum(rng.random(shape), axis=0).astype(np.float32) for shape in ((48, 64), (64, 96))
    ]
    return [[c + rng.normal(0, 2, c.shape).astype(np.float32) for c in clean] for _ in range(2)]


def test_a_resumed_multi_image_run_equals_the_uninterrupted_run_and_other_images_are_refused(
    two_images, tmp_path
):
    """Every batch comes from its step's generator, so a resumed run on several images is bit-exact too;
    the data fingerprint covers every image (another set is refused, naming the shapes)."""
    inputs, targets = two_images
    cfg = TrainConfig(
        **{**TRAIN_TINY, "steps": 6, "val_every": 2, "patch_size": 16, "device": "cpu", "seed": 3}
    )
    whole = Trainer(inputs, targets, axes="YX", config=cfg)
    list(whole.run())
    state = tmp_path / "run.ckpt"
    first = Trainer(
        inputs, targets, axes="YX", config=cfg, checkpoint=Checkpointing(state, every_steps=100)
    )
    for event in first.run():
        if isinstance(event, Progress) and event.step == 3:
            first.request_stop()
    assert state.exists()
    second = Trainer(inputs, targets, axes="YX", config=cfg, resume=state)
    assert [e for e in second.run() if isinstance(e, Checkpointed)] == []
    for name, value in whole.denoiser().models[0].state_dict().items():
        assert torch.equal(value, second.denoiser().models[0].state_dict()[name]), name
    assert second.history["val_loss"] == whole.history["val_loss"]
    # fine-tune
    tuned = Trainer(inputs, targets, axes="YX", config=cfg.replace(steps=2), init=whole.denoiser())
    assert tuned.info["init_from"] and list(tuned.run())[-1].steps_done == 2
    with pytest.raises(
        InputError, match=r"input's shape differ \(\[\[48, 64\], \[64, 96\]\] in the checkpoint"
    ):
        Trainer(
            inputs[:1] + inputs[:1], targets[:1] + targets[:1], axes="YX", config=cfg, resume=state
        )


def test_several_images_are_never_resident_on_the_device(two_images):
    inputs, targets = two_images
    trainer = Trainer(
        inputs,
        targets,
        axes="YX",
        config=TrainConfig(
            **{**TRAIN_TINY, "patch_size": 16, "device": "cpu", "data_on_device": True}
        ),
    )
    assert trainer.data_on_device is False
    assert any("data_on_device=True cannot apply to several images" in n for n in trainer.notes)
    list(trainer.run())
