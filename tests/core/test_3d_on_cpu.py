"""3D training on a CPU: a budget that allows a few dozen steps says so, and a stop before the
first step takes effect at once (issue #22, item 8; issue #23's stop latency in 3D)."""

import threading
import time

import pytest

from napari_n2n.core.config import TrainConfig
from napari_n2n.core.events import Notice, Started
from napari_n2n.core.training import model_run, sampling
from napari_n2n.core.training.train import Trainer

TINY_3D = dict(patch_size=16, batch_size=2, depth=2, base_channels=8, device="cpu", seed=0)


@pytest.fixture(scope="module")
def volume():
    from napari_n2n.core.data.samples import volume_3d

    sample = volume_3d(shape=(16, 64, 64), n_nuclei=6)
    return sample.a, sample.b


def _slow_steps(monkeypatch, seconds):
    step = model_run.ModelRun.train_step

    def slow(self, *args, **kwargs):
        time.sleep(seconds)
        return step(self, *args, **kwargs)

    monkeypatch.setattr(model_run.ModelRun, "train_step", slow)


def test_a_budget_of_a_few_dozen_steps_is_announced_with_what_to_do(volume, monkeypatch):
    _slow_steps(monkeypatch, 0.25)  # a 3D step on a busy CPU: seconds, scaled down
    config = TrainConfig(steps=None, time_budget_s=3.0, **TINY_3D)
    events = list(Trainer(*volume, axes="ZYX", config=config).run())
    notices = [e for e in events if isinstance(e, Notice)]
    assert len(notices) == 1, events
    text = notices[0].text
    assert "3D model on cpu" in text and "only about" in text
    for advice in ("smaller preset", "GPU", "longer time budget"):
        assert advice in text
    # it comes at the start: after the first step
    first = next(i for i, e in enumerate(events) if isinstance(e, Notice))
    assert [type(e).__name__ for e in events[:first]] == ["Started", "Progress"]


def test_a_run_with_enough_steps_has_no_notice(volume):
    config = TrainConfig(steps=4, time_budget_s=600.0, **TINY_3D)
    assert not [
        e for e in Trainer(*volume, axes="ZYX", config=config).run() if isinstance(e, Notice)
    ]


def _latency_of_a_stop_at_start(trainer) -> tuple[float, list]:
    events, marks = [], {}

    def work():
        for event in trainer.run():
            events.append(event)
            if isinstance(event, Started):
                marks["started"] = time.perf_counter()
        marks["end"] = time.perf_counter()

    thread = threading.Thread(target=work)
    thread.start()
    while "started" not in marks:
        time.sleep(0.01)
    time.sleep(0.2)
    asked = time.perf_counter()
    trainer.request_stop()
    thread.join(timeout=30)
    assert not thread.is_alive()
    return marks["end"] - asked, events


def test_a_stop_while_the_first_batch_is_read_takes_effect_at_once(volume, monkeypatch):
    """A large (lazy) volume's first batch can take seconds to read: the stop does not wait for it."""
    sample_batch = sampling.PatchSampler.sample_batch

    def slow(self, *args, **kwargs):
        time.sleep(5.0)
        return sample_batch(self, *args, **kwargs)

    monkeypatch.setattr(sampling.PatchSampler, "sample_batch", slow)
    trainer = Trainer(*volume, axes="ZYX", config=TrainConfig(steps=50, **TINY_3D))
    latency, events = _latency_of_a_stop_at_start(trainer)
    assert latency < 1.0, f"the stop took {latency:.2f} s"
    assert events[-1].reason == "stopped" and events[-1].steps_done == 0


def test_a_stop_while_torch_imports_its_compiler_takes_effect_at_once(volume, monkeypatch):
    """torch imports torch._dynamo when the first optimiser is built (seconds on a loaded CPU)."""
    slow_import = threading.Event()  # an import that has not ended
    monkeypatch.setattr(model_run, "import_ahead", lambda: slow_import)
    monkeypatch.setattr("napari_n2n.core.training.train.import_ahead", lambda: slow_import)
    trainer = Trainer(*volume, axes="ZYX", config=TrainConfig(steps=50, **TINY_3D))
    latency, events = _latency_of_a_stop_at_start(trainer)
    slow_import.set()
    assert latency < 1.0, f"the stop took {latency:.2f} s"
    assert events[-1].reason == "stopped" and events[-1].steps_done == 0
    assert not trainer.has_model


def test_the_import_ahead_is_shared_and_ends():
    done = model_run.import_ahead()
    assert done is model_run.import_ahead() and done.wait(60)
    import sys

    assert "torch._dynamo" in sys.modules


def test_a_stop_does_not_wait_for_a_slow_last_validation(volume, monkeypatch):
    """A stopped run validates its last weights for at most half a second (3D: seconds a batch)."""
    import torch

    forward = torch.nn.Conv3d.forward

    def slow_when_validating(self, x):
        if not self.training:
            time.sleep(0.1)  # a validation of many convolutions: seconds
        return forward(self, x)

    monkeypatch.setattr(torch.nn.Conv3d, "forward", slow_when_validating)
    trainer = Trainer(*volume, axes="ZYX", config=TrainConfig(steps=500, val_every=400, **TINY_3D))
    events, asked = [], None
    for event in trainer.run():
        events.append(event)
        if type(event).__name__ == "Progress" and event.step == 2:
            trainer.request_stop()
            asked = time.perf_counter()
    latency = time.perf_counter() - asked
    assert latency < 1.0, f"the stop took {latency:.2f} s"
    assert events[-1].reason == "stopped" and events[-1].steps_done == 2
    # the validation did not finish: the latest weights are kept, and the end says no figure
    assert events[-1].best_val_loss is None and events[-1].estimated_psnr is None
