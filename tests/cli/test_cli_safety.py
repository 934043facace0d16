"""Nothing lost, ever (issue #11), through the napari-n2n command: no input destroyed, no file replaced
without --overwrite, no training thrown away by a save that fails, no partial output, no traceback."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tifffile
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from napari_n2n.cli import main

from .._fs import in_tiny_tmpfs, make_immutable, read_only, undo_immutable
from ._args import tiny_args

TINY = tiny_args(steps=3, batch=2)


@pytest.fixture
def folder(tmp_path, camera_crop):
    """A folder with a noisy pair A.tif, B.tif, the clean clean.tif and a tiny model m.n2n (issue #11's setting)."""
    clean = camera_crop[:96, :96]
    rng = np.random.default_rng(0)
    tifffile.imwrite(tmp_path / "clean.tif", clean)
    for name in ("A", "B"):
        tifffile.imwrite(
            tmp_path / f"{name}.tif", (clean + rng.normal(0, 25, clean.shape)).astype(np.float32)
        )
    assert (
        main(
            [
                "train",
                "--input",
                str(tmp_path / "A.tif"),
                "--target",
                str(tmp_path / "B.tif"),
                "--model",
                str(tmp_path / "m.n2n"),
                *TINY,
            ]
        )
        == 0
    )
    return tmp_path


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}


def _one_error(capsys, *fragments):
    err = capsys.readouterr().err
    lines = [l for l in err.splitlines() if l.startswith("napari-n2n") and "error:" in l]
    assert len(lines) == 1 and "Traceback" not in err, err
    for f in fragments:
        assert f in lines[0], (f, lines[0])
    return lines[0]


@pytest.mark.parametrize(
    "argv,blamed",
    [
        (
            ["train", "--input", "A.tif", "--target", "B.tif", "--model", "A.tif", "--overwrite"],
            "also an input",
        ),
        (
            ["predict", "--model", "m.n2n", "--input", "B.tif", "--output", "B.tif", "--overwrite"],
            "also an input",
        ),
        (
            [
                "predict",
                "--model",
                "m.n2n",
                "--input",
                "A.tif",
                "--pair-with",
                "B.tif",
                "--output",
                "B.tif",
                "--overwrite",
            ],
            "also an input",
        ),
        (
            ["synth", "clean.tif", "--out-a", "clean.tif", "--out-b", "X.tif", "--overwrite"],
            "also an input",
        ),
        (["synth", "clean.tif", "--out-a", "X.tif", "--out-b", "X.tif"], "same file"),
        (["synth", "clean.tif", "--out-a", "X.tif", "--out-b", "./X.tif"], "same file"),
    ],
)
def test_inputs_are_never_destroyed(folder, capsys, monkeypatch, argv, blamed):
    monkeypatch.chdir(folder)
    before = _snapshot(folder)
    assert main([*argv, *([] if argv[0] != "train" else TINY)]) == 2
    _one_error(capsys, blamed)
    assert _snapshot(folder) == before


def test_an_input_reached_through_a_link_is_still_an_input(folder, capsys, monkeypatch):
    monkeypatch.chdir(folder)
    os.link("A.tif", "hard.tif")
    os.symlink("B.tif", "soft.tif")
    before = _snapshot(folder)
    assert (
        main(
            [
                "predict",
                "--model",
                "m.n2n",
                "--input",
                "A.tif",
                "--output",
                "hard.tif",
                "--overwrite",
            ]
        )
        == 2
    )
    assert (
        main(
            [
                "predict",
                "--model",
                "m.n2n",
                "--input",
                "B.tif",
                "--output",
                "soft.tif",
                "--overwrite",
            ]
        )
        == 2
    )
    assert _snapshot(folder) == before


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--input", "A.tif", "--target", "B.tif", "--model", "m.n2n", *TINY],
        ["predict", "--model", "m.n2n", "--input", "A.tif", "--output", "clean.tif"],
        ["synth", "A.tif", "--out-a", "clean.tif", "--out-b", "new.tif"],
    ],
)
def test_existing_files_are_replaced_only_with_overwrite(folder, capsys, monkeypatch, argv):
    monkeypatch.chdir(folder)
    before = _snapshot(folder)
    assert main(argv) == 2
    _one_error(capsys, "already exists", "--overwrite")
    assert _snapshot(folder) == before
    assert main([*argv, "--overwrite"]) == 0
    assert _snapshot(folder) != before


