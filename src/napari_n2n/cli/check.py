"""``napari-n2n check``: is this a valid Noise2Noise pair? Findings in plain words, with what to do."""

from __future__ import annotations

import dataclasses
import json

from ..core.errors import InputError
from ._common import add_command, add_overwrite, destination, positive_int, read_image


def register(sub) -> None:
    c = add_command(
        sub,
        "check",
        "check two noisy images as a Noise2Noise pair (shift, brightness, noise)",
        description="Measure the shift, brightness difference and noise of a pair and say what "
        "to do about each. It only warns: the exit status is 0 whatever it finds.",
    )
    c.add_argument("a", help="noisy image A (TIFF or .npy), or a stack with --pair-neighbours")
    c.add_argument("b", nargs="?", default=None, help="noisy image B, the same scene")
    c.add_argument(
        "--pair-neighbours",
        metavar="AXIS",
        choices=["T", "Z", "S"],
        default=None,
        help="no B: check neighbouring frames of the stack A along AXIS as pairs, and measure the "
        "motion between them (global shift, local flow): whether to train with --register",
    )
    c.add_argument(
        "--axes",
        default=None,
        help="e.g. YX, ZYX, TYX, CYX (default: from the file, else the last two axes are Y, X)",
    )
    c.add_argument(
        "--planes", type=positive_int, default=8, help="planes of a stack or volume to check"
    )
    c.add_argument(
        "--json", default=None, help="also write the measurements to this JSON file (default: none)"
    )
    add_overwrite(c, "the --json file")
    c.set_defaults(func=run)


def run(args) -> int:
    from ..core.data.paircheck import check_pair

    out = (
        destination(
            args.json, args, inputs=[args.a, args.b], what="JSON file (--json)", image=False
        )
        if args.json
        else None
    )
    a = read_image(args.a, "image A")
    motion = None
    if args.pair_neighbours:
        a_data, b_data, axes, motion = _neighbours(args, a)
        what = f"{args.a} (neighbouring frames along {args.pair_neighbours})"
    else:
        if args.b is None:
            raise InputError(
                "check needs image B, the same scene as A; or, for one stack, --pair-neighbours T."
            )
        b = read_image(args.b, "image B")
        a_data = a.data
        b_data = b.data
        axes = args.axes or a.axes or b.axes or None
        what = f"{args.a} and {args.b}"
    report = check_pair(a_data, b_data, axes=axes, max_planes=args.planes)
    if motion is not None:
        report = dataclasses.replace(report, findings=(*report.findings, motion.finding))
    print(f"pair check of {what} ({report.planes} plane(s)):")
    if motion is not None:
        print("motion between neighbouring frames:")
        print(motion.table())
    print(report.summary())
    n = len(report.warnings)
    if report.errors:
        print("this pair cannot train a Noise2Noise model: see the error above")
    else:
        print(
            "no problems found" if not n else f"{n} warning(s): training still works, but see above"
        )
    if out is not None:
        body = report.to_dict()
        if motion is not None:
            body["motion"] = motion.to_dict()
        text = json.dumps(body, indent=1)
        out.write(lambda tmp: tmp.write_text(text))
    return 0


def _neighbours(args, image):
    """Frames t and t + 1 of the stack, their axes, and the motion between neighbours."""
    from ..core.data.motioncheck import check_motion
    from ..core.data.pairs import stack_neighbours

    axes = args.axes or image.axes or f"{args.pair_neighbours}YX"[-image.ndim :]
    if args.pair_neighbours not in axes or len(axes) != image.ndim:
        raise InputError(
            f"--pair-neighbours {args.pair_neighbours}: the stack's axes ({axes}) do not name it. "
            "Give --axes with it (e.g. --axes TYX)."
        )
    axis = axes.index(args.pair_neighbours)
    pair = stack_neighbours(image.data, axis=axis, axes=axes)
    return pair.input, pair.target, pair.axes, check_motion(image.data, axis=axis, axes=axes)
