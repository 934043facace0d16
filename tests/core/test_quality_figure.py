"""Every run of any length reports a quality figure (issue #22, item 4).

A run with a time budget validates by time as well as by steps, and every run validates its
last weights when it ends (a stopped one too, within a short deadline), so that its Finished
event, the CLI's last line and the widget's status line carry the (estimated) PSNR.
"""

import time

import numpy as np
import pytest

from napari_n2n.core.config import TrainConfig
from napari_n2n.core.data.noise import Gaussian, synthesize_pair
from napari_n2n.core.events import Finished, Progress, Started, Validated
from napari_n2n.core.progress import describe_finished
from napari_n2n.core.training import model_run
from napari_n2n.core.training.train import Trainer

TINY = dict(patch_size=32, batch_size=4, depth=2, base_channels=8, device="cpu", seed=0)


@pytest.fixture(scope="module")
def pair():
    from skimage import data

    clean = data.camera()[:128, :128].astype(np.float32)
    a, b = synthesize_pair(clean, Gaussian(sigma=25), seed=0)
    return a, b


@pytest.fixture
def slow_steps(monkeypatch):
    """Steps of 50 ms, as on a busy CPU: a few seconds make a few dozen steps."""
    step = model_run.ModelRun.train_step

    def slow(self, *args, **kwargs):
        time.sleep(0.05)
        return step(self, *args, **kwargs)

    monkeypatch.setattr(model_run.ModelRun, "train_step", slow)


def test_a_short_timed_run_validates_by_time_and_reports_an_estimated_psnr(pair, slow_steps):
    a, b = pair
    config = TrainConfig(steps=None, time_budget_s=2.5, **TINY)
    events = list(Trainer(a, b, axes="YX", config=config).run())
    steps = [e.step for e in events if isinstance(e, Progress)]
    validated = [e for e in events if isinstance(e, Validated)]
    finished = events[-1]
    # far fewer steps than the 100 between validations by steps
    assert isinstance(finished, Finished) and finished.reason == "time budget" and steps[-1] < 100
    assert len(validated) >= 3, f"{len(validated)} validations in {steps[-1]} steps"
    assert validated[-1].step == steps[-1]  # the last weights, at the end
    assert finished.best_val_loss is not None and finished.estimated_psnr is not None
    assert "est. PSNR" in describe_finished(finished)


def test_a_stopped_run_validates_its_last_weights_quickly(pair):
    a, b = pair
    config = TrainConfig(steps=1000, val_every=500, **TINY)
    trainer = Trainer(a, b, axes="YX", config=config)
    events, asked = [], None
    for event in trainer.run():
        events.append(event)
        if isinstance(event, Progress) and event.step == 7:
            trainer.request_stop()
            asked = time.perf_counter()
    ended = time.perf_counter() - asked
    finished = events[-1]
    assert finished.reason == "stopped" and finished.steps_done == 7
    assert [e.step for e in events if isinstance(e, Validated)] == [7]
    assert finished.best_step == 7 and finished.estimated_psnr is not None
    assert trainer.denoiser().summary().count("est. PSNR") == 1
    assert ended < 1.0, f"the stop took {ended:.2f} s"


def test_the_kept_weights_message_matches_what_is_kept(pair):
    """The start says the weights of lowest validation loss are kept: the end says which."""
    a, b = pair
    config = TrainConfig(steps=12, val_every=5, **TINY)
    events = list(Trainer(a, b, axes="YX", config=config).run())
    started, finished = events[0], events[-1]
    assert isinstance(started, Started)
    assert "the weights of lowest validation loss are kept" in started.notes
    validated = [e for e in events if isinstance(e, Validated)]
    assert [e.step for e in validated] == [5, 10, 12]
    best = min(validated, key=lambda e: e.val_loss)
    assert finished.best_step == best.step and finished.best_val_loss == best.val_loss
    assert finished.estimated_psnr == best.estimated_psnr
    assert f"best model at step {best.step}" in describe_finished(finished)