def test_demo_out_at_an_existing_file_is_one_line(tmp_path, capsys):
    (tmp_path / "demo_out").write_text("not a folder")
    assert main(["demo", "--out", str(tmp_path / "demo_out"), "--seconds", "1"]) == 2
    _one_error(capsys, "it is a file")


@pytest.mark.parametrize("kind", ["read-only folder", "folder", "device", "immutable file"])
def test_an_unwritable_model_destination_is_refused_before_training(folder, capsys, kind):
    model = folder / "out.n2n"
    undo = None
    if kind == "folder":
        model.mkdir()
    elif kind == "device":
        model.symlink_to(os.devnull)
    elif kind == "immutable file":
        model.write_text("an older model")
        make_immutable(model)
        undo = model
    argv = [
        "train",
        "--input",
        str(folder / "A.tif"),
        "--target",
        str(folder / "B.tif"),
        "--overwrite",
        "--steps",
        "100000",
        "--quiet",
    ]
    try:
        t0 = time.perf_counter()
        if kind == "read-only folder":
            with read_only(folder / "ro") as ro:
                code = main([*argv, "--model", os.path.join(ro, "m.n2n")])
        else:
            code = main([*argv, "--model", str(model)])
        assert code == 2 and time.perf_counter() - t0 < 30  # 100000 steps were not run first
        _one_error(capsys, "Cannot write the model file")
    finally:
        if undo:
            undo_immutable(undo)
    assert os.path.islink(folder / "out.n2n") or kind != "device"


@pytest.mark.parametrize("command", ["predict", "train"])
def test_a_full_disk_is_found_before_the_work_and_reported_in_one_line(folder, command):
    argv = (
        ["predict", "--model", str(folder / "m.n2n"), "--input", str(folder / "A.tif")]
        if command == "predict"
        else ["train", "--input", str(folder / "A.tif"), "--target", str(folder / "B.tif"), *TINY]
    )
    out = "--output" if command == "predict" else "--model"
    mnt = folder / "mnt"
    script = "import sys; from napari_n2n.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = in_tiny_tmpfs(
        mnt, 64, script, *argv, out, str(mnt / ("o.tif" if command == "predict" else "m.n2n"))
    )
    assert proc.returncode == 2, proc.stderr
    assert (
        proc.stderr.strip().count("\n") == 0
        and "disk has" in proc.stderr
        and "Traceback" not in proc.stderr
    )


def test_predict_checks_its_output_before_predicting(folder, capsys):
    with read_only(folder / "ro") as ro:
        t0 = time.perf_counter()
        assert (
            main(
                [
                    "predict",
                    "--model",
                    str(folder / "m.n2n"),
                    "--input",
                    str(folder / "A.tif"),
                    "--output",
                    os.path.join(ro, "o.tif"),
                ]
            )
            == 2
        )
    _one_error(capsys, "Cannot write the output")
    assert "predict [" not in capsys.readouterr().err and time.perf_counter() - t0 < 10


