"""The run's clock and budget: one reading per step gives the fraction done, the time left and the
limit that ends the run; a run may be bounded by time only (``steps=None``)."""

import time
from types import SimpleNamespace

import numpy as np
import pytest

from napari_n2n.core.config import TIME_ONLY_VAL_EVERY, TrainConfig
from napari_n2n.core.errors import InputError
from napari_n2n.core.events import Finished, Progress, Started
from napari_n2n.core.progress import describe_progress
from napari_n2n.core.training.resume import Checkpointing, load_state
from napari_n2n.core.training.schedule import RunClock
from napari_n2n.core.training.train import Trainer

from .._helpers import TRAIN_TINY

TIME_ONLY = {**TRAIN_TINY, "steps": None}


def _pair(shape=(64, 64)):
    rng = np.random.default_rng(0)
    clean = rng.random(shape).astype(np.float32)
    noisy = [clean + 0.1 * rng.standard_normal(shape).astype(np.float32) for _ in range(2)]
    return noisy[0], noisy[1]


def _run(*, group=0, step=0, seconds=0.0, offset=0):
    """A stand-in for a ModelRun that started ``seconds`` ago."""
    return SimpleNamespace(
        group=group, offset=offset, step=step, t_start=time.perf_counter() - seconds
    )


def test_a_run_needs_steps_or_a_time_budget():
    with pytest.raises(InputError, match="needs an end"):
        TrainConfig(steps=None)
    config = TrainConfig(steps=None, time_budget_s=30)
    assert config.validation_every == TIME_ONLY_VAL_EVERY
    assert TrainConfig(steps=400).validation_every == 20
    assert TrainConfig(steps=None, time_budget_s=30, val_every=7).validation_every == 7
    assert TrainConfig.from_dict(config.to_dict()) == config  # as a model file stores it


def test_the_clock_says_which_limit_ends_the_run():
    by_steps = RunClock(TrainConfig(steps=100, time_budget_s=3600), n_groups=1, patches_per_step=8)
    reading = by_steps.read(_run(step=50, seconds=10.0))
    assert reading.limit == "steps" and reading.fraction == 0.5 and not reading.completed
    assert reading.eta_s == pytest.approx(10.0, rel=0.01)  # 50 steps left at 5 steps/s
    assert by_steps.read(_run(step=100, seconds=20.0)).completed
    by_time = RunClock(TrainConfig(steps=100, time_budget_s=20), n_groups=1, patches_per_step=8)
    reading = by_time.read(_run(step=10, seconds=10.0))
    # 90 steps at 1 step/s would take 90 s: the 10 s left end the run, and time sets the fraction
    assert reading.limit == "time" and reading.eta_s == pytest.approx(10.0, abs=0.1)
    assert reading.used == pytest.approx(0.5, abs=0.01) and reading.fraction == reading.used


def test_each_model_of_a_per_channel_run_has_its_share_of_the_time():
    clock = RunClock(TrainConfig(steps=None, time_budget_s=10), n_groups=2, patches_per_step=4)
    assert clock.total_steps is None and clock.share_s == 5
    reading = clock.read(_run(group=1, step=30, seconds=2.5, offset=60))
    assert reading.used == pytest.approx(0.5, abs=0.01)
    assert reading.fraction == pytest.approx(0.75, abs=0.01) and reading.limit == "time"
    assert reading.eta_s == pytest.approx(2.5, abs=0.05) and reading.steps_done == 90
    # the processes of a DDP run agree on the largest share used: the schedule follows it
    agreed = clock.agreed(reading, 0.8)
    assert agreed.model_fraction == 0.8 and agreed.fraction == pytest.approx(0.9)
    assert clock.agreed(reading, reading.used) is reading


def test_a_run_bounded_by_time_only_ends_by_time_and_reports_it_consistently():
    a, b = _pair()
    budget = 1.5
    trainer = Trainer(a, b, config=TrainConfig(**TIME_ONLY, time_budget_s=budget))
    events = list(trainer.run())
    started = events[0]
    assert isinstance(started, Started)
    assert started.total_steps is None and started.time_budget_s == budget
    progress = [e for e in events if isinstance(e, Progress)]
    assert len(progress) > 3
    for p in progress:
        assert p.total_steps is None and p.limit == "time" and p.time_budget_s == budget
        # fraction and time left come from one reading: together they make the whole budget
        assert p.fraction + p.eta_s / budget == pytest.approx(1.0, abs=1e-6)
        # the budget counts from the run's start, setting the first model up included (issue #22)
        assert min(p.elapsed_s / budget, 1.0) == pytest.approx(p.fraction)
    fractions = [p.fraction for p in progress]
    assert fractions == sorted(fractions) and 0 < fractions[0] and fractions[-1] <= 1.0
    finished = events[-1]
    assert isinstance(finished, Finished) and finished.reason == "time budget"
    assert finished.steps_done == progress[-1].step == trainer.history["steps_done"]
    assert budget <= finished.elapsed_s < budget + 5  # a step and the setup over (a busy machine)
    text = describe_progress(progress[-1])
    assert " of 0:02 · step " in text  # fmt_time(1.5): 0:02
    assert "/" not in text.split("·")[1] and "None" not in text


def test_a_per_channel_run_bounded_by_time_trains_every_model(tmp_path):
    a, b = _pair((2, 48, 48))
    config = TrainConfig(**TIME_ONLY, time_budget_s=2.0, channels="separate")
    trainer = Trainer(a, b, axes="CYX", config=config)
    events = list(trainer.run())
    assert events[-1].reason == "time budget" and trainer.has_model
    assert all(m is not None for m in trainer.models) and len(trainer.models) == 2
    fractions = [e.fraction for e in events if isinstance(e, Progress)]
    assert fractions == sorted(fractions) and fractions[-1] > 0.5
    # the model file records the run bounded by time only, and loads
    from napari_n2n.core.inference.denoiser import Denoiser

    loaded = Denoiser.load(trainer.denoiser().save(tmp_path / "m.n2n"))
    assert loaded.config.steps is None and loaded.config.time_budget_s == 2.0


def test_a_run_bounded_by_time_only_resumes(tmp_path):
    a, b = _pair()
    config = TrainConfig(**TIME_ONLY, time_budget_s=0.5, seed=2)
    state = tmp_path / "run.ckpt"
    first = Trainer(a, b, config=config, checkpoint=Checkpointing(state))
    done = list(first.run())[-1].steps_done
    saved = load_state(state).state
    assert saved.config["steps"] is None and saved.steps_done == done and saved.elapsed_s >= 0.5
    # its time is used up: the resumed run ends at once, by time, with the steps it had
    second = Trainer(a, b, config=config, resume=state)
    finished = list(second.run())[-1]
    assert finished.reason == "time budget" and finished.steps_done == done
