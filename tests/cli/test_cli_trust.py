"""The commands that help trust a result: check a pair, split a photon-count image, TTA and uncertainty outputs."""

import json

import numpy as np
import pytest
import tifffile
from scipy.ndimage import fourier_shift

from napari_n2n.cli import main

from .test_cli import TINY_ARGS


def test_check_a_good_and_a_shifted_pair(pair_files, capsys):
    d = pair_files
    assert main(["check", str(d / "a.tif"), str(d / "b.tif"), "--json", str(d / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "no problems found" in out and "[ok]" in out
    assert json.loads((d / "r.json").read_text())["noise_sigma"] == pytest.approx(25, rel=0.05)
    b = tifffile.imread(d / "b.tif")
    tifffile.imwrite(
        d / "b_shifted.tif",
        np.real(np.fft.ifftn(fourier_shift(np.fft.fftn(b), (1.5, 0)))).astype(np.float32),
    )
    assert main(["check", str(d / "a.tif"), str(d / "b_shifted.tif")]) == 0  # warns, never fails
    out = capsys.readouterr().out
    assert "WARNING" in out and "register" in out and ("+1.5" in out or "+1.4" in out)


def test_check_of_an_image_with_itself_is_one_clear_refusal(pair_files, capsys):
    a = str(pair_files / "a.tif")
    assert main(["check", a, a]) == 0
    out = capsys.readouterr().out
    assert "[ERROR] A and B are identical" in out and "cannot train" in out
    assert "[ok]" not in out and "aligned" not in out and "training still works" not in out


def test_check_of_constant_images_says_no_shift_is_measurable(tmp_path, capfd):
    for name in ("c1.tif", "c2.tif"):
        tifffile.imwrite(tmp_path / name, np.full((64, 64), 100, np.uint16))
    assert main(["check", str(tmp_path / "c1.tif"), str(tmp_path / "c2.tif")]) == 0
    captured = capfd.readouterr()
    assert "no measurable shift" in captured.out and "shifted by" not in captured.out
    assert "register" not in captured.out and "training still works" not in captured.out
    assert captured.err == ""  # no library warning (skimage's "Could not determine RMS error")


def test_check_bad_input_is_one_line(pair_files, capsys):
    d = pair_files
    tifffile.imwrite(d / "small.tif", np.zeros((10, 10), np.float32))
    assert main(["check", str(d / "a.tif"), str(d / "small.tif")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("napari-n2n: error:") and "\n" not in err and "same shape" in err


def test_split_then_train_and_predict_with_maps(tmp_path, camera_crop, capsys):
    counts = np.random.default_rng(0).poisson(camera_crop / 255.0 * 30 + 0.5)
    raw = (counts * 2 + 100).astype(np.uint16)
    tifffile.imwrite(tmp_path / "raw.tif", raw)
    a, b, m = (str(tmp_path / n) for n in ("a.tif", "b.tif", "m.n2n"))
    assert (
        main(
            [
                "split",
                str(tmp_path / "raw.tif"),
                "--gain",
                "2",
                "--offset",
                "100",
                "--out-a",
                a,
                "--out-b",
                b,
            ]
        )
        == 0
    )
    ha, hb = tifffile.imread(a), tifffile.imread(b)
    np.testing.assert_allclose((ha + hb) / 2, raw, atol=1e-3)
    # the halves are never replaced without --overwrite (checked before the work: nothing written)
    before = tifffile.imread(a)
    assert (
        main(["split", str(tmp_path / "raw.tif"), "--seed", "1", "--out-a", a, "--out-b", b]) == 2
    )
    assert "--overwrite" in capsys.readouterr().err
    np.testing.assert_array_equal(tifffile.imread(a), before)
    # gain and offset estimated from the image
    assert (
        main(["split", str(tmp_path / "raw.tif"), "--out-a", a, "--out-b", b, "--overwrite"]) == 0
    )
    assert "estimated" in capsys.readouterr().out
    assert main(["train", "--input", a, "--target", b, "--model", m, *TINY_ARGS]) == 0
    dis, res, out = (str(tmp_path / n) for n in ("dis.tif", "res.tif", "out.tif"))
    assert (
        main(
            [
                "predict",
                "--model",
                m,
                "--input",
                a,
                "--pair-with",
                b,
                "--tta",
                "2",
                "--output",
                out,
                "--disagreement",
                dis,
                "--residual",
                res,
                "--quiet",
            ]
        )
        == 0
    )
    assert tifffile.imread(dis).shape == raw.shape and tifffile.imread(res).shape == raw.shape
    assert (
        main(
            [
                "predict",
                "--model",
                m,
                "--input",
                a,
                "--tta",
                "4",
                "--output",
                out,
                "--dtype",
                "input",
                "--quiet",
                "--overwrite",
            ]
        )
        == 0
    )
    assert tifffile.imread(out).dtype == np.float32  # the input (a half) is float32


def test_split_refuses_non_counts_in_one_line(tmp_path, camera_crop, capsys):
    tifffile.imwrite(
        tmp_path / "x.tif", camera_crop + np.random.default_rng(0).normal(0, 3, camera_crop.shape)
    )
    assert (
        main(
            [
                "split",
                str(tmp_path / "x.tif"),
                "--gain",
                "2",
                "--offset",
                "0",
                "--out-a",
                str(tmp_path / "a.tif"),
                "--out-b",
                str(tmp_path / "b.tif"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert "not a photon-count image" in err and "\n" not in err
    assert not (tmp_path / "a.tif").exists()


def test_disagreement_needs_a_pair(pair_files, capsys):
    d = pair_files
    m = str(d / "m.n2n")
    assert (
        main(
            [
                "train",
                "--input",
                str(d / "a.tif"),
                "--target",
                str(d / "b.tif"),
                "--model",
                m,
                *TINY_ARGS,
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "predict",
                "--model",
                m,
                "--input",
                str(d / "a.tif"),
                "--output",
                str(d / "o.tif"),
                "--disagreement",
                str(d / "dis.tif"),
            ]
        )
        == 2
    )
    assert "--pair-with" in capsys.readouterr().err


def test_new_outputs_are_checked_before_the_work(pair_files, capsys):
    d = pair_files
    (d / "r.json").write_text("keep")
    assert main(["check", str(d / "a.tif"), str(d / "b.tif"), "--json", str(d / "r.json")]) == 2
    assert "--overwrite" in capsys.readouterr().err and (d / "r.json").read_text() == "keep"
    assert (
        main(
            [
                "check",
                str(d / "a.tif"),
                str(d / "b.tif"),
                "--json",
                str(d / "r.json"),
                "--overwrite",
            ]
        )
        == 0
    )
    assert "noise_sigma" in (d / "r.json").read_text()
    m = str(d / "m.n2n")
    assert (
        main(
            [
                "train",
                "--input",
                str(d / "a.tif"),
                "--target",
                str(d / "b.tif"),
                "--model",
                m,
                *TINY_ARGS,
            ]
        )
        == 0
    )
    capsys.readouterr()
    # an uncertainty map written over an input, or over the result: refused in one line, nothing written
    assert (
        main(
            [
                "predict",
                "--model",
                m,
                "--input",
                str(d / "a.tif"),
                "--output",
                str(d / "o.tif"),
                "--residual",
                str(d / "b.tif"),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "residual" in err
    assert (
        main(
            [
                "predict",
                "--model",
                m,
                "--input",
                str(d / "a.tif"),
                "--pair-with",
                str(d / "b.tif"),
                "--output",
                str(d / "o.tif"),
                "--disagreement",
                str(d / "o.tif"),
            ]
        )
        == 2
    )
    assert "same file" in capsys.readouterr().err and not (d / "o.tif").exists()
