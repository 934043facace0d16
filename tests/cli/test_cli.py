"""The napari-n2n command: the happy path and every user error (one line, exit 2, no traceback)."""

import subprocess
import sys

import numpy as np
import pytest
import tifffile

from napari_n2n.cli import main

from ._args import tiny_args

TINY_ARGS = tiny_args()


@pytest.fixture
def files(tmp_path, camera_crop):
    clean = tmp_path / "clean.tif"
    tifffile.imwrite(clean, camera_crop.astype(np.uint8))
    return tmp_path, clean


def test_synth_train_predict(files, capsys):
    d, clean = files
    assert (
        main(
            [
                "synth",
                str(clean),
                "--noise",
                "gaussian",
                "--sigma",
                "25",
                "--out-a",
                str(d / "a.tif"),
                "--out-b",
                str(d / "b.tif"),
                "--seed",
                "1",
            ]
        )
        == 0
    )
    a, b = tifffile.imread(d / "a.tif"), tifffile.imread(d / "b.tif")
    assert a.shape == b.shape == (256, 256) and not np.array_equal(a, b)
    model = d / "m.n2n"
    assert (
        main(
            [
                "train",
                "--input",
                str(d / "a.tif"),
                "--target",
                str(d / "b.tif"),
                "--model",
                str(model),
                *TINY_ARGS,
            ]
        )
        == 0
    )
    assert model.exists()
    assert (
        main(
            [
                "predict",
                "--model",
                str(model),
                "--input",
                str(d / "a.tif"),
                "--output",
                str(d / "out.tif"),
                "--tile",
                "128",
                "--quiet",
            ]
        )
        == 0
    )
    out = tifffile.imread(d / "out.tif")
    assert out.shape == a.shape and out.dtype == np.float32
    assert (
        main(
            [
                "predict",
                "--model",
                str(model),
                "--input",
                str(d / "a.tif"),
                "--pair-with",
                str(d / "b.tif"),
                "--output",
                str(d / "avg.tif"),
                "--dtype",
                "input",
                "--quiet",
            ]
        )
        == 0
    )
    assert "wrote" in capsys.readouterr().out


@pytest.mark.parametrize(
    "noise,params",
    [
        ("poisson", ["--peak", "10"]),
        ("poisson_gaussian", ["--gain", "2", "--read-sigma", "3"]),
        ("impulse", ["--fraction", "0.1", "--kind", "random"]),
        ("bernoulli", ["--p", "0.3"]),
        ("salt_pepper", ["--fraction", "0.1"]),
    ],
)
def test_synth_noise_models(files, noise, params):
    d, clean = files
    assert (
        main(
            [
                "synth",
                str(clean),
                "--noise",
                noise,
                *params,
                "--out-a",
                str(d / "a.tif"),
                "--out-b",
                str(d / "b.tif"),
            ]
        )
        == 0
    )


