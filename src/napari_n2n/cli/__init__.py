"""The ``napari-n2n`` command: one sub-command per module of this package.

Every user error (missing file, mismatched shapes, bad axes, an output that exists or cannot be
written, a bad option value, ...) ends with a one-line message on stderr and exit status 2; no
traceback. Ctrl-C ends it with one line and exit status 130, at any moment: this module imports
nothing heavy, and :func:`main` imports the sub-commands inside the code that catches it.
Outputs are checked before any long work and written atomically
(:mod:`napari_n2n.core.files`); an existing file is replaced only with ``--overwrite``. A
sub-command module has ``register(subparsers)``, which adds its parser (with
:func:`~napari_n2n.cli._common.add_command`) and sets ``func`` to its ``run(args) -> int``.
"""

from __future__ import annotations

import sys

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
#: what to do when a command runs out of memory (predict, whose options differ, has its own)
MEMORY_ADVICE = "Use smaller --batch, --patch or --tile, or a machine with more memory."

#: the sub-commands' modules, in the order ``--help`` lists them
COMMANDS = ("synth", "check", "split", "train", "predict", "export_bmz", "demo")


def build_parser():
    """The ``napari-n2n`` parser: errors are one line, every option's ``--help`` shows its default."""
    import importlib

    from .._version import __version__
    from ._common import Parser

    p = Parser(
        prog="napari-n2n",
        description="Noise2Noise denoising: learn from pairs of noisy images. "
        "Existing files are never replaced unless a command is given --overwrite.",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(
        dest="command",
        required=True,
        help="run 'napari-n2n COMMAND --help' for a command's options and their defaults",
    )
    for name in COMMANDS:
        importlib.import_module(f".{name}", __name__).register(sub)
    # the usage line and the message of a bare napari-n2n name every sub-command
    sub.metavar = "{" + ",".join(sub.choices) + "}"
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the ``napari-n2n`` command with ``argv`` (default: the process's arguments).

    Returns the exit status: 0, 2 for a user error (one line on stderr), 130 for Ctrl-C, or
    128 + the signal's number for a training stopped by a signal. Run as the process's command
    (``argv`` ``None``: the console script, ``python -m napari_n2n.cli``), Ctrl-C ends the
    process at once with status 130.
    """
    try:
        return _run(argv)
    except KeyboardInterrupt:
        # also while the sub-commands (and torch) are imported, before any of them runs
        print("napari-n2n: interrupted", file=sys.stderr)
        if argv is None:
            _exit_now(EXIT_INTERRUPTED)
        return EXIT_INTERRUPTED


def _exit_now(status: int) -> None:
    """End the process with ``status``, skipping the interpreter's shutdown.

    A Ctrl-C that lands in Python code which a C extension runs while it is imported (through
    ``PyRun_String``) leaves CPython's "unhandled KeyboardInterrupt" flag set, even once
    :func:`main` has handled it; a normal exit then kills the process by SIGINT instead of
    returning 130. The work's own clean-up (``finally`` blocks, context managers) has run by now.
    """
    import os

    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(status)


def _run(argv: list[str] | None) -> int:
    from ..core.errors import N2NError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except N2NError as exc:
        print(f"napari-n2n: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except OSError as exc:
        # the system refused something the checks could not foresee: still one line
        where = f" ({exc.filename})" if exc.filename else ""
        print(
            f"napari-n2n: error: {exc.strerror or exc}{where}. Check the files and folders named.",
            file=sys.stderr,
        )
        return EXIT_USER_ERROR
    except MemoryError:
        # a sub-command whose options differ says what to do in its own (set_defaults)
        advice = getattr(args, "memory_advice", MEMORY_ADVICE)
        print(f"napari-n2n: error: out of memory. {advice}", file=sys.stderr)
        return EXIT_USER_ERROR