def test_a_kill_during_predicts_write_leaves_the_old_output(folder):
    """A real SIGKILL while the output is being written: the file at --output is the old one, whole."""
    (folder / "out.tif").write_bytes((folder / "clean.tif").read_bytes())
    slow = (
        "import sys, time\n"
        "from napari_n2n.io import tiff\n"
        "write = tiff.TiffFormat.write\n"
        "def slow(self, path, data, **kw):\n"
        "    open(path, 'wb').write(b'II*\\x00 partial')\n"
        "    print('WRITING', flush=True); time.sleep(60)\n"
        "tiff.TiffFormat.write = slow\n"
        "from napari_n2n.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            slow,
            "predict",
            "--model",
            str(folder / "m.n2n"),
            "--input",
            str(folder / "A.tif"),
            "--output",
            str(folder / "out.tif"),
            "--overwrite",
            "--quiet",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "WRITING"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    np.testing.assert_array_equal(
        tifffile.imread(folder / "out.tif"), tifffile.imread(folder / "clean.tif")
    )


@pytest.mark.parametrize(
    "change,message",
    [
        ({"format_version": "two"}, "format version"),
        ({"normalization": {"offset": [], "scale": []}}, "normalisation"),
        ({"normalization": {"offset": [1.0], "scale": [0.0]}}, "not positive"),
        ({"axes": 3}, "axes 3"),
    ],
)
def test_bad_model_files_are_one_line_blaming_the_file(folder, capsys, change, message):
    with safe_open(str(folder / "m.n2n"), framework="pt") as f:
        meta = dict(f.metadata())
    payload = json.loads(meta["payload"])
    if "format_version" in change:
        meta.update(change)
    else:
        payload.update(change)
    save_file(
        load_file(str(folder / "m.n2n")),
        str(folder / "bad.n2n"),
        metadata={**meta, "payload": json.dumps(payload)},
    )
    assert (
        main(
            [
                "predict",
                "--model",
                str(folder / "bad.n2n"),
                "--input",
                str(folder / "A.tif"),
                "--output",
                str(folder / "o.tif"),
            ]
        )
        == 2
    )
    _one_error(capsys, "bad.n2n", message)
    assert not (folder / "o.tif").exists()


@pytest.mark.parametrize(
    "argv,fragment",
    [
        (
            ["train", "--input", "A.tif", "--target", "B.tif", "--model", "x.n2n", "--seed", "-1"],
            "--seed",
        ),
        (["synth", "clean.tif", "--out-a", "x.tif", "--out-b", "y.tif", "--seed", "-1"], "--seed"),
        (
            ["train", "--input", "A.tif", "--target", "B.tif", "--model", "x.n2n", "--steps", "0"],
            "--steps",
        ),
        (
            [
                "predict",
                "--model",
                "m.n2n",
                "--input",
                "A.tif",
                "--output",
                "o.tif",
                "--tile",
                "ten",
            ],
            "--tile",
        ),
    ],
)
def test_bad_option_values_are_one_line(folder, monkeypatch, argv, fragment):
    monkeypatch.chdir(folder)
    proc = subprocess.run(
        [sys.executable, "-m", "napari_n2n.cli", *argv], capture_output=True, text=True
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and fragment in proc.stderr, (
        proc.stderr
    )


def test_empty_npy_inputs_are_one_line(folder, capsys):
    (folder / "empty.npy").write_bytes(b"")
    np.save(folder / "zero.npy", np.zeros((0, 0), np.float32))
    for name, message in (("empty.npy", "not a readable .npy"), ("zero.npy", "is empty")):
        assert (
            main(
                [
                    "predict",
                    "--model",
                    str(folder / "m.n2n"),
                    "--input",
                    str(folder / name),
                    "--output",
                    str(folder / "o.tif"),
                ]
            )
            == 2
        )
        _one_error(capsys, message)


@pytest.mark.slow
def test_two_trainings_writing_one_model_path_do_not_silently_replace_each_other(folder):
    argv = [
        sys.executable,
        "-m",
        "napari_n2n.cli",
        "train",
        "--input",
        str(folder / "A.tif"),
        "--target",
        str(folder / "B.tif"),
        "--model",
        str(folder / "same.n2n"),
        *TINY[:-1],
        "--steps",
        "30",
    ]
    procs = [
        subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    codes = sorted(p.returncode for p in procs)
    assert codes == [0, 2], outs
    assert (folder / "same.n2n").exists() and (folder / "same-1.n2n").exists()
    assert any("saved to" in err and "same-1.n2n instead" in err for _, err in outs)
