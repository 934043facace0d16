"""``napari-n2n export-bmz`` and ``predict --model X.bioimageio.zip``: happy paths and one-line errors."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
import tifffile
import yaml

from napari_n2n.cli import main

from ._packages import rewrite_package


def _error_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [l for l in err.strip().splitlines() if l.startswith("napari-n2n: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture
def model_file(den2d, tmp_path):
    return den2d.save(tmp_path / "tiny.n2n")


def test_export_then_predict_with_the_package(model_file, den2d, tmp_path, camera_crop, capsys):
    sample = tmp_path / "a.tif"
    tifffile.imwrite(sample, camera_crop)
    out = tmp_path / "my-model.bioimageio.zip"
    assert (
        main(
            [
                "export-bmz",
                str(model_file),
                "-o",
                str(out),
                "--author",
                "A. Person",
                "--author",
                "B. Person",
                "--github-user",
                "a-person",
                "--description",
                "test model",
                "--sample",
                str(sample),
                "--tag",
                "fluorescence-light-microscopy",
            ]
        )
        == 0
    )
    assert "passed bioimageio.core's model test" in capsys.readouterr().out
    with zipfile.ZipFile(out) as zf:
        rdf = yaml.safe_load(zf.read("rdf.yaml"))
    assert rdf["maintainers"] == [{"name": "A. Person", "github_user": "a-person"}]
    assert rdf["name"] == "my-model" and [a["name"] for a in rdf["authors"]] == [
        "A. Person",
        "B. Person",
    ]
    assert "fluorescence-light-microscopy" in rdf["tags"]
    result = tmp_path / "out.tif"
    assert (
        main(
            [
                "predict",
                "--model",
                str(out),
                "--input",
                str(sample),
                "--output",
                str(result),
                "--quiet",
            ]
        )
        == 0
    )
    pred = tifffile.imread(result)
    expected = den2d.predict(camera_crop)
    inner = (slice(40, -40), slice(40, -40))
    np.testing.assert_allclose(pred[inner], expected[inner], rtol=1e-4, atol=1e-3)


def test_export_errors_are_one_line(model_file, tmp_path, capsys):
    existing = tmp_path / "there.bioimageio.zip"
    existing.write_bytes(b"keep")
    cases = {
        "exists": (
            ["export-bmz", str(model_file), "-o", str(existing), "--no-test"],
            "already exists",
        ),
        "not a zip name": (
            ["export-bmz", str(model_file), "-o", str(tmp_path / "m.n2n")],
            ".bioimageio.zip",
        ),
        "not our model": (
            ["export-bmz", str(existing), "-o", str(tmp_path / "x.bioimageio.zip")],
            "not a napari-n2n",
        ),
    }
    for name, (argv, text) in cases.items():
        assert main(argv) == 2, name
        assert text in _error_line(capsys), name
    assert existing.read_bytes() == b"keep"


def test_predict_asks_before_running_package_code(pkg2d, tmp_path, camera_crop, capsys):
    with zipfile.ZipFile(pkg2d) as zf:
        code = zf.read("n2n_unet_v1.py") + b"\n# someone else's code\n"

    def only_state_dict(rdf):
        rdf["weights"] = {"pytorch_state_dict": rdf["weights"]["pytorch_state_dict"]}

    pkg = rewrite_package(
        pkg2d,
        tmp_path / "code.bioimageio.zip",
        edit=only_state_dict,
        files={"n2n_unet_v1.py": code},
    )
    image = tmp_path / "a.tif"
    tifffile.imwrite(image, camera_crop[:96, :96])
    argv = [
        "predict",
        "--model",
        str(pkg),
        "--input",
        str(image),
        "--output",
        str(tmp_path / "o.tif"),
        "--quiet",
    ]
    assert main(argv) == 2
    assert "--allow-code" in _error_line(capsys)
    assert main([*argv, "--allow-code"]) == 0
    assert tifffile.imread(tmp_path / "o.tif").shape == (96, 96)
