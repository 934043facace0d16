"""A newcomer's first hour, second pass (issue #22), through the napari-n2n command as real
processes: an honest time budget, help that lists every sub-command, batches that say how to
go on, axes that need no flag when they are clear, an output folder that is made."""

import re

import numpy as np
import pytest
import tifffile

from napari_n2n.cli import COMMANDS

from .test_cli_nothing_lost import TINY, _command, _one_line

#: the tiny network of the issue, without a step count
NET = TINY[TINY.index("--patch") :]


@pytest.fixture
def folder(tmp_path, camera_crop):
    """A 128×128 noisy pair A.tif, B.tif (Gaussian σ 25) and a 3-step model m.n2n."""
    clean = camera_crop[:128, :128]
    rng = np.random.default_rng(0)
    for name in ("A", "B"):
        tifffile.imwrite(tmp_path / f"{name}.tif", clean + rng.normal(0, 25, clean.shape))
    args = ["--model", "m.n2n", "--steps", "3", *NET]
    assert (
        _command(tmp_path, "train", "--input", "A.tif", "--target", "B.tif", *args).returncode == 0
    )
    return tmp_path


# ---- item 9: the time budget ends the run on time, and the bar agrees with the clock -------------
def test_the_time_budget_is_kept_and_the_percentage_agrees_with_the_clock(folder):
    budget = 3
    done = _command(
        folder,
        *["train", "--input", "A.tif", "--target", "B.tif", "--model", "t.n2n"],
        *[a for a in NET if a != "--quiet"],
        *["--steps", "1000000", "--time-budget", str(budget)],
    )
    assert done.returncode == 0, done.stderr
    # a line at every 10 %: "train [###...]  72% 0:02 of 0:03 · step 378 · ..."
    shown = re.findall(r"(\d+)% 0:(\d\d) of 0:03", done.stderr)
    # a line per 10 % that a step ends in: on a loaded machine a step may take a tenth of the budget
    steps = max(int(n) for n in re.findall(r"step (\d+) ·", done.stderr))
    assert len(shown) >= min(5, steps // 2), done.stderr
    for pct, seconds in shown:
        # the clock shows whole seconds: the share of the budget used is within one of it
        assert abs(int(pct) / 100 * budget - int(seconds)) <= 1, (pct, seconds, done.stderr)
    elapsed = float(re.search(r"steps, ([\d.]+) s;", done.stdout).group(1))
    assert elapsed <= budget + 0.5, done.stdout  # the last step over, not the set-up


# ---- item 10 ------------------------------------------------------------------------------------
def test_help_and_a_bare_command_list_every_sub_command(tmp_path):
    names = [c.replace("_", "-") for c in COMMANDS]
    listed = "{" + ",".join(names) + "}"
    assert len(names) == 7
    usage = _command(tmp_path, "--help")
    assert usage.returncode == 0 and listed in " ".join(usage.stdout.split()), usage.stdout
    _one_line(_command(tmp_path), listed)


def test_a_batch_that_meets_its_outputs_offers_skip_existing(folder):
    (folder / "in").mkdir()
    for name in ("A", "B"):
        (folder / "in" / f"{name}.tif").write_bytes((folder / f"{name}.tif").read_bytes())
    batch = ["predict", "--model", "m.n2n", "--input", "in", "--output-dir", "out", "--quiet"]
    assert _command(folder, *batch).returncode == 0  # the folder is made
    again = _command(folder, *batch)
    assert again.returncode == 2 and "0 of 2 written; 2 failed" in again.stdout
    lines = again.stderr.strip().splitlines()
    assert len(lines) == 2 and all("--overwrite" in x and "--skip-existing" in x for x in lines)
    assert _command(folder, *batch, "--skip-existing").returncode == 0


def test_the_output_dir_is_made_when_its_parent_exists(folder):
    made = ["predict", "--model", "m.n2n", "--input", "A.tif", "B.tif", "--quiet"]
    assert _command(folder, *made, "--output-dir", "new").returncode == 0
    assert sorted(p.name for p in (folder / "new").iterdir()) == ["A.tif", "B.tif"]
    _one_line(_command(folder, *made, "--output-dir", "no/new"), "parent folder no does not exist")
    assert not (folder / "no").exists()


def test_pair_neighbours_needs_no_axes_for_a_stack_of_frames(folder):
    frames = np.stack(
        [tifffile.imread(folder / "A.tif")] * 2 + [tifffile.imread(folder / "B.tif")] * 6
    )
    tifffile.imwrite(folder / "movie.tif", frames.astype(np.float32))  # no axes in the file
    args = ["train", "--input", "movie.tif", "--pair-neighbours", "T", "--model", "mv.n2n"]
    done = _command(folder, *args, "--steps", "3", *NET)
    assert done.returncode == 0, done.stderr
    assert "using TYX" in done.stderr and (folder / "mv.n2n").exists()
