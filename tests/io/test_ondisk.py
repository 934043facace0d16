"""Prediction to an OME-Zarr store on disk (napari_n2n.ondisk.output): a valid image with the input's metadata, the
in-memory result, never a store at the output path that looks complete before it is, and resumes."""

import numpy as np
import pytest

from napari_n2n.core.config import TrainConfig
from napari_n2n.core.errors import InputError, OutputError
from napari_n2n.core.training.train import Trainer
from napari_n2n.io import read_image, write_image

from .._helpers import TRAIN_TINY

zarr = pytest.importorskip("zarr")
OPTIONS = dict(chunks=(1, 128, 128), unit_voxels=128 * 128, tile=128, overlap=48, device="cpu")


@pytest.fixture(scope="module")
def model(gaussian_pair, tmp_path_factory):
    _, a, b = gaussian_pair
    trainer = Trainer(a, b, axes="YX", config=TrainConfig(**dict(TRAIN_TINY, steps=30)))
    list(trainer.run())
    return trainer.denoiser().save(tmp_path_factory.mktemp("model") / "m.n2n")


@pytest.fixture
def store(gaussian_pair, tmp_path):
    _, a, b = gaussian_pair
    stack = np.stack([a[:, :200], b[:, 56:]])
    return write_image(
        tmp_path / "raw.ome.zarr",
        stack,
        axes="TYX",
        pixel_size={"Y": 0.2, "X": 0.3},
        unit="µm",
        translation={"X": 5.0},
    ), stack


def test_the_output_is_a_valid_ome_zarr_with_the_input_metadata_and_the_in_memory_result(
    model, store, tmp_path
):
    import yaozarrs

    from napari_n2n import Denoiser
    from napari_n2n.ondisk.output import partial_path, predict_to_zarr

    raw, stack = store
    out = predict_to_zarr(model, raw, tmp_path / "den.ome.zarr", **OPTIONS)
    yaozarrs.validate_zarr_store(str(out))
    result = read_image(out)
    assert (
        result.axes == "TYX"
        and result.pixel_size == {"Y": 0.2, "X": 0.3}
        and result.translation == {"X": 5.0}
    )
    whole = Denoiser.load(model).predict(stack, axes="TYX", tile=128, overlap=48, device="cpu")
    assert np.abs(result.data[:] - whole).max() < 1e-3 * float(whole.max() - whole.min())
    assert not partial_path(out).exists() and not (out / "n2n-ledger.jsonl").exists()
    attrs = zarr.open_group(str(out), mode="r").attrs["napari_n2n"]
    assert attrs["complete"] and attrs["settings"]["tile"] == 128
    with pytest.raises(OutputError, match="already exists. To replace it, pass overwrite=True"):
        predict_to_zarr(model, raw, out, **OPTIONS)
    # a resume of a finished run with the same model and settings has nothing to do
    before = (out / "0" / "zarr.json").stat().st_mtime_ns
    assert predict_to_zarr(model, raw, out, resume=True, **OPTIONS) == out
    assert (out / "0" / "zarr.json").stat().st_mtime_ns == before


def test_crash_and_resume_in_the_store_recompute_only_missing_units(
    model, store, tmp_path, monkeypatch
):
    from napari_n2n.core.inference import chunked
    from napari_n2n.core.progress import drain
    from napari_n2n.ondisk.output import partial_path, predict_to_zarr, predict_to_zarr_iter

    raw, _ = store
    reference = predict_to_zarr(model, raw, tmp_path / "ref.ome.zarr", **OPTIONS)
    out = tmp_path / "den.ome.zarr"
    assert drain(predict_to_zarr_iter(model, raw, out, max_units=3, **OPTIONS)) is None  # the crash
    # nothing at the output path looks complete
    assert not out.exists() and partial_path(out).is_dir()
    with pytest.raises(
        OutputError, match="unfinished result of an earlier run.*call again with resume=True"
    ):
        predict_to_zarr(model, raw, out, **OPTIONS)
    level0 = zarr.open_array(str(partial_path(out) / "0"), mode="r+")
    level0[0, :128, :128] = -1  # a unit the ledger lists: a resume must not touch it
    denoised = []
    real = chunked.denoise_unit_iter
    monkeypatch.setattr(
        chunked, "denoise_unit_iter", lambda *a, **k: denoised.append(a[3]) or real(*a, **k)
    )
    predict_to_zarr(model, raw, out, resume=True, **OPTIONS)
    assert len(denoised) == 8 - 3
    ref = zarr.open_array(str(reference / "0"), mode="r")[:]
    got = zarr.open_array(str(out / "0"), mode="r")[:]
    assert (got[0, :128, :128] == -1).all()  # skipped: recorded as done
    got[0, :128, :128] = ref[0, :128, :128]
    np.testing.assert_array_equal(got, ref)


