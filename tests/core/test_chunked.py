"""Out-of-core prediction unit by unit (core/chunked.py): the result of one in-memory prediction, a ledger
that stays true through a crash or a full disk, and a resume that recomputes only what is missing."""

import errno
import json

import numpy as np
import pytest

from napari_n2n.core.config import TrainConfig
from napari_n2n.core.errors import InputError, OutputStateError
from napari_n2n.core.inference.chunked import (
    Ledger,
    UnitGrid,
    model_digest,
    plan_units,
    predict_units_iter,
)
from napari_n2n.core.progress import drain
from napari_n2n.core.training.train import Trainer

from .._helpers import TRAIN_TINY

TILE = dict(tile=96, overlap=16, device="cpu")


@pytest.fixture(scope="module")
def tiny(gaussian_pair):
    _, a, b = gaussian_pair
    trainer = Trainer(a, b, axes="YX", config=TrainConfig(**dict(TRAIN_TINY, steps=30)))
    list(trainer.run())
    return trainer.denoiser()


@pytest.fixture(scope="module")
def stack(gaussian_pair):
    _, a, b = gaussian_pair
    # 2 × 256 × 200: units of 128 leave short ones at the ends
    return np.stack([a[:, :200], b[:, 56:]])


class Recording:
    """An output array that records which units were written, and can fail like a full disk."""

    def __init__(self, shape, fail_after=None):
        self.array = np.zeros(shape, np.float32)
        self.shape, self.writes, self.fail_after = shape, [], fail_after

    def __setitem__(self, key, value):
        if self.fail_after is not None and len(self.writes) >= self.fail_after:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.writes.append(key)
        self.array[key] = value


def grid_for(stack, units=(1, 128, 128), halo=16):
    return UnitGrid(stack.shape, "TYX", units, in_axes="TYX", halo=halo, spatial_ndim=2)


def test_plan_and_grid():
    assert plan_units((4, 5000, 3000), "TYX", 2, chunks=(1, 1024, 1024), unit_voxels=1 << 22) == (
        1,
        2048,
        2048,
    )
    assert plan_units((300, 600, 600), "ZYX", 3, chunks=(64, 256, 256), unit_voxels=1 << 24) == (
        256,
        256,
        256,
    )
    with pytest.raises(InputError, match="split the channels"):
        plan_units((2, 3, 64, 64), "TCYX", 2, chunks=(1, 1, 64, 64))
    g = UnitGrid((2, 300, 200), "TYX", (1, 128, 128), in_axes="TXY", halo=16, spatial_ndim=2)
    assert len(g) == 2 * 3 * 2
    # in the input's axes, T X Y; halo clipped at the image border
    read, crop = g.read_slices((1, 1, 0))
    assert read == (slice(1, 2), slice(0, 144), slice(112, 272)) and crop == (
        slice(None),
        slice(0, 128),
        slice(16, 144),
    )
    assert g.out_slices((0, 2, 1)) == (slice(0, 1), slice(256, 300), slice(128, 200))


def test_units_give_the_in_memory_prediction(tiny, stack):
    # the 2D default overlap, and a halo as large
    options = dict(tile=128, overlap=48, device="cpu")
    out = np.zeros(stack.shape, np.float32)
    grid = grid_for(stack, halo=48)
    assert drain(predict_units_iter(tiny, stack, out, grid, **options)) == len(grid) == 8
    whole = tiny.predict(stack, axes="TYX", **options)
    # tiles sit at other places in a unit than in the whole image: a pixel changes by about as much as between
    # two tile sizes of one in-memory prediction (measured: 0.14 and 0.15 grey levels of 254, mean 0.003)
    scale = float(whole.max() - whole.min())
    assert np.abs(out - whole).max() < 1e-3 * scale and np.abs(out - whole).mean() < 2e-5 * scale
    other_tiles = tiny.predict(stack, axes="TYX", tile=160, overlap=48, device="cpu")
    assert np.abs(out - whole).max() <= 1.5 * np.abs(other_tiles - whole).max()


