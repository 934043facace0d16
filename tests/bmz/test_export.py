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


def test_bioimageio_prediction_matches_denoiser(pkg2d, den2d, camera_crop):
    """bioimageio.core runs the package (its processing, the frozen network) as napari-n2n runs the model."""
    from bioimageio.core import Sample, Tensor, create_prediction_pipeline, load_model_description

    image = camera_crop[:96, :128] + np.random.default_rng(3).normal(0, 20, (96, 128)).astype(
        np.float32
    )
    expected = den2d.predict(image, axes="YX")
    descr = load_model_description(pkg2d)
    for fmt in ("pytorch_state_dict", "torchscript", "onnx"):
        with create_prediction_pipeline(descr, weights_format=fmt) as pp:
            sample = Sample(
                members={
                    "input": Tensor.from_numpy(
                        image[None, None], dims=("batch", "channel", "y", "x")
                    )
                },
                stat={},
                id=0,
            )
            out = pp.predict_sample_without_blocking(
                sample, skip_input_padding=True, skip_output_cropping=True
            )
        got = np.asarray(out.members["output"].data)[0, 0]
        np.testing.assert_allclose(
            got, expected, rtol=1e-4, atol=1e-3 * np.abs(expected).max(), err_msg=fmt
        )


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
