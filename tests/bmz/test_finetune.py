"""Fine-tuning from a Zoo package (``--init-from X.bioimageio.zip``): as from the ``.n2n`` it was exported from."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
import tifffile

from napari_n2n.bmz import denoiser_from_bmz, export_bmz
from napari_n2n.cli import main
from napari_n2n.core.errors import ModelFileError
from napari_n2n.core.inference.denoiser import Denoiser
from napari_n2n.core.metrics import psnr

from ._packages import rewrite_package
from .conftest import _train

STEPS = ["--steps", "40", "--patch", "32", "--batch", "4", "--device", "cpu", "--quiet"]


def test_package_gives_back_the_exported_model(den2d, tmp_path, camera_crop):
    pkg = export_bmz(den2d, tmp_path / "m.bioimageio.zip", github_user="someone", test=False)
    back = denoiser_from_bmz(pkg)
    assert back.unet == den2d.unet and back.channel_groups == den2d.channel_groups
    assert back.norm.offset == pytest.approx(den2d.norm.offset)
    assert back.config == den2d.config and back.axes == den2d.axes
    for ours, theirs in zip(back.models, den2d.models):
        for (k, v), (k2, v2) in zip(ours.state_dict().items(), theirs.state_dict().items()):
            assert k == k2 and np.array_equal(v.numpy(), v2.numpy())
    np.testing.assert_allclose(back.predict(camera_crop), den2d.predict(camera_crop), atol=1e-4)


def test_fine_tuning_from_the_package_matches_continuing_from_the_n2n(gaussian_pair, tmp_path):
    clean, a, b = gaussian_pair
    tifffile.imwrite(tmp_path / "a.tif", a)
    tifffile.imwrite(tmp_path / "b.tif", b)
    base = _train(a, b, "YX", patch_size=32, steps=20)
    n2n = base.save(tmp_path / "base.n2n")
    pkg = export_bmz(base, tmp_path / "base.bioimageio.zip", test=False)
    data = ["--input", str(tmp_path / "a.tif"), "--target", str(tmp_path / "b.tif")]
    from_n2n, from_pkg = tmp_path / "from_n2n.n2n", tmp_path / "from_pkg.n2n"
    assert main(["train", *data, "--model", str(from_n2n), "--init-from", str(n2n), *STEPS]) == 0
    (tmp_path / "base.n2n").unlink()  # the .n2n is gone: the package is all there is
    assert main(["train", *data, "--model", str(from_pkg), "--init-from", str(pkg), *STEPS]) == 0
    tuned_n2n, tuned_pkg = Denoiser.load(from_n2n), Denoiser.load(from_pkg)
    before = psnr(clean, base.predict(a), data_range=255)
    after = psnr(clean, tuned_pkg.predict(a), data_range=255)
    assert after > before + 0.5, (before, after)
    # the same start, seed and data: the same model as continuing from the .n2n
    assert after == pytest.approx(psnr(clean, tuned_n2n.predict(a), data_range=255), abs=0.05)


def test_packages_whose_network_is_not_ours_are_refused(pkg2d, tmp_path):
    with zipfile.ZipFile(pkg2d) as zf:
        code = zf.read("n2n_unet_v1.py") + b"\n# changed\n"
    pkg = rewrite_package(pkg2d, tmp_path / "other.bioimageio.zip", files={"n2n_unet_v1.py": code})
    with pytest.raises(ModelFileError, match="not napari-n2n's U-Net") as info:
        denoiser_from_bmz(pkg)
    assert "\n" not in str(info.value)
