"""The plain ``denoise`` function of napari's Layers > Filter > Denoising menu (and napari-workflows)."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from napari_n2n.core.errors import InputError
from napari_n2n.widgets.functions import _load, denoise


def test_denoise_with_n2n_file_and_bmz_package(den2d, pkg2d, tmp_path, camera_crop):
    image = camera_crop[:96, :128]
    n2n = den2d.save(tmp_path / "m.n2n")
    np.testing.assert_allclose(denoise(image, n2n), den2d.predict(image), rtol=1e-5, atol=1e-3)
    from napari_n2n.bmz import load_bmz

    np.testing.assert_allclose(
        denoise(image, pkg2d, axes="YX", tile=64),
        load_bmz(pkg2d).predict(image, tile=64),
        rtol=1e-5,
        atol=1e-3,
    )
    assert _load.cache_info().currsize == 2  # a replayed workflow does not reload the model


def test_signature_is_workflow_ready():
    hints = inspect.signature(denoise)
    assert hints.return_annotation == "napari.types.ImageData"
    assert hints.parameters["image"].annotation == "napari.types.ImageData"


@pytest.mark.parametrize("name", ["", "missing.n2n", "image.tif"])
def test_bad_model_file(tmp_path, camera_crop, name):
    if name == "image.tif":
        (tmp_path / name).write_bytes(b"x")
    with pytest.raises(InputError, match="Choose a model file"):
        denoise(camera_crop, tmp_path / name if name else "")


def test_manifest_puts_a_denoising_submenu_under_layers_filter():
    from npe2 import PluginManifest

    pm = PluginManifest.from_distribution("napari-n2n")
    menus = pm.contributions.menus
    assert [item.submenu for item in menus["napari/layers/filter"]] == ["napari-n2n.denoising"]
    assert "napari-n2n.denoise_image" in [item.command for item in menus["napari-n2n.denoising"]]
    assert [s.label for s in pm.contributions.submenus] == ["Denoising"]
    pm.validate_imports()
