"""Issue #11 in a real viewer: layer edits during training, bad model files, failed saves, closing the viewer."""

from __future__ import annotations

import gc
import json
import threading
import time
import weakref
from pathlib import Path

import numpy as np
import pytest

from napari_n2n.widgets._registry import MODELS
from napari_n2n.widgets.denoise.widget import DenoiseWidget
from napari_n2n.widgets.train.widget import TrainWidget

from .._helpers import add_widget, wait_training
from ._forms import set_tiny


@pytest.fixture
def train(viewer):
    return add_widget(viewer, TrainWidget)


def _pair(viewer, small_pair):
    _, a, b = small_pair
    return viewer.add_image(a.copy(), name="A"), viewer.add_image(b.copy(), name="B")


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# ---- the data training started with ------------------------------------------------------------------
def test_replacing_the_input_with_a_3d_array_during_training_raises_nothing(
    viewer, qtbot, small_pair, train, notes
):
    la, lb = _pair(viewer, small_pair)
    train.form.input_layer.value, train.form.target_layer.value = la, lb
    set_tiny(train, steps=2000)
    train.preview.every_s = 0.0
    train.start()
    run = train.session
    qtbot.waitUntil(lambda: train.preview.shown >= 1, timeout=60_000)
    # another shape, another dimensionality
    la.data = np.zeros((3, *la.data.shape), dtype=np.float32)
    steps = len(run.trainer.history["step"])
    qtbot.waitUntil(lambda: len(run.trainer.history["step"]) >= steps + 5, timeout=60_000)
    assert train.busy  # training goes on with the data it started with
    train.stop()
    wait_training(qtbot, train)
    assert not notes.errors and not notes.tracebacks()
    assert any("were replaced" in text and "previews are off" in text for text in notes.infos), (
        notes.infos
    )
    assert len(MODELS) == 1


def test_editing_the_input_in_place_during_training_changes_nothing_for_the_run(
    viewer, qtbot, small_pair, train, notes
):
    la, lb = _pair(viewer, small_pair)
    original = la.data.copy()
    train.form.input_layer.value, train.form.target_layer.value = la, lb
    set_tiny(train, steps=2000)
    train.start()
    run = train.session
    qtbot.waitUntil(lambda: len(run.trainer.history["step"]) >= 2, timeout=60_000)
    la.data[...] = 1e6  # in place: napari is not told, the array is the same object
    trained_on = run.trainer.input
    assert trained_on is not la.data and np.array_equal(trained_on, original)
    steps = len(run.trainer.history["step"])
    qtbot.waitUntil(lambda: len(run.trainer.history["step"]) >= steps + 3, timeout=60_000)
    train.stop()
    wait_training(qtbot, train)
    losses = run.trainer.history["train_loss"]
    # not the edited data (1e6 would dwarf the loss)
    assert max(losses[steps:]) < 10 * max(losses[:steps])
    assert not notes.errors and not notes.warnings


def test_an_array_too_large_to_copy_is_checked_and_an_edit_reported(
    viewer, qtbot, small_pair, train, notes, monkeypatch
):
    import napari_n2n.widgets._layers as layers

    monkeypatch.setattr(layers, "COPY_SHARE", 0.0)  # as if the layer took all the memory
    la, lb = _pair(viewer, small_pair)
    train.form.input_layer.value, train.form.target_layer.value = la, lb
    set_tiny(train, steps=2000)
    train.start()
    run = train.session
    qtbot.waitUntil(lambda: len(run.trainer.history["step"]) >= 2, timeout=60_000)
    assert run.trainer.input is la.data  # not copied
    la.data[::7, ::5] += 50.0
    train.stop()
    wait_training(qtbot, train)
    assert len(notes.warnings) == 1 and "changed while training" in notes.warnings[0]


