"""BioImage Model Zoo in napari: Denoise loads packages (asking before package code runs) and exports
models; the Layers > Filter > Denoising menu runs the plain denoise function."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from napari_n2n.widgets._registry import MODELS
from napari_n2n.widgets.denoise.widget import DenoiseWidget

from .._helpers import add_widget


@pytest.fixture
def denoise(viewer):
    return add_widget(viewer, DenoiseWidget)


@pytest.fixture
def package(tiny_model, tmp_path, monkeypatch):
    """The tiny model as a Zoo package (state dict only, untested: quick), bioimageio's cache in tmp."""
    from bioimageio.spec._internal._settings import settings

    from napari_n2n.bmz import export_bmz

    monkeypatch.setattr(settings, "cache_path", tmp_path / "cache")
    return export_bmz(tiny_model, tmp_path / "tiny.bioimageio.zip", name="tiny model", test=False)


def test_export_from_the_denoise_widget(
    viewer, qtbot, denoise, tiny_model, small_pair, tmp_path, notes
):
    from bioimageio.spec._internal._settings import settings

    from napari_n2n.bmz import load_bmz

    settings.cache_path = tmp_path / "cache"
    assert not denoise.export_button.enabled  # no model yet
    MODELS.add(tiny_model, "N2N · tiny")
    assert denoise.export_button.enabled
    viewer.add_image(small_pair[1], name="A")
    denoise.reset_choices()
    path = tmp_path / "exported.bioimageio.zip"
    job = denoise.export_model(path, authors=["A. Person"], torchscript=True)
    assert job is not None and denoise.busy and not denoise.denoise_button.enabled
    qtbot.waitUntil(lambda: not denoise.busy, timeout=180_000)
    assert not notes.errors, notes.errors
    assert any("passed bioimageio.core's model test" in m for m in notes.infos)
    assert denoise.denoise_button.enabled and denoise.export_button.enabled
    model = load_bmz(path)
    assert model.name == "N2N - tiny" and model.weight_format in (
        "pytorch_state_dict",
        "torchscript",
    )
    with zipfile.ZipFile(path) as zf:  # the chosen layer is the package's test image
        test_input = np.load(zf.open("test_input.npy"))
    assert test_input.shape[-2:] == small_pair[1].shape  # (valid sizes already)
    np.testing.assert_allclose(test_input[0, 0], small_pair[1])


def test_load_package_and_denoise(viewer, qtbot, denoise, package, small_pair, notes):
    from napari_n2n.bmz import load_bmz

    entry = denoise.load_model(package)
    assert entry is not None and denoise.model.value is entry
    assert "BioImage Model Zoo model 'tiny model'" in denoise.model_info.value
    assert not denoise.export_button.enabled  # already a package
    layer = viewer.add_image(small_pair[1], name="A")
    denoise.reset_choices()
    denoise.image_layer.value = layer
    denoise.start()
    qtbot.waitUntil(lambda: not denoise.busy, timeout=60_000)
    assert not notes.errors, notes.errors
    expected = load_bmz(package).predict(small_pair[1])
    np.testing.assert_allclose(denoise.last_layer.data, expected, rtol=1e-5, atol=1e-4)


def test_package_code_runs_only_if_the_user_says_yes(
    denoise, package, tmp_path, monkeypatch, notes
):
    from qtpy.QtWidgets import QMessageBox

    from ..bmz._packages import rewrite_package

    with zipfile.ZipFile(package) as zf:
        code = zf.read("n2n_unet_v1.py") + b"\n# not napari-n2n's\n"
    pkg = rewrite_package(package, tmp_path / "code.bioimageio.zip", files={"n2n_unet_v1.py": code})
    asked = []

    def answer(reply):
        def question(parent, title, text, *args):
            asked.append(text)
            return reply

        return question

    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.No))
    assert denoise.load_model(pkg) is None and len(MODELS) == 0
    assert "Python file n2n_unet_v1.py" in asked[0] and not notes.errors
    monkeypatch.setattr(QMessageBox, "question", answer(QMessageBox.StandardButton.Yes))
    assert denoise.load_model(pkg) is not None and len(MODELS) == 1


def test_bad_files_are_one_notification(denoise, tmp_path, notes):
    bad = tmp_path / "x.bioimageio.zip"
    bad.write_bytes(b"not a zip")
    assert denoise.load_model(bad) is None
    assert len(notes.errors) == 1 and "not a napari-n2n model file" in notes.errors[0]


def test_denoising_menu_function_in_a_viewer(viewer, package, small_pair):
    """The menu entry: napari builds the panel from the function; calling it adds the denoised layer."""
    from napari_n2n.bmz import load_bmz

    viewer.add_image(small_pair[1], name="A")
    dock, panel = viewer.window.add_plugin_dock_widget("napari-n2n", "Denoise with a model file")
    panel.model_file.value = package
    panel()
    out = viewer.layers[-1]
    assert out is not viewer.layers["A"]
    np.testing.assert_allclose(
        out.data, load_bmz(package).predict(small_pair[1]), rtol=1e-5, atol=1e-4
    )
