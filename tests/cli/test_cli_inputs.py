"""A first hour on the command line (issue #12): axes never guessed silently, a pair that is really two
images, help that shows every default, progress that a log file can follow."""

import io

import numpy as np
import pytest
import tifffile

from napari_n2n.cli import build_parser, main
from napari_n2n.console import ProgressBar

from ._args import tiny_args

TINY = tiny_args(steps=3, patch=16, batch=2)


@pytest.fixture
def stacks(tmp_path):
    rng = np.random.default_rng(0)
    base = rng.random((6, 48, 48)).astype(np.float32)
    plain_a, plain_b = tmp_path / "plain_a.tif", tmp_path / "plain_b.tif"
    tifffile.imwrite(plain_a, base + 0.1 * rng.random(base.shape, dtype=np.float32))
    tifffile.imwrite(plain_b, base + 0.1 * rng.random(base.shape, dtype=np.float32))
    tyx_a, tyx_b = tmp_path / "tyx_a.tif", tmp_path / "tyx_b.tif"
    tifffile.imwrite(tyx_a, tifffile.imread(plain_a), imagej=True, metadata={"axes": "TYX"})
    tifffile.imwrite(tyx_b, tifffile.imread(plain_b), imagej=True, metadata={"axes": "TYX"})
    return tmp_path


def test_a_3d_file_without_axes_is_refused_with_the_flag_to_add(stacks, capsys):
    d = stacks
    assert (
        main(
            [
                "train",
                "--input",
                str(d / "plain_a.tif"),
                "--target",
                str(d / "plain_b.tif"),
                "--model",
                str(d / "m.n2n"),
                *TINY,
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert "does not say what its axes are" in err and "--axes TYX for a time series" in err
    assert "--axes ZYX for a volume" in err and not (d / "m.n2n").exists()


def test_a_3d_file_that_states_its_axes_is_read_with_them(stacks, capsys):
    d = stacks
    assert (
        main(
            [
                "train",
                "--input",
                str(d / "tyx_a.tif"),
                "--target",
                str(d / "tyx_b.tif"),
                "--model",
                str(d / "t.n2n"),
                *TINY,
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    # a time series, not a 3D network across time
    assert "2D U-Net" in out and "trained on TYX data" in out
    assert (
        main(
            [
                "predict",
                "--model",
                str(d / "t.n2n"),
                "--input",
                str(d / "plain_a.tif"),
                "--output",
                str(d / "o.tif"),
                "--quiet",
            ]
        )
        == 0
    )
    assert "using the model's, TYX" in capsys.readouterr().err  # said, not silent


def test_colour_tiffs_are_read_as_colour(tmp_path, capsys):
    rgb = (np.random.default_rng(0).random((96, 96, 3)) * 255).astype(np.uint8)
    tifffile.imwrite(tmp_path / "rgb.tif", rgb, photometric="rgb")
    np.save(tmp_path / "rgb.npy", rgb)
    assert (
        main(
            [
                "train",
                "--input",
                str(tmp_path / "rgb.tif"),
                "--mode",
                "nb2nb",
                "--model",
                str(tmp_path / "c.n2n"),
                *TINY,
            ]
        )
        == 0
    )
    assert "3 channel(s), trained on YXC data" in capsys.readouterr().out
    assert (
        main(
            [
                "predict",
                "--model",
                str(tmp_path / "c.n2n"),
                "--input",
                str(tmp_path / "rgb.tif"),
                "--output",
                str(tmp_path / "o.tif"),
                "--quiet",
            ]
        )
        == 0
    )
    assert tifffile.imread(tmp_path / "o.tif").shape == (96, 96, 3)
    assert (
        main(
            [
                "train",
                "--input",
                str(tmp_path / "rgb.npy"),
                "--mode",
                "nb2nb",
                "--model",
                str(tmp_path / "d.n2n"),
                *TINY,
            ]
        )
        == 2
    )
    assert "--axes YXC for a colour image" in capsys.readouterr().err


def test_input_and_target_must_be_two_images(stacks, capsys):
    d = stacks
    tifffile.imwrite(
        d / "copy.tif", tifffile.imread(d / "tyx_a.tif"), imagej=True, metadata={"axes": "TYX"}
    )
    for target, how in (("tyx_a.tif", "the same file"), ("copy.tif", "identical images")):
        assert (
            main(
                [
                    "train",
                    "--input",
                    str(d / "tyx_a.tif"),
                    "--target",
                    str(d / target),
                    "--model",
                    str(d / "m.n2n"),
                    *TINY,
                ]
            )
            == 2
        )
        err = capsys.readouterr().err
        assert how in err and "--mode nb2nb" in err and "neighbouring frames" in err


def _options(parser):
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from (
                    (name, a, sub) for a in sub._actions if a.option_strings and a.dest != "help"
                )


def test_every_option_has_help_and_shows_its_default():
    missing, no_default = [], []
    for command, action, sub in _options(build_parser()):
        if not action.help:
            missing.append(f"{command} {action.option_strings[0]}")
        elif action.default not in (None, False, []) and "default" not in sub.formatter_class(
            prog="x"
        )._get_help_string(action):
            no_default.append(f"{command} {action.option_strings[0]}")
    assert not missing and not no_default, (missing, no_default)
    helptext = build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    assert (
        "(default: 2000)" in helptext
        and "(default: the preset's)" in helptext
        and "--overwrite" in helptext
    )


def test_a_log_file_gets_a_line_at_least_every_30_seconds(monkeypatch):
    clock = {"t": 1000.0}
    monkeypatch.setattr("napari_n2n.console.time.monotonic", lambda: clock["t"])
    stream = io.StringIO()
    bar = ProgressBar("train", stream=stream)
    for step in range(1, 200):  # 1 % done every 6 minutes: 10 % would take an hour
        clock["t"] += 3.6
        bar.update(step / 10_000, f"step {step}")
    times = [line for line in stream.getvalue().splitlines() if line.startswith("train")]
    assert len(times) >= 199 * 3.6 / 30 - 1  # one line per 30 s, not one per 10 %


def test_a_time_budgeted_run_shows_time_not_the_step_total(tmp_path, capsys, camera_crop):
    tifffile.imwrite(tmp_path / "a.tif", camera_crop[:64, :64])
    assert (
        main(
            [
                "train",
                "--input",
                str(tmp_path / "a.tif"),
                "--mode",
                "nb2nb",
                "--model",
                str(tmp_path / "m.n2n"),
                "--steps",
                "100000",
                "--time-budget",
                "2",
                "--patch",
                "16",
                "--batch",
                "2",
                "--depth",
                "2",
                "--base-channels",
                "8",
            ]
        )
        == 0
    )
    err = capsys.readouterr().err
    assert "/100000" not in err and " of 0:02" in err


def test_one_time_lapse_trains_on_neighbouring_frames(stacks, capsys):
    d = stacks
    assert main(["train", "--input", str(d / "tyx_a.tif"), "--model", str(d / "m.n2n"), *TINY]) == 2
    assert "--pair-neighbours T" in capsys.readouterr().err
    assert (
        main(
            [
                "train",
                "--input",
                str(d / "tyx_a.tif"),
                "--pair-neighbours",
                "T",
                "--model",
                str(d / "m.n2n"),
                *TINY,
            ]
        )
        == 0
    )
    assert "2D U-Net" in capsys.readouterr().out
