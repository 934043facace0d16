"""Train widget, "start from": fine-tune a trained model in a real viewer."""

from __future__ import annotations

import numpy as np
import pytest

from napari_n2n.core.metrics import psnr
from napari_n2n.widgets._registry import MODELS
from napari_n2n.widgets.train.widget import TrainWidget

from .._helpers import TRAIN_TINY, add_widget, wait_training
from ._forms import set_tiny


@pytest.fixture
def train(viewer):
    return add_widget(viewer, TrainWidget)


@pytest.fixture
def pretrained(small_pair, tmp_path):
    """A cpu-tiny model trained 300 steps on the small pair, saved as a file."""
    from napari_n2n.core.config import TrainConfig
    from napari_n2n.core.training.train import Trainer

    _, a, b = small_pair
    trainer = Trainer(
        a,
        b,
        axes="YX",
        config=TrainConfig(
            **{**TRAIN_TINY, "steps": 300, "batch_size": 8, "device": "cpu", "val_fraction": 0.0}
        ),
    )
    for _ in trainer.run():
        pass
    path = tmp_path / "pretrained.n2n"
    trainer.denoiser().save(path)
    return path


def _shown(train, field) -> bool:
    """Whether ``field`` (of the Advanced section) shows when the section does (the test's window is never shown)."""
    return field.native.isVisibleTo(train.form.advanced_fields.native)


def _new_noise(viewer, small_pair):
    """Layers of the same scene with new noise (another acquisition)."""
    from napari_n2n.core.data.noise import Gaussian, synthesize_pair

    clean = small_pair[0]
    a, b = synthesize_pair(clean, Gaussian(sigma=25.0), seed=7)
    return (
        viewer.add_image(a, name="A2"),
        viewer.add_image(b, name="B2"),
        viewer.add_image(clean, name="clean"),
    )


def _train(train, qtbot, la, lb, steps, **settings):
    train.reset_choices()
    train.form.input_layer.value, train.form.target_layer.value = la, lb
    set_tiny(train, steps=steps)
    for name, value in settings.items():
        getattr(train.form, name).value = value
    assert train.start() is not None
    wait_training(qtbot, train, 120_000)
    return train.denoiser


@pytest.mark.slow
def test_start_from_a_model_file_fine_tunes_it(viewer, qtbot, small_pair, pretrained, train, notes):
    from napari_n2n.core.inference.denoiser import Denoiser

    la, lb, _ = _new_noise(viewer, small_pair)
    clean = small_pair[0]
    # a new network by default
    assert train.form.start_from.entry is None and _shown(train, train.form.network)
    assert not _shown(train, train.form.start_from.keep_normalization)
    entry = train.form.start_from.load(pretrained)
    assert entry is not None and train.form.start_from.entry is entry
    assert not _shown(train, train.form.network) and _shown(
        train, train.form.start_from.keep_normalization
    )
    old = Denoiser.load(pretrained)
    tuned = _train(train, qtbot, la, lb, steps=10)
    # the architecture and the weights came from the file (the form's network, cpu-quick, is not used)
    assert tuned.unet == old.unet and tuned.info["init_from"]["model"] == str(pretrained)
    assert tuned.info["init_from"]["normalization"] == "recompute"
    noisy, start, after = (
        psnr(clean, la.data),
        psnr(clean, old.predict(la.data)),
        psnr(clean, tuned.predict(la.data)),
    )
    # the same 10 steps from a new network are far behind
    train.form.start_from.choose(None)
    assert _shown(train, train.form.network)
    scratch = psnr(clean, _train(train, qtbot, la, lb, steps=10).predict(la.data))
    print(
        f"noisy {noisy:.2f}, start model {start:.2f}, fine-tuned {after:.2f}, new network {scratch:.2f} dB"
    )
    assert after > start - 1 and after > scratch + 5, (noisy, start, after, scratch)
    assert not notes.errors


def test_start_choices_follow_the_session_models_and_bad_models_are_refused(
    viewer, qtbot, small_pair, train, tmp_path, notes
):
    from napari_n2n.core.config import TrainConfig
    from napari_n2n.core.training.train import Trainer

    _, a, b = small_pair
    rng = np.random.default_rng(0)
    volume = rng.random((16, 32, 32)).astype(np.float32)
    tr = Trainer(
        volume,
        volume[::-1].copy(),
        axes="ZYX",
        config=TrainConfig(**{**TRAIN_TINY, "steps": 2, "patch_size": 16, "val_fraction": 0.0}),
    )
    for _ in tr.run():
        pass
    entry = MODELS.add(tr.denoiser(), "a 3D model")
    # the session's models are offered as they come
    assert entry in train.form.start_from.model.choices
    train.form.start_from.choose(entry)
    la, lb = viewer.add_image(a, name="A"), viewer.add_image(b, name="B")
    train.reset_choices()
    train.form.input_layer.value, train.form.target_layer.value = la, lb
    assert train.start() is None and not train.busy
    assert len(notes.errors) == 1 and "is a 3D model but the data are 2D" in notes.errors[0]
    assert train.form.start_from.entry is entry  # the choice stays for the user to change
    (tmp_path / "broken.n2n").write_bytes(b"not a model")
    assert train.form.start_from.load(tmp_path / "broken.n2n") is None
    assert "not a napari-n2n model" in notes.errors[-1] and train.form.start_from.entry is entry


def test_by_default_a_cpu_run_starts_from_the_general_denoiser(
    viewer, qtbot, small_pair, train, notes
):
    """On the CPU, 2D data of one channel with the preset's own network: the bundled general model; a network chosen
    under Advanced, or "a new network": random weights."""
    la, lb, _ = _new_noise(viewer, small_pair)
    assert train.form.start_from.automatic and train.form.start_from.trainer_options() == {
        "init": "auto"
    }
    train.form.device.value = "cpu"
    general = _train(train, qtbot, la, lb, steps=3)
    assert general.info["init_from"]["model"] == "general" and general.unet.depth == 3
    # another network than the preset's: trained from scratch
    assert "init_from" not in _train(train, qtbot, la, lb, steps=3, network="cpu-tiny").info
    train.form.start_from.choose(None)
    assert train.form.start_from.trainer_options() == {"init": None}
    assert "init_from" not in _train(train, qtbot, la, lb, steps=3).info
    assert not notes.errors