def test_crash_then_resume_recomputes_only_the_missing_units(tiny, stack, tmp_path):
    grid, header = grid_for(stack), {"model": model_digest(tiny), "tile": 96}
    reference = Recording(stack.shape)
    drain(predict_units_iter(tiny, stack, reference, grid, **TILE))
    out = Recording(stack.shape)
    # the "crash": three units, then the process is gone
    assert (
        drain(
            predict_units_iter(
                tiny, stack, out, grid, ledger=Ledger(tmp_path / "l", header), max_units=3, **TILE
            )
        )
        == 3
    )
    with open(tmp_path / "l", "a") as f:
        f.write("1,1")  # a line the crash cut short is not a finished unit
    out.writes.clear()
    ledger = Ledger(tmp_path / "l", header)
    assert len(ledger.done) == 3
    events = []
    gen = predict_units_iter(tiny, stack, out, grid, ledger=ledger, **TILE)
    while True:
        try:
            events.append(next(gen))
        except StopIteration as stop:
            assert stop.value == len(grid) - 3
            break
    assert (
        len(out.writes) == len(grid) - 3 and events[0].skipped == 3 and events[-1].fraction == 1.0
    )
    np.testing.assert_array_equal(out.array, reference.array)
    assert (tmp_path / "l").read_text().count("\n") == 1 + len(grid)


def test_a_full_disk_stops_with_a_message_and_the_ledger_stays_true(tiny, stack, tmp_path):
    grid, header = grid_for(stack), {"model": model_digest(tiny)}
    out = Recording(stack.shape, fail_after=2)
    with pytest.raises(OutputStateError) as failed:
        drain(
            predict_units_iter(
                tiny, stack, out, grid, ledger=Ledger(tmp_path / "l", header), **TILE
            )
        )
    assert failed.value.kind == "write_failed"
    # the advice is worded for a Python caller, and by a command line for its own flags
    assert (
        "disk is full. 2 of 8 units are written and recorded; Free some space and call again "
        "with resume=True" in str(failed.value)
    )
    assert "Free some space and run again with --resume to finish" in str(
        failed.value.worded(resume="run again with --resume")
    )
    ledger = Ledger(tmp_path / "l", header)
    assert len(ledger.done) == 2
    written = {tuple((s.start, s.stop) for s in w) for w in out.writes}
    assert {tuple((s.start, s.stop) for s in grid.out_slices(i)) for i in ledger.done} == written


def test_a_ledger_refuses_another_model_or_other_settings(tiny, tmp_path):
    Ledger(tmp_path / "l", {"model": model_digest(tiny), "tile": 96})
    with pytest.raises(InputError, match="started with another model"):
        Ledger(tmp_path / "l", {"model": "0" * 64, "tile": 96})
    with pytest.raises(InputError, match="other settings \\(tile 96 → 128\\)"):
        Ledger(tmp_path / "l", {"model": model_digest(tiny), "tile": 128})
    (tmp_path / "junk").write_text(json.dumps({"something": "else"}) + "\n")
    with pytest.raises(InputError, match="not a napari-n2n ledger"):
        Ledger(tmp_path / "junk", {"model": "x"})


def test_stopping_leaves_the_unit_in_progress_unrecorded(tiny, stack, tmp_path):
    grid, header = grid_for(stack), {"model": model_digest(tiny)}
    ledger = Ledger(tmp_path / "l", header)
    calls = {"n": 0}

    def stop_soon():
        calls["n"] += 1
        return calls["n"] > 3

    out = Recording(stack.shape)
    drain(predict_units_iter(tiny, stack, out, grid, ledger=ledger, should_stop=stop_soon, **TILE))
    assert len(Ledger(tmp_path / "l", header).done) == len(out.writes) < len(grid)


def test_a_garbled_ledger_line_is_redone_not_a_traceback(tiny, stack, tmp_path):
    grid, header = grid_for(stack), {"model": model_digest(tiny), "tile": 96}
    reference = Recording(stack.shape)
    drain(predict_units_iter(tiny, stack, reference, grid, **TILE))
    out = Recording(stack.shape)
    ledger = Ledger(tmp_path / "l", header)
    drain(predict_units_iter(tiny, stack, out, grid, ledger=ledger, max_units=3, **TILE))
    lines = (tmp_path / "l").read_bytes().split(b"\n")
    # the second unit's line garbled on the disk (bytes changed, not cut): "0,0,1" -> "0,\xff\x00x"
    lines[2] = b"0,\xff\x00x"
    (tmp_path / "l").write_bytes(b"\n".join(lines))
    out.writes.clear()
    with pytest.warns(UserWarning, match="1 garbled line.*denoised again"):
        resumed = Ledger(tmp_path / "l", header)
    assert len(resumed.done) == 2 and len(resumed.damaged) == 1
    drain(predict_units_iter(tiny, stack, out, grid, ledger=resumed, **TILE))
    # the unit of the garbled line is denoised again, with the ones never done
    assert len(out.writes) == len(grid) - 2
    np.testing.assert_array_equal(out.array, reference.array)
