"""Checkpoints and resuming: a resumed run is the uninterrupted run, bit for bit, on the CPU."""

import json

import numpy as np
import pytest
import torch

from napari_n2n.core.config import TrainConfig
from napari_n2n.core.data.noise import Gaussian, synthesize_pair
from napari_n2n.core.errors import InputError, ModelFileError
from napari_n2n.core.events import Checkpointed, Progress
from napari_n2n.core.training.resume import Checkpointing, load_state
from napari_n2n.core.training.train import Trainer

from .._helpers import TRAIN_TINY

CONFIG = TrainConfig(
    **{**TRAIN_TINY, "steps": 8, "val_every": 3, "patch_size": 16, "device": "cpu", "seed": 3}
)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    clean = np.cumsum(rng.random((2, 64, 64)), axis=1).astype(np.float32)
    a, b = synthesize_pair(clean, Gaussian(sigma=3), seed=1)
    return a, b


def _weights(trainer) -> list[dict]:
    return [m.state_dict() for m in trainer.denoiser().models] + [trainer.models[-1].state_dict()]


def _stop_at(trainer, step):
    events = []
    for event in trainer.run():
        events.append(event)
        if isinstance(event, Progress) and event.step == step:
            trainer.request_stop()
    return events


@pytest.mark.parametrize(
    "options,stop",
    [
        (dict(), 5),  # patches drawn ahead by the host thread
        (dict(data_on_device=True), 4),  # patches cut on the device
        (dict(mode="nb2nb"), 4),  # Neighbor2Neighbor's random masks
        (dict(channels="separate"), 11),  # stopped in the second channel's model
        (
            dict(channels="separate", val_fraction=0.0),
            8,
        ),  # at the end of the first model, nothing held out
    ],
)
def test_a_resumed_run_equals_the_uninterrupted_run_bit_for_bit(data, tmp_path, options, stop):
    a, b = data
    target = None if options.get("mode") == "nb2nb" else b
    cfg = CONFIG.replace(**options)
    whole = Trainer(a, target, axes="CYX", config=cfg)
    list(whole.run())
    state = tmp_path / "run.ckpt"
    first = Trainer(
        a, target, axes="CYX", config=cfg, checkpoint=Checkpointing(state, every_steps=100)
    )
    events = _stop_at(first, stop)
    assert events[-1].reason == "stopped" and events[-2] == Checkpointed(step=stop, path=str(state))
    second = Trainer(a, target, axes="CYX", config=cfg, resume=state)
    events = list(second.run())
    assert events[-1].steps_done == cfg.steps * len(whole.groups)
    for expected, got in zip(_weights(whole), _weights(second)):
        for name, value in expected.items():
            assert torch.equal(value, got[name]), name
    assert second.history["val_loss"] == whole.history["val_loss"]
    assert second.best_step == whole.best_step