def test_resuming_with_another_model_or_settings_is_refused(model, store, tmp_path, gaussian_pair):
    from napari_n2n.core.progress import drain
    from napari_n2n.ondisk.output import predict_to_zarr, predict_to_zarr_iter

    raw, _ = store
    out = tmp_path / "den.ome.zarr"
    drain(predict_to_zarr_iter(model, raw, out, max_units=2, **OPTIONS))
    _, a, b = gaussian_pair
    trainer = Trainer(b, a, axes="YX", config=TrainConfig(**dict(TRAIN_TINY, seed=5)))
    list(trainer.run())
    with pytest.raises(InputError, match="started with another model"):
        predict_to_zarr(trainer.denoiser(), raw, out, resume=True, **OPTIONS)
    with pytest.raises(InputError, match="other settings \\(tile 128 → 96\\)"):
        predict_to_zarr(model, raw, out, resume=True, **dict(OPTIONS, tile=96))
    # overwrite starts over
    assert predict_to_zarr(model, raw, out, overwrite=True, **dict(OPTIONS, tile=96)) == out


def test_outputs_inside_the_input_or_holding_it_are_refused(model, store, tmp_path):
    from napari_n2n.ondisk.output import predict_to_zarr

    raw, _ = store
    with pytest.raises(OutputError, match="inside the input"):
        predict_to_zarr(model, raw, raw / "den.ome.zarr", **OPTIONS)
    with pytest.raises(OutputError, match="the input .* is inside it"):
        predict_to_zarr(model, raw / "0", raw, overwrite=True, **OPTIONS)
    with pytest.raises(InputError, match="writes OME-Zarr"):
        predict_to_zarr(model, raw, tmp_path / "den.tif", **OPTIONS)
    assert read_image(raw).shape == (2, 256, 200)


def test_arrays_with_the_input_dtype_and_a_3d_chunking(model, tmp_path, gaussian_pair):
    from napari_n2n.ondisk.output import predict_to_zarr

    _, a, _ = gaussian_pair
    # ZYX, denoised slice by slice
    u16 = np.clip(np.stack([a, a[::-1]]) * 10 + 100, 0, 65535).astype(np.uint16)
    out = predict_to_zarr(
        model, u16, tmp_path / "u16.ome.zarr", axes="ZYX", dtype="input", **OPTIONS
    )
    result = read_image(out)
    assert result.axes == "ZYX" and result.data.dtype == np.uint16 and result.shape == u16.shape


FULL_DISK = """
import json, os, sys
import numpy as np
from napari_n2n.core.errors import OutputError
from napari_n2n.ondisk.output import predict_to_zarr_iter, predict_to_zarr
model, folder = sys.argv[1], sys.argv[2]
stack = np.load(sys.argv[3])
options = dict(chunks=(1, 128, 128), unit_voxels=128 * 128, tile=128, overlap=48, device="cpu")
out = os.path.join(folder, "den.ome.zarr")
filler = os.path.join(folder, "filler")
message = None
try:
    for event in predict_to_zarr_iter(model, stack, out, axes="TYX", **options):
        if event.done == 2 and not os.path.exists(filler):  # the disk fills up (another program) after 2 units
            with open(filler, "wb", buffering=0) as f:
                try:
                    while True:
                        f.write(b"x" * 4096)
                except OSError:
                    pass
except OutputError as exc:
    message = str(exc)
os.remove(filler)
predict_to_zarr(model, stack, out, axes="TYX", resume=True, **options)
import zarr
np.save(sys.argv[4], zarr.open_array(os.path.join(out, "0"), mode="r")[:])
print(json.dumps({"message": message}))
"""


