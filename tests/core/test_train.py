import threading
import time

import numpy as np
import pytest
import torch

from napari_n2n.core.config import TrainConfig
from napari_n2n.core.data.noise import Poisson, synthesize_pair
from napari_n2n.core.errors import InputError, TrainingError
from napari_n2n.core.events import Finished, Preview, Progress, Started, Validated
from napari_n2n.core.metrics import psnr
from napari_n2n.core.training.train import Trainer, train

from .._helpers import TRAIN_QUALITY, TRAIN_TINY


@pytest.mark.slow
def test_n2n_raises_psnr_by_6_db(n2n_result, gaussian_pair):
    clean, a, _ = gaussian_pair
    gain = psnr(clean, n2n_result["pred"]) - psnr(clean, a)
    assert gain >= 6.0, f"N2N gained only {gain:.2f} dB over the noisy input"


@pytest.mark.slow
def test_n2n_is_within_half_a_db_of_n2c(n2n_result, gaussian_pair):
    clean, a, _ = gaussian_pair
    tr = Trainer(a, clean, axes="YX", config=TrainConfig(mode="n2c", **TRAIN_QUALITY))
    list(tr.run())
    n2c = psnr(clean, tr.denoiser().predict(a))
    n2n = psnr(clean, n2n_result["pred"])
    assert n2n > n2c - 0.5, f"N2N {n2n:.2f} dB vs N2C {n2c:.2f} dB"


@pytest.mark.slow
def test_neighbor2neighbor_from_one_image_raises_psnr(gaussian_pair):
    clean, a, _ = gaussian_pair
    cfg = TrainConfig(mode="nb2nb", **{**TRAIN_QUALITY, "steps": 150, "patch_size": 24})
    tr = Trainer(a, None, axes="YX", config=cfg, clean=clean)
    list(tr.run())
    gain = psnr(clean, tr.denoiser().predict(a)) - psnr(clean, a)
    assert gain >= 3.0, f"Neighbor2Neighbor gained only {gain:.2f} dB"


@pytest.mark.slow
def test_event_stream(n2n_result):
    events = n2n_result["events"]
    assert isinstance(events[0], Started) and isinstance(events[-1], Finished)
    steps = [e.step for e in events if isinstance(e, Progress)]
    assert steps == list(range(1, 401))
    prog = [e for e in events if isinstance(e, Progress)]
    assert all(e.patches_per_s > 0 and e.eta_s >= 0 for e in prog) and prog[-1].eta_s == 0
    vals = [e for e in events if isinstance(e, Validated)]
    assert len(vals) == 20 and all(v.psnr is not None for v in vals)
    # validation PSNR (on held-out pixels) rises over training (24.8 → 27.2 dB in our runs)
    assert vals[-1].psnr > vals[0].psnr + 2
    fin = events[-1]
    assert fin.reason == "completed" and fin.steps_done == 400
    assert fin.best_step == max((v for v in vals if v.is_best), key=lambda v: v.step).step


@pytest.mark.slow
def test_stop_takes_effect_within_a_second_and_keeps_the_best_model(gaussian_pair):
    clean, a, b = gaussian_pair
    cfg = TrainConfig(
        **{
            **TRAIN_QUALITY,
            "steps": 100_000,
            "val_every": 5,
            "depth": 4,
            "base_channels": 32,
            "patch_size": 64,
        }
    )
    tr = Trainer(a, b, axes="YX", config=cfg)
    done = {}
    stopped_at = {}

    def consume():
        for ev in tr.run():
            if isinstance(ev, Progress) and ev.step == 12 and "t" not in stopped_at:
                threading.Timer(
                    0.0,
                    lambda: (stopped_at.setdefault("t", time.perf_counter()), tr.request_stop()),
                ).start()
            done["last"] = ev
        done["t"] = time.perf_counter()

    th = threading.Thread(target=consume)
    th.start()
    th.join(timeout=120)
    assert not th.is_alive()
    latency = done["t"] - stopped_at["t"]
    assert latency < 1.0, f"stop took {latency:.2f} s"
    assert done["last"].reason == "stopped" and done["last"].steps_done < 30
    den = tr.denoiser()
    # validated every 5 steps, and the last weights when stopped (issue #22: every run has a figure)
    assert den.history["best_step"] in den.history["val_step"]
    assert den.history["val_step"][-1] == done["last"].steps_done
    assert den.predict(a).shape == a.shape


def test_closing_the_generator_keeps_a_model(gaussian_pair):
    _, a, b = gaussian_pair
    tr = Trainer(a, b, config=TrainConfig(**{**TRAIN_TINY, "steps": 50}))
    gen = tr.run()
    for ev in gen:
        if isinstance(ev, Progress) and ev.step == 2:
            break
    gen.close()  # what napari's worker.quit() amounts to
    assert tr.denoiser().predict(a).shape == a.shape


def test_without_a_validation_band_the_latest_weights_are_kept(gaussian_pair):
    """Nothing held out: the model kept is the last step's, not a snapshot chosen by training loss."""
    _, a, b = gaussian_pair
    cfg = TrainConfig(**{**TRAIN_TINY, "steps": 40, "val_every": 5, "val_fraction": 0.0})
    tr = Trainer(a, b, config=cfg)
    events = []
    for ev in tr.run():
        events.append(ev)
        if isinstance(ev, Progress) and ev.step == 23:
            tr.request_stop()  # between two checkpoints of the old rule (steps 20 and 25)
    assert not any(isinstance(ev, Validated) for ev in events)
    assert events[-1].reason == "stopped" and events[-1].best_step == 23
    kept = tr.denoiser().models[0].state_dict()
    for name, value in tr.models[0].state_dict().items():
        assert torch.equal(kept[name], value.detach().cpu()), (
            f"{name} differs from the last step's weights"
        )


