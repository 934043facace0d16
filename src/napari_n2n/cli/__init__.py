"""The ``napari-n2n`` command: one sub-command per module of this package.

Every user error (missing file, mismatched shapes, bad axes, ...) ends with a one-line message
on stderr and exit status 2; no traceback. A sub-command module has ``register(subparsers)``,
which adds its parser and sets ``func`` to its ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import sys

from ..core.errors import N2NError
from . import check, demo, predict, split, synth, train
from ._common import package_version

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130

#: the sub-commands, in the order ``--help`` lists them
COMMANDS = (synth, check, split, train, predict, demo)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="napari-n2n", description="Noise2Noise denoising: learn from pairs of noisy images.")
    p.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    sub = p.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except N2NError as exc:
        print(f"napari-n2n: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("napari-n2n: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
