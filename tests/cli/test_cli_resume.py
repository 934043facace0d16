"""``napari-n2n train`` with --init-from, checkpoints, --resume, signals and torchrun."""

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

from .test_cli import TINY_ARGS

#: a run long enough to be interrupted, short enough for a test
RUN = [
    "--steps",
    "60",
    "--patch",
    "32",
    "--batch",
    "4",
    "--depth",
    "2",
    "--base-channels",
    "8",
    "--device",
    "cpu",
    "--seed",
    "2",
]


@pytest.fixture
def pair(pair_files):
    return pair_files


def _train_args(d: Path, model: str = "m.n2n", *extra) -> list[str]:
    return [
        "train",
        "--input",
        str(d / "a.tif"),
        "--target",
        str(d / "b.tif"),
        "--model",
        str(d / model),
        *extra,
    ]


def _env() -> dict:
    src = str(Path(__file__).resolve().parents[2] / "src")
    return {
        **os.environ,
        "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", ""),
        "OMP_NUM_THREADS": "1",
        "GLOO_SOCKET_IFNAME": "lo",
    }


def _start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "napari_n2n.cli", *args],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _tensors(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path))


def _interrupt_when_checkpointed(
    args: list[str], state: Path, sig: int
) -> subprocess.CompletedProcess:
    """Start a training process, send ``sig`` once it has written its first checkpoint."""
    proc = _start(args)
    deadline = time.monotonic() + 120
    while not state.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.slow
