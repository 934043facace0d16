"""The npe2 manifest: valid, its widgets open under Plugins → napari-n2n, its samples open with a clean reference."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from napari_n2n.core.metrics import psnr
from napari_n2n.widgets._layers import n2n_meta

WIDGETS = {
    "Noisy pairs": "NoisyPairsWidget",
    "Train Noise2Noise": "TrainWidget",
    "Denoise": "DenoiseWidget",
}
#: panels napari builds from a plain function's signature (npe2 ``autogenerate``)
FUNCTION_WIDGETS = {"Denoise with a model file": "denoise_layer"}


def test_manifest_is_valid_and_its_python_names_import():
    from npe2 import PluginManifest

    pm = PluginManifest.from_distribution("napari-n2n")
    pm.validate_imports()
    assert {w.display_name for w in pm.contributions.widgets} == set(WIDGETS) | set(
        FUNCTION_WIDGETS
    )
    assert {s.key for s in pm.contributions.sample_data} == {"pair_2d", "volume_3d", "digits"}


def test_npe2_validate_command():
    npe2 = [sys.executable, "-m", "npe2", "validate", "napari-n2n"]
    result = subprocess.run(npe2, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "valid" in result.stdout, result.stdout + result.stderr


def test_widget_modules_import_without_torch_or_napari():
    code = (
        "import sys, napari_n2n.widgets.train.widget, napari_n2n.widgets.denoise.widget, napari_n2n.widgets.noisy_pairs.widget, "
        "napari_n2n._sample_data; heavy = [m for m in ('torch', 'napari') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr


#: run in a fresh process: records the thread that first imports torch, then opens a viewer and every widget
_OPEN_WIDGETS = """
import sys, threading, importlib.abc
first = []
class Watch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" and not first:
            first.append(threading.current_thread().name)
        return None
sys.meta_path.insert(0, Watch())
import napari
from qtpy.QtWidgets import QApplication
from napari_n2n.widgets.denoise.widget import DenoiseWidget
from napari_n2n.widgets.noisy_pairs.widget import NoisyPairsWidget
from napari_n2n.widgets.train.widget import TrainWidget
viewer = napari.Viewer(show=False)
for cls in (NoisyPairsWidget, TrainWidget, DenoiseWidget):
    viewer.window.add_dock_widget(cls(viewer))
    QApplication.processEvents()
print("FIRST-TORCH-IMPORT:", first[0] if first else "none")
viewer.close()
"""


def test_opening_the_widgets_never_imports_torch_on_the_main_thread():
    """torch takes seconds to import: the Train widget's warm-up and device label do it off the main thread."""
    out = subprocess.run(
        [sys.executable, "-c", _OPEN_WIDGETS], capture_output=True, text=True, timeout=300
    )
    line = next((l for l in out.stdout.splitlines() if l.startswith("FIRST-TORCH-IMPORT:")), "")
    assert line and line.split(":", 1)[1].strip() != "MainThread", out.stdout + out.stderr


def test_widgets_open_from_the_plugins_menu(viewer):
    for display_name, cls_name in WIDGETS.items():
        dock, widget = viewer.window.add_plugin_dock_widget("napari-n2n", display_name)
        # (a public-only proxy)
        assert type(widget).__name__ == cls_name and widget.viewer == viewer


@pytest.mark.parametrize(
    "key, ndim, scale",
    [("pair_2d", 2, None), ("volume_3d", 3, (2.0, 1.0, 1.0)), ("digits", 2, None)],
)
def test_samples_open_with_a_clean_reference(viewer, key, ndim, scale):
    layers = viewer.open_sample("napari-n2n", key)
    assert len(layers) == 3
    roles = {n2n_meta(layer).get("role"): layer for layer in layers}
    clean, a, b = roles["clean"], roles["noisy A"], roles["noisy B"]
    assert clean.data.ndim == ndim and a.data.shape == b.data.shape == clean.data.shape
    assert not clean.visible and a.visible
    assert n2n_meta(a)["partner"] == b.name and n2n_meta(a)["clean"] == clean.name
    if scale:
        np.testing.assert_allclose(a.scale, scale)
    noisy_db = psnr(clean.data, a.data)
    assert 5 < noisy_db < 30  # really noisy, and the PSNR can be measured
