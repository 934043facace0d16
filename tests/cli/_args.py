"""The command-line options of a tiny training run, shared by the command-line tests.

A tiny run trains a 2-level, 8-channel U-Net for a few steps: seconds on a CPU, enough to test
what the command does with files, options and errors (not how well it denoises).
"""


def tiny_args(
    *, steps: int = 4, patch: int = 32, batch: int = 4, device: str | None = None, quiet=True
) -> list[str]:
    """``train``'s options for a tiny run of ``steps`` steps on ``patch``² patches."""
    args = ["--steps", str(steps), "--patch", str(patch), "--batch", str(batch)]
    args += ["--depth", "2", "--base-channels", "8"]
    if device is not None:
        args += ["--device", device]
    return args + (["--quiet"] if quiet else [])