def test_state_file_is_safetensors_and_json_written_atomically(data, tmp_path, monkeypatch):
    a, b = data
    state = tmp_path / "run.ckpt"
    tr = Trainer(a, b, axes="CYX", config=CONFIG, checkpoint=Checkpointing(state, every_steps=2))
    steps = [e.step for e in tr.run() if isinstance(e, Checkpointed)]
    assert steps == [2, 4, 6, 8]
    from safetensors import safe_open

    with safe_open(str(state), framework="pt") as f:
        meta, names = f.metadata(), list(f.keys())
    assert (
        meta["format"] == "napari-n2n-training-state" and json.loads(meta["payload"])["step"] == 8
    )
    assert {n.split(".")[0] for n in names} == {"model", "optimizer", "kept0"}
    before = state.read_bytes()

    # a kill during the next write leaves the previous state whole, and no temporary file
    from pathlib import Path

    real_write = Path.write_bytes

    def killed_mid_write(self, data):
        real_write(self, data[: len(data) // 2])
        raise KeyboardInterrupt

    monkeypatch.setattr(Path, "write_bytes", killed_mid_write)
    with pytest.raises(KeyboardInterrupt):
        tr.save_state(state)
    assert state.read_bytes() == before and load_state(state).state.step == 8
    assert list(tmp_path.iterdir()) == [state]


def test_bad_states_are_refused_with_one_clear_line(data, tmp_path, gaussian_pair):
    a, b = data
    state = tmp_path / "run.ckpt"
    list(Trainer(a, b, axes="CYX", config=CONFIG, checkpoint=Checkpointing(state)).run())
    raw = state.read_bytes()

    def refused(error, match, **kwargs):
        with pytest.raises(error, match=match) as info:
            Trainer(
                kwargs.pop("input", a),
                kwargs.pop("target", b),
                axes=kwargs.pop("axes", "CYX"),
                config=kwargs.pop("config", CONFIG),
                **kwargs,
            )
        assert "\n" not in str(info.value)

    (tmp_path / "cut.ckpt").write_bytes(raw[: len(raw) // 2])
    refused(ModelFileError, "truncated or corrupted", resume=tmp_path / "cut.ckpt")
    refused(ModelFileError, "does not exist", resume=tmp_path / "none.ckpt")
    newer = raw.replace(b'"format_version":"1"', b'"format_version":"9"')
    assert newer != raw
    (tmp_path / "newer.ckpt").write_bytes(newer)
    refused(ModelFileError, "newer napari-n2n", resume=tmp_path / "newer.ckpt")
    model = tmp_path / "m.n2n"
    tr = Trainer(a, b, axes="CYX", config=CONFIG)
    list(tr.run())
    tr.denoiser().save(model)
    refused(ModelFileError, "not a napari-n2n training checkpoint", resume=model)
    # the same run or nothing: other data, other options, named
    other = a.copy()
    other[0, 0, 0] += 1
    refused(InputError, "the input's values differ", input=other, resume=state)
    refused(
        InputError,
        r"steps 8 in the checkpoint, 9 now.*batch_size 4 in the checkpoint, 2 now",
        config=CONFIG.replace(steps=9, batch_size=2),
        resume=state,
    )
    refused(
        InputError,
        "the target: one in the checkpoint, none now",
        target=None,
        config=CONFIG.replace(mode="nb2nb"),
        resume=state,
    )
    refused(InputError, "has a U-Net with depth 2", config=CONFIG.replace(depth=3), resume=state)
    _, ga, gb = gaussian_pair
    refused(InputError, "trained on 2 channel", input=ga, target=gb, axes="YX", resume=state)
    assert state.read_bytes() == raw  # nothing overwritten
    # unless it is intended
    tr = Trainer(
        other, b, axes="CYX", config=CONFIG.replace(steps=10), resume=state, resume_anyway=True
    )
    assert any("continuing although the input's values differ" in n for n in tr.notes)
    events = list(tr.run())
    assert events[-1].steps_done == 10


def test_device_placement_may_change_on_resume(data, tmp_path):
    a, b = data
    state = tmp_path / "run.ckpt"
    list(
        Trainer(
            a, b, axes="CYX", config=CONFIG.replace(steps=4), checkpoint=Checkpointing(state)
        ).run()
    )
    tr = Trainer(
        a,
        b,
        axes="CYX",
        config=CONFIG.replace(steps=4, data_on_device=True, device="auto"),
        resume=state,
    )
    assert not any("continuing although" in n for n in tr.notes)


def test_checkpointing_options_are_checked():
    with pytest.raises(InputError, match="every_steps"):
        Checkpointing("x.ckpt", every_steps=0)
    with pytest.raises(InputError, match="every_s"):
        Checkpointing("x.ckpt", every_s=-1)
    assert Checkpointing("x.ckpt", every_s=60).due(7, 61) and not Checkpointing(
        "x.ckpt", every_steps=5
    ).due(7, 1e9)


def _edited(src, dst, *, payload=None, tensors=None):
    """A copy of the state file ``src`` at ``dst`` with its JSON document and tensors edited."""
    from safetensors.torch import load_file, save_file

    with __import__("safetensors").safe_open(str(src), framework="pt") as f:
        meta = dict(f.metadata())
    doc = json.loads(meta["payload"])
    (payload or (lambda d: None))(doc)
    meta["payload"] = json.dumps(doc)
    values = load_file(str(src))
    (tensors or (lambda t: None))(values)
    save_file(values, str(dst), metadata=meta)
    return dst


def test_damaged_states_are_refused_before_training_as_strictly_as_model_files(data, tmp_path):
    a, b = data
    state = tmp_path / "run.ckpt"
    first = Trainer(a, b, axes="CYX", config=CONFIG, checkpoint=Checkpointing(state))
    _stop_at(first, 5)

    def refused(match, damaged, **options):
        with pytest.raises(ModelFileError, match=match) as info:
            Trainer(a, b, axes="CYX", config=CONFIG, resume=damaged, **options)
        assert "\n" not in str(info.value) and str(damaged) in str(info.value)

    def put(key, value):
        return lambda d: d.update({key: value})

    refused(
        "its history field has the wrong type",
        _edited(state, tmp_path / "h.ckpt", payload=put("history", [1, 2])),
    )
    refused(
        "its config field has the wrong type",
        _edited(state, tmp_path / "c.ckpt", payload=put("config", "steps=8")),
    )
    refused(
        "its configuration is invalid",
        _edited(state, tmp_path / "c2.ckpt", payload=put("config", {"steps": -3})),
    )
    refused(
        "its channel group 7 is not one of",
        _edited(state, tmp_path / "g.ckpt", payload=put("group", 7)),
    )

    refused(
        "its data fingerprint of the input is not a fingerprint",
        _edited(state, tmp_path / "d.ckpt", payload=lambda d: d["data"].update(input="x")),
    )
    refused(
        "its kept-weights entry .* has no step and finite loss",
        _edited(state, tmp_path / "k.ckpt", payload=lambda d: d["kept"][0].update(best_step="5")),
    )

    def nan(t):
        name = next(k for k in t if k.startswith("model."))
        t[name] = torch.full_like(t[name], float("nan"))

    refused(r"tensor model\..* holds NaN or Inf", _edited(state, tmp_path / "n.ckpt", tensors=nan))
    refused(
        "tensor model.extra.weight .*has no place for",
        _edited(
            state,
            tmp_path / "x.ckpt",
            tensors=lambda t: t.update({"model.extra.weight": torch.zeros(2)}),
        ),
    )


def test_edited_step_counters_are_refused_not_saved_as_a_model_of_that_many_steps(data, tmp_path):
    a, b = data
    state = tmp_path / "run.ckpt"
    _stop_at(Trainer(a, b, axes="CYX", config=CONFIG, checkpoint=Checkpointing(state)), 5)
    huge = 10**9

    def counters(doc, steps=None):
        doc.update(step=huge, steps_done=huge)
        doc["history"]["steps_done"] = huge
        if steps:
            doc["config"]["steps"] = steps

    edited = _edited(state, tmp_path / "e.ckpt", payload=counters)
    for path, match in (
        (edited, "exceed the run's 8 steps"),
        (
            _edited(state, tmp_path / "e2.ckpt", payload=lambda d: counters(d, 2 * huge)),
            "disagrees with its history, whose last logged step is 5",
        ),
    ):
        with pytest.raises(ModelFileError, match=match):
            Trainer(
                a,
                b,
                axes="CYX",
                config=CONFIG.replace(steps=2 * huge),
                resume=path,
                resume_anyway=True,
            )
    # the state as written resumes
    events = list(Trainer(a, b, axes="CYX", config=CONFIG, resume=state).run())
    assert events[-1].steps_done == 8


@pytest.mark.parametrize("failure", ["another run wrote it", "its folder is gone"])
def test_a_failed_checkpoint_write_never_costs_the_model(data, tmp_path, failure):
    import shutil

    from napari_n2n.core.events import CheckpointFailed, Finished
    from napari_n2n.core.inference.denoiser import Denoiser

    a, b = data
    folder = tmp_path / "states"
    folder.mkdir()
    state = folder / "run.ckpt"
    trainer = Trainer(
        a, b, axes="CYX", config=CONFIG, checkpoint=Checkpointing(state, every_steps=2)
    )
    events = []
    for event in trainer.run():
        events.append(event)
        if event == Checkpointed(step=2, path=str(state)):
            if failure == "another run wrote it":
                state.write_bytes(b"the state of another run")
            else:  # an unmounted disk, a removed scratch folder
                shutil.rmtree(folder)
    failed = [e for e in events if isinstance(e, CheckpointFailed)]
    # said once, at the next write; no further tries
    assert len(failed) == 1 and failed[0].step == 4 and failed[0].path == str(state)
    assert (
        "another process wrote" if failure == "another run wrote it" else "no longer exists"
    ) in (failed[0].message)
    assert "Training goes on" in failed[0].message and "\n" not in failed[0].message
    assert not any(isinstance(e, Checkpointed) and e.step > 2 for e in events)
    if failure == "another run wrote it":
        assert state.read_bytes() == b"the state of another run"  # not replaced
    assert isinstance(events[-1], Finished) and events[-1].steps_done == 8
    assert trainer.checkpoint_failure is not None
    model = trainer.denoiser().save(tmp_path / "m.n2n")
    assert Denoiser.load(model).history["steps_done"] == 8


def test_a_checkpoint_on_a_full_disk_still_saves_the_model_to_its_own_disk(tmp_path):
    """The command line, with ``--checkpoint`` on a real full disk (a tiny tmpfs) and ``--model`` beside it."""
    import tifffile

    from .._fs import in_tiny_tmpfs

    rng = np.random.default_rng(0)
    clean = np.cumsum(rng.random((128, 128)), axis=1).astype(np.float32) * 4
    for name in ("A.tif", "B.tif"):
        tifffile.imwrite(tmp_path / name, clean + rng.normal(0, 25, clean.shape).astype(np.float32))
    small = tmp_path / "small"
    script = "import sys\nfrom napari_n2n.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    args = [
        *("train", "--input", str(tmp_path / "A.tif"), "--target", str(tmp_path / "B.tif")),
        *("--model", str(tmp_path / "m.n2n"), "--checkpoint", str(small / "m.ckpt")),
        *("--checkpoint-every", "5", "--steps", "10", "--patch", "32", "--batch", "4"),
        *("--depth", "2", "--base-channels", "8", "--init-from", "none", "--quiet"),
    ]
    # room for the check's probe, not for a state (about 0.4 MB for this network)
    done = in_tiny_tmpfs(small, 64, script, *args)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "the disk is full" in done.stderr and "the model is kept" in done.stderr
    assert "Traceback" not in done.stderr
    from napari_n2n.core.inference.denoiser import Denoiser

    assert Denoiser.load(tmp_path / "m.n2n").history["steps_done"] == 10
