"""Stopping: within a fraction of a step, with the true step count, and a trainer that can run again;
progress that tells the truth when a time budget ends the run."""

import threading
import time

import numpy as np

from napari_n2n.core.config import TrainConfig
from napari_n2n.core.events import Finished, Progress, Started
from napari_n2n.core.progress import describe_progress
from napari_n2n.core.training.train import Trainer

from .._helpers import TRAIN_TINY


def _pair(size=64):
    rng = np.random.default_rng(0)
    clean = rng.random((size, size)).astype(np.float32)
    return clean + 0.1 * rng.standard_normal(clean.shape).astype(
        np.float32
    ), clean + 0.1 * rng.standard_normal(clean.shape).astype(np.float32)


def test_the_step_count_after_a_stop_is_the_true_one():
    a, b = _pair()
    trainer = Trainer(a, b, config=TrainConfig(**{**TRAIN_TINY, "steps": 50}))
    gen = trainer.run()
    for event in gen:
        if isinstance(event, Progress) and event.step == 7:
            break
    gen.close()  # what Ctrl-C in the command line does: the generator is closed between steps
    den = trainer.denoiser()
    assert den.history["steps_done"] == 7 and trainer.history["steps_done"] == 7
    assert "7 steps" in den.summary()


def test_a_stopped_trainer_runs_again_from_the_start():
    a, b = _pair()
    trainer = Trainer(a, b, config=TrainConfig(**{**TRAIN_TINY, "steps": 6}))
    for event in trainer.run():
        if isinstance(event, Progress) and event.step == 2:
            trainer.request_stop()
    assert trainer.history["steps_done"] == 2
    events = list(trainer.run())
    finished = [e for e in events if isinstance(e, Finished)][0]
    assert (
        finished.reason == "completed"
        and finished.steps_done == 6
        and trainer.history["steps_done"] == 6
    )
    # a fresh history, not the first run's continued
    assert trainer.history["step"] == [
        1,
        2,
        3,
        4,
        5,
        6,
    ]


def test_a_time_budget_shows_time_not_a_meaningless_step_total():
    a, b = _pair()
    trainer = Trainer(
        a, b, config=TrainConfig(**{**TRAIN_TINY, "steps": 100_000, "time_budget_s": 1.0})
    )
    progress = [e for e in trainer.run() if isinstance(e, Progress)]
    last = describe_progress(progress[-1])
    assert progress[-1].limit == "time" and "/100000" not in last and " of 0:01" in last
    short = Trainer(a, b, config=TrainConfig(**{**TRAIN_TINY, "steps": 3, "time_budget_s": 600.0}))
    assert "step 3/3" in describe_progress([e for e in short.run() if isinstance(e, Progress)][-1])


def test_stop_takes_effect_within_a_fraction_of_a_long_cpu_step():
    """A step of the standard network on 96² patches in batches of 8 takes over a second on a CPU; a stop
    requested during it used to wait for its end (5 s with 128² × 16)."""
    rng = np.random.default_rng(0)
    a = rng.random((160, 160)).astype(np.float32)
    config = TrainConfig(
        preset="standard", patch_size=96, batch_size=8, steps=1000, device="cpu", val_fraction=0.0
    )
    trainer = Trainer(a, a[::-1].copy(), config=config)
    marks = {}

    def work():
        for event in trainer.run():
            if isinstance(event, Started):
                marks["started"] = time.perf_counter()
            elif isinstance(event, Progress) and "first" not in marks:
                marks["first"] = time.perf_counter()
        marks["end"] = time.perf_counter()

    thread = threading.Thread(target=work)
    thread.start()
    while "first" not in marks:
        time.sleep(0.01)
    step = marks["first"] - marks["started"]
    time.sleep(0.2 * step)
    asked = time.perf_counter()
    trainer.request_stop()
    thread.join(timeout=120)
    latency = marks["end"] - asked
    assert latency < max(0.5, step / 3), f"stop took {latency:.2f} s; a step takes {step:.2f} s"
    assert trainer.history["steps_done"] == 1  # the interrupted step is not counted, nor applied
