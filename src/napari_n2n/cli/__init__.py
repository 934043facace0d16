"""The ``napari-n2n`` command: one sub-command per module of this package.

Every user error (missing file, mismatched shapes, bad axes, an output that exists or cannot be
written, a bad option value, ...) ends with a one-line message on stderr and exit status 2; no
traceback. Outputs are checked before any long work and written atomically
(:mod:`napari_n2n.core.files`); an existing file is replaced only with ``--overwrite``. A
sub-command module has ``register(subparsers)``, which adds its parser (with
:func:`~napari_n2n.cli._common.add_command`) and sets ``func`` to its ``run(args) -> int``.
"""

from __future__ import annotations

import argparse
import sys

from .._version import __version__
from ..core.errors import N2NError
from . import check, demo, export_bmz, predict, split, synth, train
from ._common import Parser

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130

#: the sub-commands, in the order ``--help`` lists them
COMMANDS = (synth, check, split, train, predict, export_bmz, demo)


def build_parser() -> argparse.ArgumentParser:
    """The ``napari-n2n`` parser: errors are one line, every option's ``--help`` shows its default."""
    p = Parser(
        prog="napari-n2n",
        description="Noise2Noise denoising: learn from pairs of noisy images. "
        "Existing files are never replaced unless a command is given --overwrite.",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(
        dest="command",
        required=True,
        metavar="{synth,train,predict,export-bmz,demo}",
        help="run 'napari-n2n COMMAND --help' for a command's options and their defaults",
    )
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
    except (
        OSError
    ) as exc:  # the system refused something the checks could not foresee: still one line
        where = f" ({exc.filename})" if exc.filename else ""
        print(
            f"napari-n2n: error: {exc.strerror or exc}{where}. Check the files and folders named.",
            file=sys.stderr,
        )
        return EXIT_USER_ERROR
    except MemoryError:
        print(
            "napari-n2n: error: out of memory. Use smaller --batch, --patch or --tile, or a machine with more "
            "memory.",
            file=sys.stderr,
        )
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("napari-n2n: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