def test_a_disk_that_fills_up_stops_the_run_and_a_resume_finishes_it(model, store, tmp_path):
    import json

    from napari_n2n.ondisk.output import predict_to_zarr

    from .._fs import in_tiny_tmpfs

    raw, stack = store
    np.save(tmp_path / "stack.npy", stack)
    reference = predict_to_zarr(model, stack, tmp_path / "ref.ome.zarr", axes="TYX", **OPTIONS)
    proc = in_tiny_tmpfs(
        tmp_path / "mnt",
        4096,
        FULL_DISK,
        str(model),
        str(tmp_path / "mnt"),
        str(tmp_path / "stack.npy"),
        str(tmp_path / "result.npy"),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    message = json.loads(proc.stdout.strip().splitlines()[-1])["message"]
    assert message and "the disk is full" in message and "units are written and recorded" in message
    np.testing.assert_array_equal(
        np.load(tmp_path / "result.npy"), zarr.open_array(str(reference / "0"))[:]
    )


def test_options_as_objects_and_errors_that_callers_word_for_their_controls(model, store, tmp_path):
    from napari_n2n.core.errors import OutputStateError
    from napari_n2n.core.inference.predict import PredictOptions
    from napari_n2n.core.progress import drain
    from napari_n2n.ondisk.output import Chunking, predict_to_zarr, predict_to_zarr_iter

    raw, _ = store
    by_keywords = predict_to_zarr(model, raw, tmp_path / "k.ome.zarr", **OPTIONS)
    by_objects = predict_to_zarr(
        model,
        raw,
        tmp_path / "o.ome.zarr",
        options=PredictOptions(tile=128, overlap=48, device="cpu"),
        chunking=Chunking(chunks=(1, 128, 128), unit_voxels=128 * 128),
    )
    settings = [
        zarr.open_group(str(p), mode="r").attrs["napari_n2n"]["settings"]
        for p in (by_keywords, by_objects)
    ]
    assert settings[0] == settings[1]  # so a resume accepts either
    np.testing.assert_array_equal(
        zarr.open_array(str(by_keywords / "0"))[:], zarr.open_array(str(by_objects / "0"))[:]
    )
    with pytest.raises(TypeError, match="unexpected keyword argument 'tiles'"):
        predict_to_zarr(model, raw, tmp_path / "x.ome.zarr", tiles=128)
    with pytest.raises(InputError, match="chunk size"):
        Chunking(chunks=(1, 0, 128))

    with pytest.raises(OutputStateError) as exists:
        predict_to_zarr(model, raw, by_keywords, **OPTIONS)
    assert exists.value.kind == "exists" and exists.value.path == by_keywords
    assert str(exists.value.worded(overwrite="add --overwrite")).endswith(
        "already exists. To replace it, add --overwrite; or choose another name."
    )
    out = tmp_path / "cut.ome.zarr"
    drain(predict_to_zarr_iter(model, raw, out, max_units=1, **OPTIONS))
    with pytest.raises(OutputStateError) as unfinished:
        predict_to_zarr(model, raw, out, **OPTIONS)
    assert unfinished.value.kind == "unfinished"
    worded = unfinished.value.worded(
        resume="run it again with --resume", overwrite="add --overwrite"
    )
    assert "To finish it, run it again with --resume; to start over, add --overwrite." in str(
        worded
    )
    with pytest.raises(OutputStateError) as mismatch:
        predict_to_zarr(model, raw, out, resume=True, **dict(OPTIONS, overlap=32))
    assert mismatch.value.kind == "mismatch" and "overlap 48 → 32" in str(mismatch.value)


def test_a_resume_with_other_chunks_is_refused_not_silently_given_the_old_ones(
    model, store, tmp_path
):
    from napari_n2n.core.errors import OutputStateError
    from napari_n2n.core.progress import drain
    from napari_n2n.ondisk.output import partial_path, predict_to_zarr, predict_to_zarr_iter

    raw, _ = store
    out = tmp_path / "den.ome.zarr"
    drain(predict_to_zarr_iter(model, raw, out, max_units=2, **OPTIONS))
    # the same units of work (whole chunks grown to 128×128), other chunks
    other = dict(OPTIONS, chunks=(1, 64, 64))
    with pytest.raises(
        OutputStateError, match=r"started with chunks \(1, 128, 128\), not \(1, 64, 64\)"
    ):
        predict_to_zarr(model, raw, out, resume=True, **other)
    assert partial_path(out).is_dir() and not out.exists()  # nothing lost
    # the chunks it was started with finish it; overwrite starts over with the new ones
    assert predict_to_zarr(model, raw, out, resume=True, **OPTIONS) == out
    out2 = tmp_path / "den2.ome.zarr"
    drain(predict_to_zarr_iter(model, raw, out2, max_units=2, **OPTIONS))
    predict_to_zarr(model, raw, out2, overwrite=True, **other)
    assert zarr.open_array(str(out2 / "0"), mode="r").chunks == (1, 64, 64)


def _python(code: str):
    """A real second process running ``code`` with this package."""
    import os
    import subprocess
    import sys

    import napari_n2n

    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(napari_n2n.__file__)))
    return subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, text=True
    )


