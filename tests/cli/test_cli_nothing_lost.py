"""Nothing lost, second round (issue #23), through the napari-n2n command: real processes, real
signals, damaged files; each failure ends in one line naming the file, never a traceback."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_n2n.cli import main

from ._args import tiny_args

#: the issue's tiny model: 5 steps of a 2-level, 8-channel U-Net on 32-pixel patches
TINY = tiny_args(steps=5, device="cpu")


@pytest.fixture
def setup(tmp_path, camera_crop, monkeypatch):
    """The issue's SETUP in a folder: a 128×128 camera pair A.tif, B.tif (Gaussian σ 25), the
    clean clean.tif and a 5-step tiny model m.n2n; the tests run in it."""
    clean = camera_crop[:128, :128]
    rng = np.random.default_rng(0)
    tifffile.imwrite(tmp_path / "clean.tif", clean)
    for name in ("A", "B"):
        noisy = clean + rng.normal(0, 25, clean.shape)
        tifffile.imwrite(tmp_path / f"{name}.tif", noisy.astype(np.float32))
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--input", "A.tif", "--target", "B.tif", "--model", "m.n2n", *TINY]) == 0
    return tmp_path


def _env() -> dict:
    src = str(Path(__file__).resolve().parents[2] / "src")
    return {
        **os.environ,
        "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "OMP_NUM_THREADS": "1",
    }


def _command(d: Path, *args: str) -> subprocess.CompletedProcess:
    """Run ``napari-n2n ARGS`` in ``d`` as a real process."""
    return subprocess.run(
        [sys.executable, "-m", "napari_n2n.cli", *args],
        cwd=d,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


def _one_line(proc: subprocess.CompletedProcess, *fragments: str) -> str:
    """The one error line of a failed command (exit 2, no traceback), holding ``fragments``."""
    err = proc.stderr.strip()
    assert proc.returncode == 2, (proc.returncode, err)
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    return err


# ---- item 18: Ctrl-C at any moment ---------------------------------------------------------------
def _interrupt_while_starting(d: Path, delay: float) -> subprocess.CompletedProcess:
    """Start ``train``; send SIGINT ``delay`` seconds after its entry point starts importing.

    ``-X importtime`` writes a line as each module's import ends: the line of the package
    ``napari_n2n`` marks the moment the console script's ``from napari_n2n.cli import main``
    goes on to the command's own modules.
    """
    proc = subprocess.Popen(
        [sys.executable, "-X", "importtime", "-m", "napari_n2n.cli", "train"]
        + ["--input", "A.tif", "--target", "B.tif", "--model", "new.n2n", *TINY],
        cwd=d,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # as from a terminal: a shell without job control starts background jobs with SIGINT
        # ignored, and Python then never installs its handler in the child
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if line.rstrip().endswith("| napari_n2n"):
            break
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    err = "".join(lines) + err
    err = "\n".join(line for line in err.splitlines() if not line.startswith("import time:"))
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.parametrize("delay", [0.02, 0.05, 0.1, 0.15, 0.3, 0.6])
def test_ctrl_c_while_the_command_starts_is_one_line_and_exit_130(setup, delay):
    """Early: while it imports its sub-commands (issue #23 item 18); later: while it imports
    torch (where CPython's exit by signal also lurks), or before the first step."""
    done = _interrupt_while_starting(setup, delay)
    assert done.returncode == 130, (done.returncode, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("napari-n2n: interrupted"), done.stderr


def _train(d: Path, model: str, *extra: str) -> subprocess.CompletedProcess:
    return _command(d, "train", "--input", "A.tif", "--target", "B.tif", "--model", model, *extra)


# ---- item 1: --resume replaces only the model of the run it continues ---------------------------
def test_resume_never_replaces_another_model_without_overwrite(setup):
    d = setup
    # its state written at the last step, so the model saved after it ends at a later time
    assert _train(d, "r.n2n", *TINY, "--checkpoint-every", "5").returncode == 0
    kept = (d / "m.n2n").read_bytes()
    refused = _train(d, "m.n2n", *TINY, "--resume", "r.ckpt")
    _one_line(refused, "m.n2n exists and is not the model saved with r.ckpt", "--overwrite")
    assert (d / "m.n2n").read_bytes() == kept
    # the run's own model is replaced as it continues; --overwrite replaces another one
    own = _train(d, "r.n2n", *TINY, "--resume", "r.ckpt", "--checkpoint-every", "5")
    assert own.returncode == 0, own.stderr
    assert _train(d, "m.n2n", *TINY, "--resume", "r.ckpt", "--overwrite").returncode == 0
    assert (d / "m.n2n").read_bytes() != kept


# ---- items 7 and 9: what --checkpoint names ------------------------------------------------------
def test_a_checkpoint_named_like_the_model_is_refused_before_training(setup):
    d = setup
    refused = _train(d, "k.n2n", *TINY, "--checkpoint", "k.n2n")
    _one_line(refused, "--checkpoint k.n2n is the --model file", "k.ckpt")
    assert not (d / "k.n2n").exists() and not (d / "k-1.n2n").exists()


@pytest.mark.parametrize(
    ("name", "held"), [("A.tif", "is an image"), ("m.n2n", "is a napari-n2n model file")]
)
def test_a_checkpoint_naming_an_image_or_a_model_says_what_it_is(setup, name, held):
    d = setup
    before = (d / name).read_bytes()
    err = _one_line(_train(d, "x.n2n", *TINY, "--checkpoint", name), f"{name} {held}", "x.ckpt")
    assert "earlier run" not in err and "--resume" not in err
    assert (d / name).read_bytes() == before and not (d / "x.n2n").exists()


# ---- item 10: split names a NaN as the other commands do ----------------------------------------
def test_split_of_an_image_with_a_nan_says_so(setup):
    d = setup
    counts = np.round(np.clip(tifffile.imread(d / "A.tif"), 0, None))
    counts[3, 3] = np.nan
    tifffile.imwrite(d / "nan.tif", counts)
    done = _command(d, "split", "nan.tif", "--out-a", "sa.tif", "--out-b", "sb.tif")
    _one_line(done, "Image nan.tif contains NaN or Inf values")
    assert not (d / "sa.tif").exists() and not (d / "sb.tif").exists()


# ---- item 17: the free-space check sizes the history by what the time budget allows -------------
def test_a_huge_step_count_with_a_time_budget_trains_for_the_budget(setup):
    d = setup
    args = [*TINY[TINY.index("--patch") :], "--steps", "1000000000000", "--time-budget", "2"]
    done = _train(d, "t.n2n", *args)
    assert done.returncode == 0, done.stderr
    assert (d / "t.n2n").exists() and "needs about" not in done.stderr


# ---- item 3: --skip-existing skips only finished results ----------------------------------------
def test_skip_existing_skips_only_a_finished_result_of_the_right_shape(setup):
    d = setup
    (d / "in").mkdir()
    for name in ("A", "B"):
        (d / "in" / f"{name}.tif").write_bytes((d / f"{name}.tif").read_bytes())
    batch = ["predict", "--model", "m.n2n", "--input", "in", "--output-dir", "out", "--quiet"]
    assert _command(d, *batch).returncode == 0
    finished = (d / "out" / "B.tif").read_bytes()
    (d / "out" / "A.tif").write_bytes(b"garbage!")  # 8 bytes of text
    skipped = _command(d, *batch, "--skip-existing")
    err = _one_line(skipped, "out/A.tif exists but is not a finished result", "--overwrite")
    assert "1 skipped (output exists)" in skipped.stdout and "1 failed" in skipped.stdout, err
    assert (d / "out" / "A.tif").read_bytes() == b"garbage!"
    # one file: a result of another shape is not taken as done either
    tifffile.imwrite(d / "small.tif", np.zeros((64, 64), np.float32))
    one = ["predict", "--model", "m.n2n", "--input", "A.tif", "--quiet", "--skip-existing"]
    _one_line(_command(d, *one, "--output", "small.tif"), "has shape (64, 64)")
    # with --overwrite it is denoised again, a finished one still skipped
    redone = _command(d, *batch, "--skip-existing", "--overwrite")
    assert redone.returncode == 0 and "1 of 2 written; 1 skipped" in redone.stdout, redone
    assert tifffile.imread(d / "out" / "A.tif").shape == (128, 128)
    assert (d / "out" / "B.tif").read_bytes() == finished


# ---- item 16: out-of-memory advice in predict names predict's options ----------------------------
OOM = """
import sys
import napari_n2n.cli.predict as command
import napari_n2n.core.inference.denoiser as denoiser
from napari_n2n.cli import main

def tiles(*args, **kwargs):
    raise MemoryError
    yield

def read(*args, **kwargs):
    raise MemoryError

if sys.argv[1] == "tiles":
    denoiser.predict_view = tiles
else:
    command.read_image = read
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("where", ["tiles", "read"])
def test_out_of_memory_advice_in_predict_names_no_training_option(setup, where):
    d = setup
    done = subprocess.run(
        [sys.executable, "-c", OOM, where, "predict", "--model", "m.n2n", "--input", "A.tif"]
        + ["--output", "o.tif", "--quiet"],
        cwd=d,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    err = _one_line(done, "tile")
    assert "batch" not in err and "patch" not in err
    assert not (d / "o.tif").exists()


def _hot_pair(folder):
    """A camera pair (σ 25) whose 0.3 % hot pixels are at the same places in A and B."""
    from skimage import data

    rng = np.random.default_rng(0)
    clean = data.camera()[128:256, 128:256].astype(np.float32)
    hot = rng.random(clean.shape) < 0.003
    pair = [clean + rng.normal(0, 25, clean.shape) for _ in range(2)]
    for name, image in zip(("A.tif", "B.tif"), pair):
        image[hot] = 4000.0
        tifffile.imwrite(folder / name, image.astype(np.float32))
    return ["--input", str(folder / "A.tif"), "--target", str(folder / "B.tif")], hot


def test_hot_pixels_shared_by_a_and_b_are_found_kept_in_the_model_and_filled_by_predict(
    tmp_path, capsys
):
    """Issue 23 item 16: the defects found in training are filled in predict with that model."""
    from napari_n2n.loading import load_model

    inputs, hot = _hot_pair(tmp_path)
    assert main(["train", *inputs, "--model", str(tmp_path / "m.n2n"), *TINY]) == 0
    err = capsys.readouterr().err
    assert f"{hot.sum()} defect pixel(s)" in err and "--defects none keeps them" in err
    kept = load_model(tmp_path / "m.n2n").info["defects"]
    assert kept["frame"] == [128, 128]
    assert set(zip(kept["y"], kept["x"])) == set(zip(*np.nonzero(hot)))
    argv = ["predict", "--model", str(tmp_path / "m.n2n"), "--input", inputs[1], "--quiet"]
    assert main([*argv, "--output", str(tmp_path / "o.tif")]) == 0
    assert f"{hot.sum()} defect pixel(s) filled before denoising" in capsys.readouterr().err
    assert main([*argv, "--output", str(tmp_path / "n.tif"), "--defects", "none"]) == 0
    assert "filled" not in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("defects", ["auto", "none"])
def test_a_model_trained_without_the_hot_pixels_removes_them(tmp_path, defects):
    """After 200 steps, a model that learnt the hot pixels keeps them (mean ≈ 3750 where the
    scene is 0-255); trained and used with them filled, none is left above the scene's range."""
    inputs, hot = _hot_pair(tmp_path)
    options = [*tiny_args(steps=200), "--defects", defects]
    assert main(["train", *inputs, "--model", str(tmp_path / "m.n2n"), *options]) == 0
    argv = ["predict", "--model", str(tmp_path / "m.n2n"), "--input", inputs[1]]
    out = tmp_path / "o.tif"
    assert main([*argv, "--output", str(out), "--defects", defects, "--quiet"]) == 0
    left = tifffile.imread(out)[hot]
    if defects == "auto":
        assert left.max() < 400, left.max()
    else:
        assert left.mean() > 1000, left.mean()
