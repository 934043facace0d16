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
    # and the user is told that the edit was not learnt from (issue 23 item 16)
    told = [text for text in notes.infos if "was edited while training" in text]
    assert len(told) == 1 and f"'{la.name}' (input)" in told[0], notes.infos


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
    """A 2 × 64 MiB pair: after closing, no prefetch thread, no trainer, and the run's copies freed.

    What is freed is checked object by object (weak references to the trainer and to the copies
    of the two layers it trains on), not by the process's memory, which other work moves.
    """
    from qtpy.QtCore import QThreadPool

    viewer = make_napari_viewer()
    train = add_widget(viewer, TrainWidget)
    rng = np.random.default_rng(0)
    shape = (4096, 4096)  # 64 MiB per float32 layer
    la = viewer.add_image(rng.normal(100, 10, shape).astype(np.float32), name="big A")
    lb = viewer.add_image(rng.normal(100, 10, shape).astype(np.float32), name="big B")
    train.form.input_layer.value, train.form.target_layer.value = la, lb
    set_tiny(train, steps=100_000)
    train.form.show_preview.value = False
    train.start()
    trainer = weakref.ref(train.session.trainer)  # no strong reference from the test
    qtbot.waitUntil(lambda: len(trainer().history["step"]) >= 2, timeout=60_000)
    # the run trains on copies of the layers' data (64 MiB each), not on the layers' arrays
    trained_on = (trainer().input, trainer().target)
    assert all(a is not layer.data for a, layer in zip(trained_on, (la, lb), strict=True))
    assert all(a.nbytes == 64 * 2**20 for a in trained_on)
    copies = [weakref.ref(a) for a in trained_on]
    del trained_on, la, lb
    viewer.close()
    qtbot.waitUntil(lambda: QThreadPool.globalInstance().activeThreadCount() == 0, timeout=10_000)
    deadline = time.perf_counter() + 10
    while time.perf_counter() < deadline and any(
        t.name == "n2n-prefetch" for t in threading.enumerate()
    ):
        qtbot.wait(50)
    qtbot.wait(200)
    gc.collect()
    assert not any(t.name == "n2n-prefetch" for t in threading.enumerate())
    assert trainer() is None  # the trainer, its data and copies are gone
    assert all(copy() is None for copy in copies)
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


# ---- leaving Python right after closing the viewer (issue 23, item 14) ---------------------------------
_CLOSE_SCRIPT = """
import sys, time
import numpy as np
import napari
from qtpy.QtWidgets import QApplication
from napari_n2n.widgets.denoise.widget import DenoiseWidget
from napari_n2n.widgets.noisy_pairs.widget import NoisyPairsWidget
from napari_n2n.widgets.train.widget import TrainWidget

viewer = napari.Viewer(show=True)
rng = np.random.default_rng(0)
for name in ("A", "B"):
    viewer.add_image(rng.normal(100, 10, (96, 96)).astype(np.float32), name=name)
docks = [cls(viewer) for cls in (NoisyPairsWidget, TrainWidget, DenoiseWidget)]
for widget in docks:
    viewer.window.add_dock_widget(widget, name=type(widget).__name__)
train = docks[1]
if sys.argv[1] == "training":
    form = train.form
    form.input_layer.value, form.target_layer.value = viewer.layers["A"], viewer.layers["B"]
    form.budget.value, form.steps.value = "steps", 100_000
    form.patch_size.value, form.batch_size.value, form.network.value = 32, 4, "cpu-quick"
    train.start()
    end = time.perf_counter() + 120
    while time.perf_counter() < end and not train.session.trainer.history["step"]:
        QApplication.processEvents()
        time.sleep(0.01)
    assert train.session.trainer.history["step"], "no step in 120 s"
viewer.close()  # and leave at once: the workers still run
print("closed", flush=True)
"""


@pytest.mark.parametrize("when", ["opened", "training"])
def test_closing_the_viewer_and_leaving_python_at_once_exits_cleanly(tmp_path, when):
    """The docks' workers (the device check at start-up, a training run) end before Python deletes their signals."""
    import subprocess
    import sys

    script = tmp_path / "close.py"
    script.write_text(_CLOSE_SCRIPT)
    done = subprocess.run(
        [sys.executable, str(script), when], capture_output=True, text=True, timeout=300
    )
    assert "closed" in done.stdout, done.stderr[-3000:]
    assert done.returncode == 0, done.stderr[-3000:]
    assert "has been deleted" not in done.stderr, done.stderr[-3000:]
