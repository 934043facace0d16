"""What the sub-commands share: the parser (one-line errors, defaults in ``--help``), argument
types, ``--overwrite``, input images and their axes, output destinations."""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np

from ..core.axes import validate_axes
from ..core.errors import InputError, OutputError
from ..core.files import Destination, same_file
from ..io import ImageData, format_for, read_image

__all__ = [
    "HelpFormatter",
    "Parser",
    "add_command",
    "add_overwrite",
    "add_pair_outputs",
    "destination",
    "image_axes",
    "non_negative_int",
    "pair_destinations",
    "positive_float",
    "positive_int",
    "read_image",
    "require_distinct_inputs",
    "require_distinct_outputs",
    "write_pair",
]


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows every option's default, except where there is none to show (``None``, a flag's ``False``):
    there the help text says what happens without the option."""

    def _get_help_string(self, action):
        if action.default is None or action.default is False or action.default == []:
            return action.help
        return super()._get_help_string(action)


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (``napari-n2n train: error: ...``) with exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def add_command(sub, name: str, help: str, description: str | None = None) -> Parser:
    """A sub-command's parser, with defaults shown in its ``--help``."""
    return sub.add_parser(
        name,
        help=help,
        description=description or help[:1].upper() + help[1:] + ".",
        formatter_class=HelpFormatter,
    )


def add_overwrite(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help=f"replace {what} if it exists (without it, an existing file is never replaced)",
    )


