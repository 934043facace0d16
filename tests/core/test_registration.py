"""Registered neighbour pairs (issue #26): drift recovered, masks, training gain, model file."""

import numpy as np
import pytest
from scipy import ndimage as ndi

from napari_n2n.core.config import TrainConfig
from napari_n2n.core.data.pairs import stack_neighbours
from napari_n2n.core.data.registration import measure_motion, register, register_frames
from napari_n2n.core.errors import InputError
from napari_n2n.core.inference.denoiser import Denoiser
from napari_n2n.core.metrics import psnr
from napari_n2n.core.training.train import Trainer

from .._helpers import TRAIN_TINY


def texture(shape, seed=0):
    """A smooth random texture in [0.1, 0.9] (no image a shipped model was trained on)."""
    rng = np.random.default_rng(seed)
    t = ndi.gaussian_filter(rng.random(shape), 2.0) + 0.5 * ndi.gaussian_filter(
        rng.random(shape), 6
    )
    t = (t - t.min()) / (t.max() - t.min())
    return (0.1 + 0.8 * t).astype(np.float32)


def drifting(n_frames, size, step, *, seed=0, photons=50.0):
    """A clean time-lapse whose content moves ``step`` px per frame towards smaller X, and a noisy copy."""
    big = texture((size, size + int(np.ceil(step * n_frames)) + 8), seed)
    clean = np.stack([ndi.shift(big, (0, -step * t), order=3)[:, :size] for t in range(n_frames)])
    rng = np.random.default_rng(seed + 1)
    noisy = rng.poisson(clean * photons) / photons + rng.normal(0, 0.02, clean.shape)
    return clean, noisy.astype(np.float32)


@pytest.mark.parametrize("drift", [(0.7, -1.3), (2.4, 0.35)])
def test_an_injected_drift_is_recovered_to_a_tenth_of_a_pixel(drift):
    rng = np.random.default_rng(0)
    clean = texture((128, 128))
    moved = ndi.shift(clean, drift, order=3, mode="nearest")
    a = clean + rng.normal(0, 0.05, clean.shape)
    b = moved + rng.normal(0, 0.05, clean.shape)
    shift = measure_motion(a, b, flow=False).shift
    assert np.allclose(shift, drift, atol=0.1), f"measured {shift}, injected {drift}"


def test_the_mask_excludes_the_border_the_warp_cannot_fill():
    clean = texture((64, 64))
    moved = ndi.shift(clean, (0, 3), order=3, mode="nearest")
    warped, valid, _ = register(clean, moved, "shift")
    assert not valid[:, -3:].any()  # sampled past the right edge
    assert valid[:, :56].mean() > 0.98
    err = np.abs(warped - clean)[valid]
    assert err.mean() < 0.01


def test_registered_targets_are_nan_where_masked_and_work_for_tzyx():
    clean, noisy = drifting(4, 64, 2.0)
    pair = stack_neighbours(noisy, axis=0, axes="TYX", register="shift")
    assert pair.register == "shift" and len(pair.motions) == 3
    assert all(abs(m.shift[1] + 2.0) < 0.2 for m in pair.motions)
    assert np.isnan(pair.target[..., :2]).all()  # the border the warp cannot fill
    assert np.isfinite(pair.target[..., 8:]).mean() > 0.98
    # TZYX: each volume registered as one (a 3D shift)
    vol = np.stack([np.stack([f] * 8) for f in noisy])  # T Z Y X
    pair3 = stack_neighbours(vol, axis=0, axes="TZYX", register="shift")
    assert pair3.axes == "SZYX" and len(pair3.motions[0].shift) == 3
    assert abs(pair3.motions[0].shift[2] + 2.0) < 0.2
    flowed = stack_neighbours(vol[:2], axis=0, axes="TZYX", register="flow")
    assert flowed.register == "flow" and flowed.target.shape == (1, 8, 64, 64)
    assert np.isfinite(flowed.target[..., 8:]).mean() > 0.95
    # auto: a drift is registered
    assert stack_neighbours(noisy, axis=0, axes="TYX", register="auto").register in (
        "shift",
        "flow",
    )
    with pytest.raises(InputError, match="registration"):
        register_frames(noisy, axis=0, axes="TYX", pairs=[(0, 1)], method="warp")