def test_training_is_reproducible_on_cpu(gaussian_pair):
    _, a, b = gaussian_pair
    cfg = TrainConfig(**{**TRAIN_TINY, "steps": 5, "device": "cpu", "seed": 7})
    runs = []
    for _ in range(2):
        tr = Trainer(a, b, config=cfg)
        list(tr.run())
        runs.append((tr.history["train_loss"], tr.denoiser().predict(a[:64, :64])))
    assert runs[0][0] == runs[1][0]
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    tr = Trainer(a, b, config=cfg.replace(seed=8))
    list(tr.run())
    assert tr.history["train_loss"] != runs[0][0]


def test_preview_and_time_budget(gaussian_pair):
    _, a, b = gaussian_pair
    tr = Trainer(a, b, config=TrainConfig(**{**TRAIN_TINY, "steps": 100_000, "time_budget_s": 1.5}))
    tr.set_preview(a[:40, :50], every_s=0.2)
    events = list(tr.run())
    previews = [e for e in events if isinstance(e, Preview)]
    assert previews and previews[0].image.shape == (40, 50)
    assert events[-1].reason == "time budget" and events[-1].elapsed_s < 5


def test_3d_volume_trains_and_predicts():
    from skimage.filters import gaussian as blur

    rng = np.random.default_rng(0)
    clean = blur(rng.random((24, 64, 64)), 2) * 400
    a, b = synthesize_pair(clean, Poisson(peak=30), seed=1)
    cfg = TrainConfig(depth=2, base_channels=8, patch_size=16, batch_size=4, steps=60, seed=0)
    tr = Trainer(a, b, axes="ZYX", config=cfg, clean=clean)
    list(tr.run())
    den = tr.denoiser()
    assert den.spatial_ndim == 3
    pred = den.predict(a, tile=(16, 32, 32), overlap=8)
    assert pred.shape == a.shape
    assert psnr(clean, pred) > psnr(clean, a) + 3
    with pytest.raises(InputError, match="3D model"):
        den.predict(a[0], axes="YX")


@pytest.mark.parametrize(
    "kwargs,msg",
    [
        (dict(target=np.zeros((10, 10))), "same shape"),
        (dict(target=None), "needs a target"),
        (dict(config=TrainConfig(mode="nb2nb")), "takes no target"),
        (dict(axes="ZYX"), "name 3 axes but the image has 2"),
        (dict(config=TrainConfig(patch_size=512)), "smaller than the patch"),
    ],
)
def test_user_errors_are_explained(gaussian_pair, kwargs, msg):
    _, a, b = gaussian_pair
    args = {"target": b, **kwargs}
    target = args.pop("target")
    with pytest.raises(InputError, match=msg):
        Trainer(a, target, **args)


def test_nan_and_constant_inputs():
    x = np.ones((64, 64), np.float32)
    with pytest.raises(InputError, match="constant"):
        Trainer(x, x, config=TrainConfig(**TRAIN_TINY))
    y = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    y[5, 5] = np.nan
    with pytest.raises(InputError, match="NaN"):
        Trainer(y, y, config=TrainConfig(**TRAIN_TINY))


@pytest.mark.parametrize(
    "field,value",
    [
        ("mode", "n3n"),
        ("loss", "l3"),
        ("steps", 0),
        ("steps", None),  # without a time budget: a run with no end
        ("patch_size", 4),
        ("learning_rate", 2.0),
        ("val_fraction", 0.7),
        ("channels", "some"),
    ],
)
def test_config_validates(field, value):
    with pytest.raises(InputError):
        TrainConfig(**{field: value})


def test_runtime_errors_become_training_errors(gaussian_pair, monkeypatch):
    """torch's out-of-memory is a RuntimeError; it must come out as our TrainingError with advice."""
    _, a, b = gaussian_pair
    tr = Trainer(a, b, config=TrainConfig(**{**TRAIN_TINY, "steps": 20}))
    from napari_n2n.core.training import objectives

    calls = {"n": 0}
    real = objectives.pixel_loss

    def boom(*args, **kw):
        calls["n"] += 1
        if calls["n"] == 4:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(*args, **kw)

    monkeypatch.setattr(objectives, "pixel_loss", boom)
    with pytest.raises(TrainingError, match="reduce the batch size"):
        list(tr.run())
    assert tr.denoiser().predict(a).shape == a.shape  # the model so far is still there


@pytest.mark.slow
def test_train_convenience_and_l1_loss(gaussian_pair):
    from napari_n2n.core.data.noise import Impulse

    clean, _, _ = gaussian_pair
    a, b = synthesize_pair(clean, Impulse(0.2), seed=0)
    seen = []
    den = train(
        a,
        b,
        config=TrainConfig(**{**TRAIN_QUALITY, "steps": 150, "loss": "l1"}),
        callback=seen.append,
    )
    assert isinstance(seen[-1], Finished)
    assert psnr(clean, den.predict(a)) > psnr(clean, a) + 6