# ---- model files ---------------------------------------------------------------------------------------------
def _rewrite(src: Path, dst: Path, *, payload=None, meta=None) -> Path:
    """A copy of the model file ``src`` with its metadata (or its JSON payload) changed."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(src), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
        metadata = dict(f.metadata())
    if payload is not None:
        metadata["payload"] = json.dumps(payload(json.loads(metadata["payload"])))
    metadata.update(meta or {})
    save_file(tensors, str(dst), metadata=metadata)
    return dst


@pytest.mark.parametrize("case", ["format_version", "history", "info", "unet", "not a model"])
def test_load_model_file_never_lets_an_exception_escape(viewer, tiny_model, tmp_path, notes, case):
    good = Path(tiny_model.save(tmp_path / "good.n2n"))
    bad = tmp_path / f"{case}.n2n"
    if case == "format_version":
        _rewrite(good, bad, meta={"format_version": "two"})
    elif case == "history":
        _rewrite(good, bad, payload=lambda p: {**p, "history": ["not", "a", "history"]})
    elif case == "info":
        _rewrite(good, bad, payload=lambda p: {**p, "info": 7})
    elif case == "unet":
        _rewrite(good, bad, payload=lambda p: {**p, "unet": {**p["unet"], "depth": "deep"}})
    else:
        bad.write_bytes(b"\x00" * 100)
    denoise = add_widget(viewer, DenoiseWidget)
    assert denoise.load_model(bad) is None  # nothing raised
    assert len(MODELS) == 0  # and nothing added that would raise on every selection
    assert len(notes.errors) == 1 and bad.name in notes.errors[0] and not notes.tracebacks(), (
        notes.errors
    )
    assert denoise.load_model(good) is not None and "2D U-Net" in denoise.model_info.value


def _train_briefly(viewer, qtbot, small_pair, train) -> None:
    """Two steps of training on the small pair, to the end of the run."""
    la, lb = _pair(viewer, small_pair)
    train.form.input_layer.value, train.form.target_layer.value = la, lb
    set_tiny(train, steps=2)
    train.start()
    wait_training(qtbot, train)


def test_a_failed_save_is_a_notification_and_the_model_stays(
    viewer, qtbot, small_pair, train, tmp_path, notes, monkeypatch
):
    _train_briefly(viewer, qtbot, small_pair, train)
    den = train.denoiser

    def full_disk(path, **options):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(den, "save", full_disk)
    assert train.save_model(tmp_path / "m.n2n") is None
    monkeypatch.setattr(
        den,
        "save",
        lambda path, **options: (_ for _ in ()).throw(RuntimeError("SafetensorError: I/O error")),
    )
    assert train.save_model(tmp_path / "m.n2n") is None
    assert len(notes.errors) == 2 and all(
        "m.n2n" in e and "still here" in e for e in notes.errors
    ), notes.errors
    assert not notes.tracebacks() and train.denoiser is den and len(MODELS) == 1
    monkeypatch.undo()
    assert train.save_model(tmp_path / "m.n2n") == str(tmp_path / "m.n2n")


# ---- closing the viewer ------------------------------------------------------------------------------------------
def test_closing_the_viewer_during_training_stops_the_data_thread_and_frees_the_data(
    make_napari_viewer, qtbot, notes
):
    """A 2 × 64 MiB pair: after closing, no prefetch thread, no trainer, and the run's memory (copies) back."""
    from qtpy.QtCore import QThreadPool

    viewer = make_napari_viewer()
    train = add_widget(viewer, TrainWidget)
    rng = np.random.default_rng(0)
    shape = (4096, 4096)  # 64 MiB per float32 layer
    la = viewer.add_image(rng.normal(100, 10, shape).astype(np.float32), name="big A")
    lb = viewer.add_image(rng.normal(100, 10, shape).astype(np.float32), name="big B")
    gc.collect()
    # the layers stay in the viewer's model (the test holds the viewer): only the run's memory
    base = _rss_mb()
    train.form.input_layer.value, train.form.target_layer.value = la, lb
    set_tiny(train, steps=100_000)
    train.form.show_preview.value = False
    train.start()
    trainer = weakref.ref(train.session.trainer)  # no strong reference from the test
    qtbot.waitUntil(lambda: len(trainer().history["step"]) >= 2, timeout=60_000)
    during = _rss_mb()
    del la, lb
    viewer.close()
    qtbot.waitUntil(lambda: QThreadPool.globalInstance().activeThreadCount() == 0, timeout=10_000)
    deadline = time.perf_counter() + 10
    while time.perf_counter() < deadline and any(
        t.name == "n2n-prefetch" for t in threading.enumerate()
    ):
        qtbot.wait(50)
    qtbot.wait(200)
    gc.collect()
    after = _rss_mb()
    print(f"RSS: before {base:.0f} MB, training {during:.0f} MB, after closing {after:.0f} MB")
    assert not any(t.name == "n2n-prefetch" for t in threading.enumerate())
    assert trainer() is None  # the trainer, its data and copies are gone
    assert during - base > 100  # the copies of the two layers (2 × 64 MiB) and the run
    assert after - base < 0.25 * (during - base), (base, during, after)
    assert not notes.errors and not notes.tracebacks()


def test_save_replaces_a_file_only_when_the_dialog_asked(
    viewer, qtbot, small_pair, train, tmp_path, notes, monkeypatch
):
    """Denoiser.save never replaces a file unless told; the Save dialog asks the user, so its choice replaces."""
    _train_briefly(viewer, qtbot, small_pair, train)
    (tmp_path / "m.n2n").write_bytes(b"an older model")
    assert train.save_model(tmp_path / "m.n2n") is None and "already exists" in notes.errors[-1]
    assert (tmp_path / "m.n2n").read_bytes() == b"an older model"
    monkeypatch.setattr(
        "napari_n2n.widgets.train.widget.ask_save_path",
        lambda parent, source: str(tmp_path / "m.n2n"),
    )
    assert train.save_model_as() == str(tmp_path / "m.n2n")
    assert (tmp_path / "m.n2n").read_bytes() != b"an older model"
