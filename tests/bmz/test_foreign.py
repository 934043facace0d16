"""Packages made by other tools run tiled, whatever their axes declare; bioimageio.core is the judge.

The packages are built offline with bioimageio.spec (see ``_foreign``): one like CAREamics'
N2V export (every space axis fixed to 128 x 128, no halo, a state dict whose network is a
Python file) and one like the spec's own examples (sizes ``min + n * step``, output sizes
tied to the input, a halo).
"""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from napari_n2n.bmz import load_bmz
from napari_n2n.cli import main

from . import _foreign


@pytest.fixture(scope="module")
def careamics_pkg(tmp_path_factory):
    return _foreign.careamics_like(tmp_path_factory.mktemp("careamics"))


@pytest.fixture(scope="module")
def parametrized_pkg(tmp_path_factory):
    return _foreign.parametrized(tmp_path_factory.mktemp("parametrized"))


def _core(pkg, image, **blocking):
    """bioimageio.core's own prediction of a ``YX`` image."""
    from bioimageio.core import predict

    from napari_n2n.bmz._common import quiet

    with quiet():
        sample = predict(model=pkg, inputs=image[None, None], **blocking)
    return sample.members["prediction"].data.values[0, 0]


@pytest.mark.parametrize("fixture", ["careamics_pkg", "parametrized_pkg"])
def test_foreign_packages_pass_bioimageio_test(fixture, request):
    from bioimageio.core import test_model

    from napari_n2n.bmz._common import quiet

    with quiet():
        assert test_model(request.getfixturevalue(fixture)).status == "passed"


def test_all_fixed_package_runs_tiled_on_larger_images(careamics_pkg, camera_crop):
    model = load_bmz(careamics_pkg, allow_code=True)
    # bioimageio.core runs the whole image in one pass (its blocking returns 128 x 128 here);
    # our blocks overlap by a halo of 32 (a quarter of the block) and agree with it to float
    # precision beyond the outer 32 pixels, where napari-n2n pads the image (symmetric, the
    # package's default) and the whole-image pass has the network's zeros (the documented border
    # difference)
    whole = _core(careamics_pkg, camera_crop)
    assert np.ptp(whole) > 100  # the comparison is not between flat images
    inner = (slice(32, -32), slice(32, -32))
    for tile in (None, 96):  # 256 x 256: blocks of the fixed 128 whatever the tile asked
        result = model.predict(camera_crop, tile=tile)
        assert result.shape == camera_crop.shape
        np.testing.assert_allclose(result[inner], whole[inner], rtol=1e-5, atol=1e-3)
    # odd sizes, smaller than a block along one axis, are padded to the block and cropped back
    odd = model.predict(camera_crop[:100, :230])
    assert odd.shape == (100, 230) and np.isfinite(odd).all()


def test_parametrized_package_matches_bioimageio_core(parametrized_pkg, camera_crop):
    model = load_bmz(parametrized_pkg, allow_code=True)
    # one pass (the image fits a tile): bioimageio.core's unblocked prediction, border included
    np.testing.assert_allclose(
        model.predict(camera_crop), _core(parametrized_pkg, camera_crop), rtol=1e-5, atol=1e-3
    )
    # tiled: the blocks of bioimageio.core's blocking with the same block parameter (64 + 2 x 16)
    np.testing.assert_allclose(
        model.predict(camera_crop, tile=64),
        _core(parametrized_pkg, camera_crop, blocksize_parameter=2),
        rtol=1e-5,
        atol=1e-3,
    )


def test_cli_predicts_with_an_all_fixed_package(careamics_pkg, camera_crop, tmp_path):
    image, result = tmp_path / "a.tif", tmp_path / "o.tif"
    tifffile.imwrite(image, camera_crop)
    argv = ["predict", "--model", str(careamics_pkg), "--input", str(image)]
    assert main([*argv, "--output", str(result), "--quiet", "--allow-code"]) == 0
    assert tifffile.imread(result).shape == (256, 256)