def test_without_motion_auto_does_not_register():
    rng = np.random.default_rng(3)
    clean = np.stack([texture((96, 96))] * 4)
    noisy = (clean + rng.normal(0, 0.05, clean.shape)).astype(np.float32)
    assert stack_neighbours(noisy, axis=0, axes="TYX", register="auto").register == "none"


@pytest.mark.slow
def test_a_registered_pair_trains_better_than_an_unregistered_one_on_a_drifting_stack(tmp_path):
    clean, noisy = drifting(8, 64, 2.5)
    config = TrainConfig(**{**TRAIN_TINY, "steps": 150, "patch_size": 32, "seed": 0})
    scores, models = {}, {}
    for method in ("none", "shift"):
        pair = stack_neighbours(noisy, axis=0, axes="TYX", register=method)
        trainer = Trainer.from_pair(pair, config=config)
        list(trainer.run())
        models[method] = trainer.denoiser()
        scores[method] = psnr(
            clean[:, :, 8:-8], models[method].predict(noisy, axes="TYX")[:, :, 8:-8]
        )
    # measured 2026-12-07: about +2 dB; the unregistered model learns the drift as blur
    assert scores["shift"] >= scores["none"] + 1.0, scores
    # the model file records the registration, and reads it back
    path = models["shift"].save(tmp_path / "registered.n2n")
    assert Denoiser.load(path).config.register == "shift"
    assert TrainConfig.from_dict(TrainConfig(register="flow").to_dict()).register == "flow"


def test_the_cli_registers_neighbours_and_records_it(tmp_path, capsys):
    import tifffile

    from napari_n2n.cli import main

    _, noisy = drifting(6, 64, 2.0)
    tifffile.imwrite(tmp_path / "movie.tif", noisy)
    model = tmp_path / "m.n2n"
    argv = ["train", "--input", str(tmp_path / "movie.tif"), "--pair-neighbours", "T"]
    argv += ["--register", "auto", "--model", str(model), "--steps", "3", "--patch", "32"]
    assert main([*argv, "--preset", "cpu-tiny", "--batch", "4"]) == 0
    err = capsys.readouterr().err
    assert "frame pairs shift by" in err and "registered by" in err
    assert Denoiser.load(model).config.register in ("shift", "flow")


def test_the_check_reports_motion_per_frame_pair_and_says_to_register(tmp_path, capsys):
    import json

    import tifffile

    from napari_n2n.cli import main

    _, noisy = drifting(5, 96, 2.0)
    tifffile.imwrite(tmp_path / "movie.tif", noisy)
    out = tmp_path / "check.json"
    argv = ["check", str(tmp_path / "movie.tif"), "--pair-neighbours", "T", "--axes", "TYX"]
    assert main([*argv, "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "frames 0-1: shift" in text and "Register the frames before pairing" in text
    motion = json.loads(out.read_text())["motion"]
    assert motion["method"] in ("shift", "flow") and len(motion["pairs"]) == 4
    assert all(abs(p["shift_px"][1] + 2.0) < 0.2 for p in motion["pairs"])


@pytest.mark.slow
def test_the_neighbour_average_at_prediction_raises_psnr_on_a_drifting_stack(tmp_path, capsys):
    import tifffile

    from napari_n2n.cli import main

    clean, noisy = drifting(6, 64, 1.5)
    tifffile.imwrite(tmp_path / "movie.tif", noisy)
    model = tmp_path / "m.n2n"
    argv = ["train", "--input", str(tmp_path / "movie.tif"), "--pair-neighbours", "T"]
    argv += ["--register", "shift", "--model", str(model), "--steps", "60", "--patch", "32"]
    assert main([*argv, "--preset", "cpu-tiny", "--batch", "4"]) == 0
    outs = {}
    for name, extra in (("plain", []), ("average", ["--neighbour-average", "T"])):
        out = tmp_path / f"{name}.tif"
        predict = ["predict", "--model", str(model), "--input", str(tmp_path / "movie.tif")]
        assert main([*predict, "--output", str(out), "--axes", "TYX", *extra]) == 0
        outs[name] = psnr(clean[:, 4:-4, 4:-4], tifffile.imread(out)[:, 4:-4, 4:-4])
    # three registered frames averaged: their remaining noise falls (measured about +2 dB here)
    assert outs["average"] >= outs["plain"] + 1.0, outs
