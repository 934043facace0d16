"""``napari-n2n check``: is this a valid Noise2Noise pair? Findings in plain words, with what to do."""

from __future__ import annotations

import json

from ._common import add_command, add_overwrite, destination, positive_int, read_image


def register(sub) -> None:
    c = add_command(
        sub,
        "check",
        "check two noisy images as a Noise2Noise pair (shift, brightness, noise)",
        description="Measure the shift, brightness difference and noise of a pair and say what "
        "to do about each. It only warns: the exit status is 0 whatever it finds.",
    )
    c.add_argument("a", help="noisy image A (TIFF or .npy)")
    c.add_argument("b", help="noisy image B, the same scene")
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
    b = read_image(args.b, "image B")
    report = check_pair(
        a.data, b.data, axes=args.axes or a.axes or b.axes or None, max_planes=args.planes
    )
    print(f"pair check of {args.a} and {args.b} ({report.planes} plane(s)):")
    print(report.summary())
    n = len(report.warnings)
    if report.errors:
        print("this pair cannot train a Noise2Noise model: see the error above")
    else:
        print(
            "no problems found" if not n else f"{n} warning(s): training still works, but see above"
        )
    if out is not None:
        text = json.dumps(report.to_dict(), indent=1)
        out.write(lambda tmp: tmp.write_text(text))
    return 0
