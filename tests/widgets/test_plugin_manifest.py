"""The npe2 manifest: valid, its widgets open under Plugins → napari-n2n, its samples open with a clean reference."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from napari_n2n.core.metrics import psnr
from napari_n2n.widgets._layers import n2n_meta

WIDGETS = {"Noisy pairs": "NoisyPairsWidget", "Train Noise2Noise": "TrainWidget", "Denoise": "DenoiseWidget"}


def test_manifest_is_valid_and_its_python_names_import():
    from npe2 import PluginManifest

    pm = PluginManifest.from_distribution("napari-n2n")
    pm.validate_imports()
    assert {w.display_name for w in pm.contributions.widgets} == set(WIDGETS)
    assert {s.key for s in pm.contributions.sample_data} == {"pair_2d", "volume_3d", "digits"}


def test_npe2_validate_command():
    npe2 = [sys.executable, "-m", "npe2", "validate", "napari-n2n"]
    result = subprocess.run(npe2, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "valid" in result.stdout, result.stdout + result.stderr


def test_widget_modules_import_without_torch_or_napari():
    code = ("import sys, napari_n2n.widgets.train, napari_n2n.widgets.denoise, napari_n2n.widgets.noisy_pairs, "
            "napari_n2n._sample_data; heavy = [m for m in ('torch', 'napari') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr


def test_widgets_open_from_the_plugins_menu(viewer):
    for display_name, cls_name in WIDGETS.items():
        dock, widget = viewer.window.add_plugin_dock_widget("napari-n2n", display_name)
        assert type(widget).__name__ == cls_name and widget._viewer == viewer  # (a public-only proxy)


@pytest.mark.parametrize("key, ndim, scale", [("pair_2d", 2, None), ("volume_3d", 3, (2.0, 1.0, 1.0)),
                                               ("digits", 2, None)])
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
