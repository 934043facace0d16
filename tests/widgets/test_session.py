"""The training session is Qt-free: driven by a real trainer's events, without a viewer."""

import numpy as np

from napari_n2n.core.config import TrainConfig
from napari_n2n.core.training.train import Trainer
from napari_n2n.widgets.train.session import TrainingSession

from .._helpers import TRAIN_TINY


def test_session_follows_a_run_and_its_views_are_told(gaussian_pair):
    clean, a, b = gaussian_pair
    trainer = Trainer(
        a, b, config=TrainConfig(**{**TRAIN_TINY, "steps": 20, "val_every": 5}), clean=clean
    )
    session = TrainingSession(trainer, name="a")
    seen = {"train": [], "val": [], "fraction": [], "text": []}
    session.train_point.connect(lambda step, loss: seen["train"].append(step))
    session.validation_point.connect(lambda step, loss, psnr: seen["val"].append((step, psnr)))
    session.status.events.fraction.connect(seen["fraction"].append)
    session.status.events.text.connect(seen["text"].append)
    ended = []
    session.ended.connect(ended.append)
    assert session.running and session.status.state == "starting"
    for event in trainer.run():
        session.apply(event)
    session.end()
    assert seen["train"] == list(range(1, 21))
    assert [s for s, _ in seen["val"]] == [5, 10, 15, 20] and all(
        p is not None for _, p in seen["val"]
    )
    assert seen["fraction"][-1] == 1.0 and np.all(np.diff(seen["fraction"]) >= 0)
    assert (
        seen["text"][0].startswith("Training:") and "Completed after 20 steps" in seen["text"][-1]
    )
    assert session.status.state == "finished" and not session.running
    assert ended == [session.finished] and session.finished.steps_done == 20


def test_stopping_the_session_stops_the_trainer(gaussian_pair):
    _, a, b = gaussian_pair
    trainer = Trainer(a, b, config=TrainConfig(**{**TRAIN_TINY, "steps": 1000}))
    session = TrainingSession(trainer, name="a")
    for event in trainer.run():
        session.apply(event)
        if session.status.step >= 3 or len(trainer.history["step"]) >= 3:
            session.request_stop()
    session.end()
    assert session.finished.reason == "stopped" and 3 <= session.finished.steps_done < 10
    assert session.stop_requested_at is not None and session.status.text.startswith("Stopped after")


def test_the_session_takes_the_plan_from_the_events_of_a_run_bounded_by_time(gaussian_pair):
    """No step total for a run bounded by time only: the session shows time, from the events."""
    _, a, b = gaussian_pair
    config = TrainConfig(**{**TRAIN_TINY, "steps": None, "time_budget_s": 1.0})
    trainer = Trainer(a[:64, :64], b[:64, :64], config=config)
    session = TrainingSession(trainer, name="a")
    texts = []
    session.status.events.text.connect(texts.append)
    for event in trainer.run():
        session.apply(event)
    session.end()
    assert session.started.total_steps is None and session.started.time_budget_s == 1.0
    assert session.status.total_steps is None and session.status.fraction == 1.0
    progress = [t for t in texts if " of 0:01 · step " in t]
    assert progress and not any("/" in t.split("·")[1] for t in progress)
    assert session.status.text.startswith(f"Time budget after {session.finished.steps_done} steps")
