"""Presets: the device's recipe fills what the user leaves unset, is recorded, and runs with a sane thread count."""

import numpy as np
import pytest
import torch

from napari_n2n.core.config import TrainConfig
from napari_n2n.core.device import available_cores, cpu_threads
from napari_n2n.core.errors import InputError
from napari_n2n.core.events import Started
from napari_n2n.core.training.presets import PRESETS, auto_preset, preset, resolve
from napari_n2n.core.training.train import Trainer


def test_auto_takes_the_device_preset_and_explicit_options_win():
    cpu = resolve(TrainConfig(), device_type="cpu", spatial_ndim=2)
    assert cpu.preset == "cpu-quick" and (
        cpu.depth,
        cpu.base_channels,
        cpu.patch_size,
        cpu.batch_size,
    ) == (3, 16, 48, 8)
    gpu = resolve(TrainConfig(), device_type="cuda", spatial_ndim=3)
    assert gpu.preset == "gpu" and (gpu.patch_size, gpu.batch_size, gpu.depth) == (64, 8, 3)
    mine = resolve(TrainConfig(batch_size=2, learning_rate=5e-4), device_type="cpu", spatial_ndim=2)
    assert mine.batch_size == 2 and mine.learning_rate == 5e-4 and mine.patch_size == 48
    named = resolve(TrainConfig(preset="standard"), device_type="cpu", spatial_ndim=2)
    assert (named.preset, named.depth, named.patch_size) == ("standard", 4, 64)
    assert auto_preset("mps") == "standard"
    with pytest.raises(InputError, match="Unknown preset 'fast'"):
        resolve(TrainConfig(preset="fast"), device_type="cpu", spatial_ndim=2)


def test_every_preset_resolves_to_a_valid_config_in_2d_and_3d():
    for name, p in PRESETS.items():
        for nd in (2, 3):
            cfg = p.config(spatial_ndim=nd, steps=1)
            assert cfg.preset == name and all(
                getattr(cfg, k) is not None
                for k in ("depth", "base_channels", "patch_size", "batch_size", "learning_rate")
            )


def test_the_run_says_and_records_what_the_preset_chose(gaussian_pair, tmp_path):
    from napari_n2n.core.inference.denoiser import Denoiser

    _, a, b = gaussian_pair
    trainer = Trainer(a[:96, :96], b[:96, :96], config=TrainConfig(steps=2, device="cpu"))
    started = next(e for e in list(trainer.run()) if isinstance(e, Started))
    assert started.notes[0].startswith("preset cpu-quick: U-Net 3 levels × 16 channels, patch 48²")
    loaded = Denoiser.load(trainer.denoiser().save(tmp_path / "m.n2n"))
    assert (
        loaded.config.preset == "cpu-quick"
        and loaded.config.patch_size == 48
        and loaded.unet.depth == 3
    )


def test_cpu_runs_leave_a_core_free_and_restore_torch_threads(gaussian_pair):
    _, a, b = gaussian_pair
    assert cpu_threads() == max(1, available_cores() - 1) and cpu_threads(3) == 3
    before = torch.get_num_threads()
    trainer = Trainer(
        a[:64, :64],
        b[:64, :64],
        config=TrainConfig(**preset("cpu-tiny").options, steps=3, device="cpu"),
    )
    seen = []
    for event in trainer.run():
        seen.append(torch.get_num_threads())
        if isinstance(event, Started):
            assert f"cpu ({cpu_threads()} thread" in event.device
    assert set(seen) == {cpu_threads()} and torch.get_num_threads() == before
    trainer = Trainer(
        a[:64, :64],
        b[:64, :64],
        config=TrainConfig(**preset("cpu-tiny").options, steps=2, threads=1),
    )
    assert {torch.get_num_threads() for _ in trainer.run()} == {1}


def test_prediction_uses_the_models_thread_setting(gaussian_pair):
    _, a, b = gaussian_pair
    trainer = Trainer(
        a[:64, :64],
        b[:64, :64],
        config=TrainConfig(**preset("cpu-tiny").options, steps=1, threads=1),
    )
    list(trainer.run())
    den = trainer.denoiser()
    counts = {
        torch.get_num_threads()
        for _ in den.predict_iter(np.asarray(a[:64, :64]), tile=32, device="cpu")
    }
    assert counts == {1}
