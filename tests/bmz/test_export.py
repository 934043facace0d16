"""Export to the BioImage Model Zoo: bioimageio.core's own model test passes, offline, for every weights format."""

from __future__ import annotations

import re
import sys
import zipfile

import numpy as np
import pytest
import torch
import yaml

from napari_n2n.bmz import export_bmz, sanitize_name
from napari_n2n.core.errors import InputError

from .conftest import TINY_BMZ, _train


def _rdf(path) -> dict:
    with zipfile.ZipFile(path) as zf:
        return yaml.safe_load(zf.read("rdf.yaml"))


def _model_test(path, weight_format):
    from bioimageio.core import test_model

    summary = test_model(path, weight_format=weight_format)
    assert summary.status == "passed", summary.display() or [e.msg for e in summary.errors]
    return summary


@pytest.mark.slow
@pytest.mark.parametrize("weight_format", ["pytorch_state_dict", "torchscript", "onnx"])
def test_2d_package_passes_bioimageio_model_test(pkg2d, weight_format):
    _model_test(pkg2d, weight_format)


@pytest.mark.slow
def test_3d_package_passes_the_test_run_by_export(den3d, tmp_path):
    # export runs bioimageio.core's test itself and writes nothing unless it passes
    path = export_bmz(den3d, tmp_path / "tiny-3d.bioimageio.zip", torchscript=True, onnx=True)
    rdf = _rdf(path)
    assert "3d" in rdf["tags"]
    assert [a.get("id", a["type"]) for a in rdf["inputs"][0]["axes"]] == [
        "batch",
        "channel",
        "z",
        "y",
        "x",
    ]
    assert set(rdf["weights"]) == {"pytorch_state_dict", "torchscript", "onnx"}


def test_package_content(pkg2d, den2d, tmp_path):
    rdf = _rdf(pkg2d)
    assert rdf["format_version"] == "0.5.12" and rdf["type"] == "model"
    assert rdf["name"] == "tiny - 2D"
    assert {"2d", "pytorch", "unet", "denoising"} <= set(rdf["tags"])
    assert [c["doi"] for c in rdf["cite"]] == ["10.48550/arXiv.1803.04189"]
    text = yaml.safe_dump(rdf)
    assert "http" not in text, "no URL fields: they would be fetched during validation"
    # normalisation as the spec's processing, per channel
    pre = {p["id"]: p.get("kwargs") for p in rdf["inputs"][0]["preprocessing"]}
    post = {p["id"]: p.get("kwargs") for p in rdf["outputs"][0]["postprocessing"]}
    assert pre["fixed_zero_mean_unit_variance"]["mean"] == pytest.approx(list(den2d.norm.offset))
    assert pre["fixed_zero_mean_unit_variance"]["std"] == pytest.approx(list(den2d.norm.scale))
    assert post["scale_linear"]["gain"] == pytest.approx(list(den2d.norm.scale))
    assert post["scale_linear"]["offset"] == pytest.approx(list(den2d.norm.offset))
    # space axes: multiples of 2**depth, with a halo on the output
    y_in = rdf["inputs"][0]["axes"][2]
    assert (
        y_in["size"]["step"] == 2 ** TINY_BMZ["depth"]
        and y_in["size"]["min"] % y_in["size"]["step"] == 0
    )
    assert rdf["outputs"][0]["axes"][2]["halo"] > 0
    # image borders padded as the network pads
    assert rdf["inputs"][0]["pad"] == {"mode": "reflect"}
    with zipfile.ZipFile(pkg2d) as zf:
        names = set(zf.namelist())
        assert {
            "n2n_unet_v1.py",
            "weights.pt",
            "test_input.npy",
            "test_output.npy",
            "README.md",
            "n2n_config.json",
            "cover.png",
        } <= names
        readme = zf.read("README.md").decode()
        zf.extract("weights.pt", tmp_path)
    assert re.search(r"^#+ Validation", readme, re.MULTILINE)
    state = torch.load(tmp_path / "weights.pt", weights_only=True)
    assert list(state) == list(den2d.models[0].state_dict())


def _core_prediction(pkg, image, dims, fmt="pytorch_state_dict"):
    """bioimageio.core's ordinary prediction: the image padded as the package declares, the halo cropped."""
    from bioimageio.core import Sample, Tensor, create_prediction_pipeline, load_model_description

    with create_prediction_pipeline(load_model_description(pkg), weights_format=fmt) as pp:
        tensor = Tensor.from_numpy(image[None, None], dims=("batch", "channel", *dims))
        out = pp.predict_sample_without_blocking(Sample(members={"input": tensor}, stat={}, id=0))
    return np.asarray(out.members["output"].data)[0, 0]


def test_bioimageio_prediction_matches_denoiser(pkg2d, den2d, camera_crop):
    """bioimageio.core runs the package (its processing, its border, the frozen network) as napari-n2n runs the model."""
    image = camera_crop[:96, :128] + np.random.default_rng(3).normal(0, 20, (96, 128)).astype(
        np.float32
    )
    expected = den2d.predict(image, axes="YX")
    for fmt in ("pytorch_state_dict", "torchscript", "onnx"):
        got = _core_prediction(pkg2d, image, "yx", fmt)
        # every pixel, the border included: both extend the image by reflection with the halo
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-3, err_msg=fmt)