# ---- argument types ------------------------------------------------------------------------------
def _number(kind, text: str, ok, wanted: str):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {wanted}") from None
    if not ok(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not {wanted}")
    return value


def positive_int(text: str) -> int:
    return _number(int, text, lambda v: v >= 1, "a whole number from 1")


def non_negative_int(text: str) -> int:
    return _number(int, text, lambda v: 0 <= v < 2**63, "a whole number from 0")


def positive_float(text: str) -> float:
    return _number(float, text, lambda v: math.isfinite(v) and v > 0, "a positive number")


# ---- inputs ------------------------------------------------------------------------------------------
def _choices(shape: tuple[int, ...]) -> list[tuple[str, str]]:
    """The likely axes of an array of ``shape`` with what each means, for the message that asks for ``--axes``."""
    nd = len(shape)
    colour = shape[-1] <= 4
    table = {
        3: [("ZYX", "a volume"), ("TYX", "a time series")]
        + ([("YXC", "a colour image")] if colour else [])
        + ([("CYX", "channels first")] if shape[0] <= 4 and not colour else []),
        4: [
            ("TZYX", "a time series of volumes"),
            ("CZYX", "a volume with channels"),
            ("TCYX", "a time series with channels"),
        ]
        + ([("TYXC", "a colour time series")] if colour else []),
        5: [("TCZYX", "a time series of volumes with channels")],
    }
    return table.get(nd, [])


def image_axes(
    image: ImageData,
    given: str | None,
    *,
    others: tuple[ImageData | None, ...] = (),
    model_axes: str | None = None,
) -> str:
    """The axes to use for ``image``: ``--axes``, else what the file says, else (2D) YX.

    A 3D or larger image whose file says nothing about its axes is refused with the exact
    ``--axes`` to add, unless ``model_axes`` (the axes a model was trained on) have as many
    dimensions; then those are used and a note says so. The files in ``others`` (the target,
    the clean image) must not state different axes.
    """
    stated = [im for im in (image, *others) if im is not None and im.axes]
    for im in stated[1:]:
        if im.axes != stated[0].axes and not given:
            raise InputError(
                f"{stated[0].source} says its axes are {stated[0].axes} but {im.source} says {im.axes}. "
                "Give matching files, or choose with --axes."
            )
    if given:
        return validate_axes(given, image.ndim)
    if stated:
        return validate_axes(stated[0].axes, image.ndim)
    if image.ndim == 2:
        return "YX"
    if model_axes is not None and len(model_axes) == image.ndim:
        print(
            f"napari-n2n: {image.source} does not say what its axes are: using the model's, {model_axes} "
            "(give --axes to choose others)",
            file=sys.stderr,
        )
        return model_axes
    choices = _choices(image.shape)
    shape = "×".join(str(s) for s in image.shape)
    if not choices:
        raise InputError(
            f"{image.source} is {image.ndim}D ({shape}) and does not say what its axes are. "
            "Add --axes with one letter per dimension from STCZYX, e.g. --axes TCZYX."
        )
    flags = [f"--axes {a} for {what}" for a, what in choices]
    listed = ", ".join(flags[:-1]) + f" or {flags[-1]}" if len(flags) > 1 else flags[0]
    raise InputError(
        f"{image.source} is {image.ndim}D ({shape}) and the file does not say what its axes are. "
        f"Add {listed}."
    )


def require_distinct_inputs(
    a: ImageData, b: ImageData, names: tuple[str, str] = ("--input", "--target")
) -> None:
    """Refuse a pair made of one image twice: the same file (by inode), or two files with identical pixels."""
    how = None
    if same_file(a.source, b.source):
        how = "the same file"
    elif (
        a.shape == b.shape
        and a.data.dtype == b.data.dtype
        and np.array_equal(np.asarray(a.data), np.asarray(b.data))
    ):
        how = "identical images"
    if how:
        raise InputError(
            f"{names[0]} and {names[1]} are {how} ({a.source}, {b.source}). Noise2Noise learns from two independent "
            "noisy acquisitions of the same scene; with one image, use --mode nb2nb, or pair neighbouring frames of a "
            "time series (see the README)."
        )


# ---- outputs -----------------------------------------------------------------------------------------
def destination(
    path: str,
    args,
    *,
    inputs=(),
    what: str = "output",
    image: bool = True,
    hint: str = "add --overwrite",
) -> Destination:
    """The checked destination of an output (``--overwrite`` allows replacing a file; never an input).

    ``hint`` completes "To replace it, ..." in the message about an existing file.
    """
    # an unknown format is refused now, not after the work
    folder = getattr(format_for(path, writing=True), "folder", False) if image else False
    return Destination(
        path,
        overwrite=getattr(args, "overwrite", False),
        inputs=inputs,
        what=what,
        overwrite_hint=hint,
        folder=folder,
    )


def require_distinct_outputs(*destinations: Destination) -> None:
    """Refuse two outputs of one run that are the same file (one would replace the other)."""
    for i, d in enumerate(destinations):
        for other in destinations[:i]:
            if d.path == other.path or same_file(d.path, other.path):
                raise OutputError(
                    f"The {other.what} and the {d.what} are the same file ({d.given}); the second "
                    "would replace the first. Give two different names."
                )


# ---- the two outputs of a command that writes a pair (synth, split) --------------------------------
def add_pair_outputs(parser: argparse.ArgumentParser, noun: str) -> None:
    """``--out-a``, ``--out-b``, the ``--seed`` of the pair's randomness and ``--overwrite``."""
    parser.add_argument(
        "--out-a", required=True, help=f"where to write the first {noun} (.tif or .npy)"
    )
    parser.add_argument(
        "--out-b", required=True, help=f"where to write the second {noun} (.tif or .npy)"
    )
    parser.add_argument(
        "--seed",
        type=non_negative_int,
        default=0,
        help="random seed: the same seed gives the same pair",
    )
    add_overwrite(parser, "--out-a and --out-b")


def pair_destinations(args, noun: str, *, inputs=()) -> tuple[Destination, Destination]:
    """The checked destinations of ``--out-a`` and ``--out-b`` (before any work)."""
    out_a = destination(args.out_a, args, inputs=inputs, what=f"first {noun} (--out-a)")
    out_b = destination(args.out_b, args, inputs=inputs, what=f"second {noun} (--out-b)")
    require_distinct_outputs(out_a, out_b)
    return out_a, out_b


def write_pair(destinations: tuple[Destination, Destination], pair, *, like: ImageData) -> None:
    """Write the two images of ``pair`` with the axes and pixel size of the image they came from."""
    from ..io import write_image

    for dest, image in zip(destinations, pair):
        dest.require_space(image.nbytes)
        write_image(
            dest,
            image,
            axes=like.axes,
            pixel_size=like.pixel_size,
            unit=like.unit,
            frame_interval=like.frame_interval,
        )