def test_sigterm_saves_and_resume_gives_the_uninterrupted_weights_bit_for_bit(pair):
    d = pair
    stopped = _interrupt_when_checkpointed(
        _train_args(d, "m.n2n", *RUN, "--checkpoint-every", "1"), d / "m.ckpt", signal.SIGTERM
    )
    assert stopped.returncode == 128 + signal.SIGTERM, stopped.stderr
    last = stopped.stderr.strip().splitlines()[-1]
    assert (
        last.startswith("napari-n2n: interrupted by SIGTERM after step ") and "saved model" in last
    ), last
    assert f"--resume {d / 'm.ckpt'}" in last
    step = int(last.split("after step ")[1].split(":")[0])
    assert 1 <= step < 60
    resumed = subprocess.run(
        [
            sys.executable,
            "-m",
            "napari_n2n.cli",
            *_train_args(d, "m.n2n", *RUN, "--resume", "auto", "--checkpoint-every", "1"),
        ],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming {d / 'm.ckpt'} at step {step}" in resumed.stderr
    whole = subprocess.run(
        [sys.executable, "-m", "napari_n2n.cli", *_train_args(d, "whole.n2n", *RUN)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert whole.returncode == 0, whole.stderr
    expected, got = _tensors(d / "whole.n2n"), _tensors(d / "m.n2n")
    assert expected.keys() == got.keys()
    for name in expected:
        assert (expected[name] == got[name]).all(), name


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGUSR1, signal.SIGINT])
def test_other_stop_signals_behave_like_sigterm(pair, sig):
    d = pair
    done = _interrupt_when_checkpointed(
        _train_args(d, "m.n2n", *RUN, "--steps", "100000", "--checkpoint-every", "5"),
        d / "m.ckpt",
        sig,
    )
    assert done.returncode == 128 + sig, done.stderr
    assert f"interrupted by {signal.Signals(sig).name} after step" in done.stderr
    assert "Traceback" not in done.stderr
    from napari_n2n.core.inference.denoiser import Denoiser
    from napari_n2n.core.training.resume import load_state

    assert (
        Denoiser.load(d / "m.n2n").history["steps_done"]
        == load_state(d / "m.ckpt").state.steps_done
        >= 5
    )


def test_a_signal_before_the_first_step_saves_nothing(pair, capsys, monkeypatch):
    """A real signal, sent by the process to itself just before the first batch is drawn."""
    from napari_n2n.core.training import train as train_module

    real = train_module.batch_source

    def signal_first(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGUSR1)
        return real(*args, **kwargs)

    monkeypatch.setattr(train_module, "batch_source", signal_first)
    d = pair
    code = main(_train_args(d, "m.n2n", *TINY_ARGS, "--checkpoint-every", "1"))
    assert code == 128 + signal.SIGUSR1
    assert "interrupted by SIGUSR1 before the first step: nothing saved" in capsys.readouterr().err
    assert not (d / "m.n2n").exists() and not (d / "m.ckpt").exists()
    assert signal.getsignal(signal.SIGUSR1) is signal.SIG_DFL  # the handlers are put back


def test_checkpoint_files_are_never_overwritten_by_another_run(pair, capsys):
    d = pair
    assert main(_train_args(d, "m.n2n", *TINY_ARGS, "--checkpoint-every", "2")) == 0
    state = (d / "m.ckpt").read_bytes()
    assert main(_train_args(d, "m.n2n", *TINY_ARGS, "--checkpoint-every", "2")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        err[-1].startswith("napari-n2n: error: ")
        and "exists (the state of an earlier run)" in err[-1]
    )
    assert (d / "m.ckpt").read_bytes() == state
    # --resume auto continues it (here: a finished run, so nothing more to do), or starts when there is none
    assert (
        main(_train_args(d, "m.n2n", *TINY_ARGS, "--checkpoint-every", "2", "--resume", "auto"))
        == 0
    )
    assert (
        main(_train_args(d, "other.n2n", *TINY_ARGS, "--checkpoint-every", "2", "--resume", "auto"))
        == 0
    )
    assert (d / "other.ckpt").exists()
    assert (
        main(_train_args(d, "m.n2n", *TINY_ARGS, "--steps", "5", "--resume", str(d / "m.ckpt")))
        == 2
    )
    assert "steps 4 in the checkpoint, 5 now" in capsys.readouterr().err


def test_init_from_fine_tunes_and_refuses_mismatched_models(pair, capsys):
    d = pair
    assert main(_train_args(d, "old.n2n", *TINY_ARGS)) == 0
    assert (
        main(
            _train_args(
                d,
                "new.n2n",
                "--steps",
                "4",
                "--patch",
                "32",
                "--batch",
                "4",
                "--quiet",
                "--init-from",
                str(d / "old.n2n"),
                "--init-normalization",
                "keep",
            )
        )
        == 0
    )
    from napari_n2n.core.inference.denoiser import Denoiser

    old, new = Denoiser.load(d / "old.n2n"), Denoiser.load(d / "new.n2n")
    assert new.unet == old.unet and new.norm == old.norm
    assert new.info["init_from"] == {
        "model": str(d / "old.n2n"),
        "steps_done": 4,
        "normalization": "keep",
    }
    volume = np.random.default_rng(0).random((16, 64, 64)).astype(np.float32)
    tifffile.imwrite(d / "vol.tif", volume)
    tifffile.imwrite(d / "vol2.tif", volume[::-1])
    assert (
        main(
            [
                "train",
                "--input",
                str(d / "vol.tif"),
                "--target",
                str(d / "vol2.tif"),
                "--model",
                str(d / "v.n2n"),
                "--axes",
                "ZYX",
                "--init-from",
                str(d / "old.n2n"),
                "--quiet",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a 2D model but the data are 3D" in err[0]
    assert (
        main(_train_args(d, "x.n2n", "--depth", "3", "--init-from", str(d / "old.n2n"), "--quiet"))
        == 2
    )
    assert "architecture comes from the model" in capsys.readouterr().err


def test_more_processes_than_gpus_is_refused(pair, capsys, monkeypatch):
    import torch

    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert main(_train_args(pair, "m.n2n", *TINY_ARGS, "--device", "cuda")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert (
        len(err) == 1
        and "torchrun started 4 processes on this machine but it has 2 usable GPU(s)" in err[0]
    )


@pytest.mark.slow
def test_torchrun_trains_with_two_processes(pair):
    d = pair
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node",
            "2",
            "-m",
            "napari_n2n.cli",
            *_train_args(d, "m.n2n", *TINY_ARGS, "--device", "cpu", "--checkpoint-every", "2"),
        ],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("saved ") == 1  # rank 0 alone reports and writes
    from napari_n2n.core.inference.denoiser import Denoiser
    from napari_n2n.core.training.resume import load_state

    assert Denoiser.load(d / "m.n2n").info["processes"] == 2
    assert load_state(d / "m.ckpt").state.world_size == 2