def test_two_runs_never_write_one_output_and_a_dead_runs_lock_is_taken_over(model, store, tmp_path):
    from napari_n2n.core.errors import OutputStateError
    from napari_n2n.core.progress import drain
    from napari_n2n.ondisk.output import (
        lock_path,
        partial_path,
        predict_to_zarr,
        predict_to_zarr_iter,
    )

    raw, _ = store
    out = tmp_path / "den.ome.zarr"
    drain(predict_to_zarr_iter(model, raw, out, max_units=2, **OPTIONS))
    ledger = (partial_path(out) / "n2n-ledger.jsonl").read_bytes()
    # a second run, in its own process, holds the output's lock while it writes
    other = _python(
        "import time\n"
        "from napari_n2n.ondisk.lock import WriterLock\n"
        f"WriterLock({str(lock_path(out))!r}, what='x').acquire()\n"
        "print('held', flush=True)\n"
        "time.sleep(120)\n"
    )
    try:
        assert other.stdout.readline().strip() == "held"
        with pytest.raises(
            OutputStateError, match=rf"Another run \(process {other.pid} on .*\) is writing"
        ) as info:
            predict_to_zarr(model, raw, out, resume=True, **OPTIONS)
        assert info.value.kind == "locked"
        with pytest.raises(OutputStateError, match="is writing"):
            predict_to_zarr(model, raw, out, overwrite=True, **OPTIONS)  # nor starts over under it
        assert (partial_path(out) / "n2n-ledger.jsonl").read_bytes() == ledger  # untouched
    finally:
        other.kill()  # SIGKILL: its lock file stays, stale
        other.wait()
    assert lock_path(out).read_text().split()[0] == str(other.pid)
    assert predict_to_zarr(model, raw, out, resume=True, **OPTIONS) == out
    assert not lock_path(out).exists() and not partial_path(out).exists()


def test_a_run_that_finds_the_output_finished_by_another_run_says_so(
    model, store, tmp_path, monkeypatch
):
    from napari_n2n.core.errors import OutputStateError
    from napari_n2n.ondisk import lock
    from napari_n2n.ondisk.output import predict_to_zarr

    raw, _ = store
    out = tmp_path / "den.ome.zarr"
    real = lock.WriterLock.acquire

    def another_run_finishes_first(self):
        # between this run's checks and its lock, another process writes the whole output
        other = _python(
            "from napari_n2n.ondisk.output import predict_to_zarr\n"
            f"predict_to_zarr({str(model)!r}, {str(raw)!r}, {str(out)!r}, **{OPTIONS!r})\n"
        )
        assert other.wait() == 0
        real(self)

    monkeypatch.setattr(lock.WriterLock, "acquire", another_run_finishes_first)
    with pytest.raises(
        OutputStateError,
        match="Another run finished .*den.ome.zarr while this one was starting; nothing was written",
    ):
        predict_to_zarr(model, raw, out, **OPTIONS)
    before = (out / "0" / "zarr.json").stat().st_mtime_ns
    monkeypatch.setattr(lock.WriterLock, "acquire", real)
    assert predict_to_zarr(model, raw, out, resume=True, **OPTIONS) == out
    assert (out / "0" / "zarr.json").stat().st_mtime_ns == before
