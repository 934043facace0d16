"""Running BioImage Model Zoo packages: tiled through bioimageio.core, with consent before package code runs."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from napari_n2n.bmz import CodeConsentRequired, is_bmz_path, load_bmz
from napari_n2n.core.errors import InputError, ModelFileError

from ._packages import npy_bytes, rewrite_package


def _only(formats):
    """An rdf edit keeping only ``formats`` (the first becomes the original, without parent)."""

    def edit(rdf):
        rdf["weights"] = {k: v for k, v in rdf["weights"].items() if k in formats}
        rdf["weights"][formats[0]].pop("parent", None)

    return edit


def test_own_package_runs_tiled_and_matches_the_denoiser(pkg2d, den2d, camera_crop):
    model = load_bmz(pkg2d)
    # our own frozen network: runs no code from the package
    assert model.weight_format == "pytorch_state_dict"
    assert model.spatial_ndim == 2 and model.n_channels == 1
    image = camera_crop[:200, :150]
    events = []
    gen = model.predict_iter(image, tile=96)
    while True:
        try:
            events.append(next(gen))
        except StopIteration as stop:
            result = stop.value
            break
    assert len(events) > 1 and events[-1].done == events[-1].total
    expected = den2d.predict(image)
    # both tile, differently (napari-n2n blends overlapping tiles, bioimageio.core cuts blocks at the
    # halo): away from the image border they agree to float precision
    inner = (slice(40, -40), slice(40, -40))
    np.testing.assert_allclose(result[inner], expected[inner], rtol=1e-4, atol=1e-3)
    # both extend the image by reflection with the same border; the tile seams differ a little there
    assert np.abs(result - expected).mean() < 0.01 * np.ptp(expected)


def test_state_dict_with_our_frozen_architecture_needs_no_consent(pkg2d, tmp_path):
    pkg = rewrite_package(pkg2d, tmp_path / "sd.bioimageio.zip", edit=_only(["pytorch_state_dict"]))
    assert load_bmz(pkg).weight_format == "pytorch_state_dict"

    # but only our network: another callable of the same file is not trusted
    def edit(rdf):
        _only(["pytorch_state_dict"])(rdf)
        rdf["weights"]["pytorch_state_dict"]["architecture"]["callable"] = "_Block"

    other = rewrite_package(pkg2d, tmp_path / "other.bioimageio.zip", edit=edit)
    with pytest.raises(CodeConsentRequired):
        load_bmz(other)


def test_package_code_runs_only_after_consent(pkg2d, tmp_path):
    with zipfile.ZipFile(pkg2d) as zf:
        code = zf.read("n2n_unet_v1.py") + b"\n# changed by someone else\n"
    pkg = rewrite_package(
        pkg2d,
        tmp_path / "code.bioimageio.zip",
        edit=_only(["pytorch_state_dict"]),
        files={"n2n_unet_v1.py": code},
    )
    with pytest.raises(CodeConsentRequired, match="Python file n2n_unet_v1.py") as info:
        load_bmz(pkg)
    assert "\n" not in str(info.value)
    assert load_bmz(pkg, allow_code=True).weight_format == "pytorch_state_dict"


@pytest.mark.parametrize("fmt", ["onnx", "torchscript", "pytorch_state_dict"])
def test_weights_at_a_web_address_are_fetched_only_after_consent(pkg2d, tmp_path, fmt):
    """Issue 23 item 16: a package whose weights live on a server is not fetched without asking
    (the fetch tells the server the user's address); the offline fixture sees no connection."""
    url = f"https://example.invalid/weights.{fmt}"

    def edit(rdf):
        _only([fmt])(rdf)
        rdf["weights"][fmt]["source"] = url
        rdf["weights"][fmt].pop("sha256", None)

    pkg = rewrite_package(pkg2d, tmp_path / "remote.bioimageio.zip", edit=edit)
    with pytest.raises(CodeConsentRequired, match="needs your permission") as info:
        load_bmz(pkg)
    assert f"fetched from {url}" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_onnx_and_torchscript_only_packages_run(pkg2d, tmp_path, camera_crop, fmt):
    pkg = rewrite_package(
        pkg2d,
        tmp_path / f"{fmt}.bioimageio.zip",
        edit=_only([fmt]),
        drop=("weights.pt", "n2n_unet_v1.py"),
    )
    model = load_bmz(pkg)
    assert model.weight_format == fmt
    out = model.predict(camera_crop[:100, :100])
    assert out.shape == (100, 100) and np.isfinite(out).all()


def test_missing_onnx_runtime_is_named(pkg2d, tmp_path, monkeypatch):
    from napari_n2n.bmz import _package

    pkg = rewrite_package(pkg2d, tmp_path / "onnx.bioimageio.zip", edit=_only(["onnx"]))
    monkeypatch.setattr(_package, "has_onnx_runtime", lambda: False)
    with pytest.raises(ModelFileError, match=r"onnxruntime \(pip install 'napari-n2n\[onnx\]'\)"):
        load_bmz(pkg)


def test_architecture_from_a_library_that_is_not_installed(pkg2d, tmp_path):
    """Like a CAREamics package: a state dict whose network comes from careamics, which is not installed."""

    def edit(rdf):
        _only(["pytorch_state_dict"])(rdf)
        rdf["weights"]["pytorch_state_dict"]["architecture"] = {
            "import_from": "careamics_not_installed.models.unet",
            "callable": "UNet",
            "kwargs": {"depth": 2},
        }

    pkg = rewrite_package(pkg2d, tmp_path / "lib.bioimageio.zip", edit=edit)
    with pytest.raises(
        ModelFileError, match="needs?.*'careamics_not_installed'.*not installed"
    ) as info:
        load_bmz(pkg)
    assert "\n" not in str(info.value) and not isinstance(info.value, CodeConsentRequired)


def test_library_architecture_that_is_installed_still_needs_consent(pkg2d, tmp_path):
    def edit(rdf):
        _only(["pytorch_state_dict"])(rdf)
        rdf["weights"]["pytorch_state_dict"]["architecture"] = {
            "import_from": "napari_n2n.bmz.n2n_unet_v1",
            "callable": "N2NUNet",
            "kwargs": rdf["weights"]["pytorch_state_dict"]["architecture"]["kwargs"],
        }

    pkg = rewrite_package(pkg2d, tmp_path / "lib2.bioimageio.zip", edit=edit)
    with pytest.raises(CodeConsentRequired, match="napari_n2n.bmz.n2n_unet_v1.N2NUNet"):
        load_bmz(pkg)
    assert load_bmz(pkg, allow_code=True).weight_format == "pytorch_state_dict"


def test_weights_that_fail_their_own_test(pkg2d, tmp_path):
    with zipfile.ZipFile(pkg2d) as zf, zf.open("test_output.npy") as f:
        wrong = np.load(f) * 1.5 + 10
    pkg = rewrite_package(
        pkg2d, tmp_path / "bad.bioimageio.zip", files={"test_output.npy": npy_bytes(wrong)}
    )
    with pytest.raises(
        ModelFileError, match="do not reproduce the package's own test output"
    ) as info:
        load_bmz(pkg)
    assert "\n" not in str(info.value)


def test_tensorflow_only_package_cannot_run(pkg2d, tmp_path):
    def edit(rdf):
        rdf["weights"] = {"keras_hdf5": {"source": "weights.h5", "tensorflow_version": "2.15"}}

    pkg = rewrite_package(
        pkg2d, tmp_path / "tf.bioimageio.zip", edit=edit, files={"weights.h5": b"not really"}
    )
    with pytest.raises(ModelFileError, match="keras_hdf5 weights need TensorFlow/Keras"):
        load_bmz(pkg)


@pytest.mark.parametrize(
    "content, match",
    [
        (b"plain text", "not a BioImage Model Zoo package"),
        (None, "not a BioImage Model Zoo package"),  # a zip without rdf.yaml
        ("rdf: [unbalanced", "not a (readable|valid) BioImage Model Zoo package"),
        (
            "type: dataset\nformat_version: 0.3.0\nname: a data set\n",
            "not a (valid )?.*(model|package)",
        ),
    ],
)
def test_files_that_are_not_packages(tmp_path, content, match):
    path = tmp_path / "x.bioimageio.zip"
    if content is None or isinstance(content, str):
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("rdf.yaml" if content else "readme.txt", content or "hello")
    else:
        path.write_bytes(content)
    with pytest.raises(ModelFileError, match=match) as info:
        load_bmz(path)
    assert "\n" not in str(info.value)


def test_n2n_file_is_not_a_package(den2d, tmp_path):
    path = den2d.save(tmp_path / "m.n2n")
    assert not is_bmz_path(path)
    with pytest.raises(ModelFileError, match="not a BioImage Model Zoo package"):
        load_bmz(path)


def test_channels_and_dtypes(pkg2d, camera_crop):
    model = load_bmz(pkg2d, verify=False)
    two = np.stack([camera_crop[:80, :80], camera_crop[:80, :80] * 0.5]).astype(np.uint16)
    out = model.predict(two, axes="CYX", dtype="input")
    assert out.shape == two.shape and out.dtype == np.uint16
    with pytest.raises(InputError, match="Tile must be"):
        model.predict(camera_crop[:80, :80], tile=(64, 64, 64))
    with pytest.raises(InputError, match="2 dimensions"):
        model.predict(camera_crop[:80, :80], axes="ZYX")


def test_architecture_file_importing_a_missing_library(pkg2d, tmp_path):
    with zipfile.ZipFile(pkg2d) as zf:
        code = b"import careamics_not_installed\n" + zf.read("n2n_unet_v1.py")
    pkg = rewrite_package(
        pkg2d,
        tmp_path / "imports.bioimageio.zip",
        edit=_only(["pytorch_state_dict"]),
        files={"n2n_unet_v1.py": code},
    )
    with pytest.raises(
        ModelFileError, match="needs the Python package 'careamics_not_installed'"
    ) as info:
        load_bmz(pkg, allow_code=True)
    assert "\n" not in str(info.value)


def test_quiet_silences_bioimageio_and_restores_it(pkg2d, camera_crop):
    from bioimageio.core import _prediction_pipeline as pipeline

    from napari_n2n.bmz._common import quiet

    bar = pipeline.tqdm
    with quiet():
        with quiet():
            assert pipeline.tqdm is not bar
        assert pipeline.tqdm is not bar
    assert pipeline.tqdm is bar
    gen = load_bmz(pkg2d, verify=False).predict_iter(camera_crop[:200, :200], tile=64)
    next(gen)
    assert pipeline.tqdm is not bar
    gen.close()  # a cancelled prediction restores it too
    assert pipeline.tqdm is bar


def test_damaged_onnx_weights_are_named_as_a_broken_package_not_an_environment_problem(
    pkg2d, tmp_path
):
    """Issue 23 item 16: ONNX runtime's grouped errors are unwrapped and worded."""
    pytest.importorskip("onnxruntime")
    with zipfile.ZipFile(pkg2d) as zf:
        onnx = next(n for n in zf.namelist() if n.endswith(".onnx"))
    pkg = rewrite_package(
        pkg2d,
        tmp_path / "cut.bioimageio.zip",
        edit=_only(["onnx"]),
        files={onnx: b"\x08\x07 not an ONNX model" * 20},
    )
    with pytest.raises(ModelFileError, match="weights file is damaged") as info:
        load_bmz(pkg)
    message = str(info.value)
    assert "download it again" in message and "ExceptionGroup" not in message