def test_borders_agree_with_bioimageio_core_in_2d_and_3d(
    den2d, den3d, gaussian_pair, volume_pair, tmp_path
):
    """The outer pixels of a 256 x 256 image and of a volume, where the two used to differ by up to 20 grey levels."""
    for den, image, dims in ((den2d, gaussian_pair[1], "yx"), (den3d, volume_pair[1], "zyx")):
        pkg = export_bmz(den, tmp_path / f"{len(dims)}d.bioimageio.zip", test=False)
        ours, core = den.predict(image), _core_prediction(pkg, image, dims)
        assert np.ptp(core) > 1  # not a flat image
        border = np.ones(image.shape, bool)
        border[(slice(4, -4),) * image.ndim] = False  # the outer 4 pixels of every side
        np.testing.assert_allclose(ours[border], core[border], rtol=1e-5, atol=1e-3)
        np.testing.assert_allclose(ours, core, rtol=1e-5, atol=1e-3)


@pytest.mark.slow
def test_separate_channel_models_export_as_one_wrapper(tmp_path):
    rng = np.random.default_rng(0)
    clean = np.stack(
        [np.full((64, 64), 100.0), np.linspace(0, 900, 64 * 64).reshape(64, 64)]
    ).astype(np.float32)
    a = clean + rng.normal(0, 10, clean.shape).astype(np.float32)
    b = clean + rng.normal(0, 10, clean.shape).astype(np.float32)
    den = _train(a, b, "CYX", patch_size=32, channels="separate", steps=2)
    assert len(den.models) == 2
    path = export_bmz(den, tmp_path / "two.bioimageio.zip", sample=a, sample_axes="CYX")
    arch = _rdf(path)["weights"]["pytorch_state_dict"]["architecture"]
    assert arch["callable"] == "N2NUNetPerChannel" and arch["kwargs"]["channel_groups"] == [
        [0],
        [1],
    ]


@pytest.mark.parametrize(
    "name, expected",
    [
        ("noisy · denoised (n2n)", "noisy - denoised (n2n)"),
        ("a/b", "a b denoiser"),
        ("Ünïcode  name!", "n code name"),
        ("x" * 200, "x" * 128),
    ],
)
def test_sanitized_names_are_accepted_by_the_spec(name, expected):
    clean = sanitize_name(name)
    assert clean == expected
    # the spec's rule (GenericModelDescrBase.name): 5-128 letters, digits, "_+- ()" and spaces
    assert 5 <= len(clean) <= 128 and re.fullmatch(r"[A-Za-z0-9_+\- ()]+", clean)


def test_bad_destinations_leave_nothing(den2d, tmp_path, monkeypatch):
    from napari_n2n.bmz import export as export_module

    with pytest.raises(InputError, match=r"\.bioimageio\.zip"):
        export_bmz(den2d, tmp_path / "model.n2n")
    with pytest.raises(InputError, match="does not exist"):
        export_bmz(den2d, tmp_path / "missing" / "m.bioimageio.zip")
    existing = tmp_path / "there.bioimageio.zip"
    existing.write_bytes(b"keep me")
    with pytest.raises(InputError, match="already exists"):
        export_bmz(den2d, existing)

    def failing_test(package):
        assert package.exists()  # the package was written to a temporary file first
        raise InputError("The exported package failed bioimageio.core's model test: simulated.")

    monkeypatch.setattr(export_module, "_test", failing_test)
    with pytest.raises(InputError, match="simulated"):
        export_bmz(den2d, existing, overwrite=True)
    assert existing.read_bytes() == b"keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["there.bioimageio.zip"]


def test_missing_extra_is_one_line(den2d, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "bioimageio.core", None)
    with pytest.raises(InputError, match=r"pip install 'napari-n2n\[bmz\]'") as info:
        export_bmz(den2d, tmp_path / "m.bioimageio.zip")
    assert "\n" not in str(info.value)
    assert not list(tmp_path.iterdir())


def test_maintainer_one_file_onnx_and_test_instructions(pkg2d):
    """What a Zoo upload queries: a maintainer's GitHub user, ONNX weights in one file, how to test."""
    from bioimageio.spec import load_description

    from napari_n2n.bmz._describe import TEST_REQUIREMENTS

    rdf = _rdf(pkg2d)
    assert rdf["maintainers"] == [{"name": "Test Author", "github_user": "test-author"}]
    # bioimageio.spec validates the package without its warning about a missing github_user
    descr = load_description(pkg2d, perform_io_checks=True)
    warnings = [str(w.msg) for d in descr.validation_summary.details for w in d.warnings]
    assert not [w for w in warnings if "github_user" in w or "maintainer" in w.lower()], warnings
    # one ONNX file, no external data beside it
    assert "external_data" not in rdf["weights"]["onnx"]
    with zipfile.ZipFile(pkg2d) as zf:
        assert not [n for n in zf.namelist() if n.endswith(".data")]
        readme = zf.read("README.md").decode()
    for requirement in TEST_REQUIREMENTS:
        assert f'"{requirement}"' in readme
    assert "bioimageio test" in readme


@pytest.mark.parametrize("user", ["not a user", "-leading", "double--hyphen", "x" * 40])
def test_a_github_user_of_the_wrong_form_is_refused(den2d, tmp_path, user):
    with pytest.raises(InputError, match="is not a GitHub user name") as info:
        export_bmz(den2d, tmp_path / "m.bioimageio.zip", github_user=user, test=False)
    assert "\n" not in str(info.value) and not (tmp_path / "m.bioimageio.zip").exists()


def test_pydantic_bound_of_the_readme_is_the_extra_s():
    """The README's pins and pyproject's bmz extra name the same pydantic upper bound."""
    import tomllib
    from pathlib import Path

    from napari_n2n.bmz._describe import TEST_REQUIREMENTS

    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    extra = pyproject["project"]["optional-dependencies"]["bmz"]
    assert TEST_REQUIREMENTS[0] in extra
    bound = TEST_REQUIREMENTS[1].split(",")[-1]
    assert any(r.startswith("pydantic") and r.endswith(bound) for r in extra)
