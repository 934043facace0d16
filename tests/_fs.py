"""Places where writing fails for real: a read-only folder, a full disk (shared by the write-failure tests).

Root ignores permissions, so a read-only folder is made immutable with ``chattr +i`` when the
tests run as root; a full disk is a tiny tmpfs mounted in a private mount namespace
(``unshare -m``). Where neither is possible, the tests that need them are skipped with the reason.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys

import pytest


@contextlib.contextmanager
def read_only(folder):
    """Make ``folder`` unwritable for the duration: ``chmod 555``, or ``chattr +i`` as root."""
    os.makedirs(folder, exist_ok=True)
    if os.geteuid() != 0:
        os.chmod(folder, 0o555)
        try:
            yield folder
        finally:
            os.chmod(folder, 0o755)
        return
    if not shutil.which("chattr"):
        pytest.skip(
            "running as root (permissions are ignored) and chattr is not available to make a folder immutable"
        )
    if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
        pytest.skip(
            "running as root (permissions are ignored) and chattr +i fails on this file system"
        )
    try:
        yield folder
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=False)


def make_immutable(path) -> None:
    """``chattr +i path`` (root only; the caller undoes it with :func:`undo_immutable`), or skip."""
    if os.geteuid() != 0 or not shutil.which("chattr"):
        pytest.skip("an immutable file needs root and chattr")
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i fails on this file system")


def undo_immutable(path) -> None:
    subprocess.run(["chattr", "-i", str(path)], check=False, capture_output=True)


def in_tiny_tmpfs(folder, size_kb: int, script: str, *args: str) -> subprocess.CompletedProcess:
    """Run ``python -c script *args`` with a ``size_kb`` KiB tmpfs mounted on ``folder`` (a private mount).

    Skips the test when a mount namespace or a tmpfs mount is not allowed here.
    """
    if not shutil.which("unshare"):
        pytest.skip("unshare is not available to mount a small tmpfs")
    os.makedirs(folder, exist_ok=True)
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", f"mount -t tmpfs -o size={size_kb}k tmpfs '{folder}'"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        pytest.skip(
            f"cannot mount a tmpfs in a private mount namespace here ({probe.stderr.strip()[:80]})"
        )
    quoted = " ".join(
        "'" + a.replace("'", "'\\''") + "'" for a in (sys.executable, "-c", script, *args)
    )
    return subprocess.run(
        [
            "unshare",
            "-m",
            "sh",
            "-c",
            f"mount -t tmpfs -o size={size_kb}k tmpfs '{folder}' && exec {quoted}",
        ],
        capture_output=True,
        text=True,
        env={**os.environ},
    )