def test_train_nb2nb_and_progress_bar(files, capsys):
    d, clean = files
    main(
        [
            "synth",
            str(clean),
            "--sigma",
            "20",
            "--out-a",
            str(d / "a.tif"),
            "--out-b",
            str(d / "b.tif"),
        ]
    )
    assert (
        main(
            [
                "train",
                "--input",
                str(d / "a.tif"),
                "--mode",
                "nb2nb",
                "--model",
                str(d / "m.n2n"),
                "--steps",
                "4",
                "--patch",
                "16",
                "--batch",
                "4",
                "--depth",
                "2",
                "--base-channels",
                "8",
                "--clean",
                str(clean),
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert "100%" in err and "parameters on cpu" in err


def _user_errors(d, clean):
    a, b = d / "a.tif", d / "b.tif"
    small, other, nan, txt, model = (
        d / "small.tif",
        d / "other.tif",
        d / "nan.tif",
        d / "notes.tif",
        d / "m.n2n",
    )
    tifffile.imwrite(small, np.zeros((16, 16), np.float32) + np.arange(16))
    tifffile.imwrite(other, np.zeros((100, 120), np.float32))
    arr = np.random.default_rng(0).random((64, 64)).astype(np.float32)
    arr[3, 3] = np.nan
    tifffile.imwrite(nan, arr)
    txt.write_text("not an image")
    (d / "foreign.n2n").write_bytes(b"\x89PNG not a model")
    return {
        "missing file": (
            ["train", "--input", str(d / "nope.tif"), "--target", str(b), "--model", str(model)],
            "does not exist",
        ),
        "mismatched shapes": (
            ["train", "--input", str(a), "--target", str(other), "--model", str(model)],
            "same shape",
        ),
        "unknown axes": (
            ["train", "--input", str(a), "--target", str(b), "--model", str(model), "--axes", "QX"],
            "Unknown axis",
        ),
        "axes count": (
            [
                "train",
                "--input",
                str(a),
                "--target",
                str(b),
                "--model",
                str(model),
                "--axes",
                "ZYX",
            ],
            "dimensions",
        ),
        "smaller than patch": (
            ["train", "--input", str(small), "--mode", "nb2nb", "--model", str(model)],
            "smaller than the patch",
        ),
        "nan": (
            ["train", "--input", str(nan), "--mode", "nb2nb", "--model", str(model)],
            "NaN or Inf",
        ),
        "non-image": (
            ["train", "--input", str(txt), "--target", str(b), "--model", str(model)],
            "not a TIFF",
        ),
        "no target": (["train", "--input", str(a), "--model", str(model)], "needs --target"),
        "not our model": (
            [
                "predict",
                "--model",
                str(d / "foreign.n2n"),
                "--input",
                str(a),
                "--output",
                str(d / "o.tif"),
            ],
            "not a napari-n2n model",
        ),
        "missing model": (
            [
                "predict",
                "--model",
                str(d / "none.n2n"),
                "--input",
                str(a),
                "--output",
                str(d / "o.tif"),
            ],
            "does not exist",
        ),
        "bad device": (
            [
                "train",
                "--input",
                str(a),
                "--target",
                str(b),
                "--model",
                str(model),
                "--device",
                "tpu",
            ],
            "Unknown device",
        ),
        "cuda absent": (
            [
                "train",
                "--input",
                str(a),
                "--target",
                str(b),
                "--model",
                str(model),
                "--device",
                "cuda",
            ],
            "CUDA",
        ),
        "wrong noise param": (
            [
                "synth",
                str(clean),
                "--noise",
                "poisson",
                "--sigma",
                "3",
                "--out-a",
                str(a),
                "--out-b",
                str(b),
            ],
            "does not apply",
        ),
        "output folder": (
            ["synth", str(clean), "--out-a", str(d / "no" / "a.tif"), "--out-b", str(b)],
            "does not exist",
        ),
    }


def test_every_user_error_is_one_line_with_exit_2(files, capsys):
    d, clean = files
    main(
        [
            "synth",
            str(clean),
            "--sigma",
            "25",
            "--out-a",
            str(d / "a.tif"),
            "--out-b",
            str(d / "b.tif"),
        ]
    )
    capsys.readouterr()
    import torch

    for name, (argv, msg) in _user_errors(d, clean).items():
        if name == "cuda absent" and torch.cuda.is_available():
            continue
        code = main(argv)
        err = capsys.readouterr().err
        assert code == 2, name
        lines = [l for l in err.strip().splitlines() if l.startswith("napari-n2n: error:")]
        assert len(lines) == 1 and msg in lines[0], (name, err)
        assert "Traceback" not in err, name


def test_console_script_has_no_traceback(tmp_path):
    """The installed command (a real process) prints one line and exits 2."""
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "napari_n2n.cli",
            "predict",
            "--model",
            str(tmp_path / "x.n2n"),
            "--input",
            "a.tif",
            "--output",
            "b.tif",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "does not exist" in proc.stderr
