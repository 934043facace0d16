"""``napari-n2n check``: is this a valid Noise2Noise pair? Findings in plain words, with what to do."""

from __future__ import annotations

import json

from ._common import read_image


def register(sub) -> None:
    c = sub.add_parser("check", help="check two noisy images as a Noise2Noise pair (shift, brightness, noise)",
                       description="Measure the shift, brightness difference and noise of a pair and say what "
                                   "to do about each. It only warns: the exit status is 0 whatever it finds.")
    c.add_argument("a", help="noisy image A (TIFF or .npy)")
    c.add_argument("b", help="noisy image B, the same scene")
    c.add_argument("--axes", default=None, help="e.g. YX, ZYX, TYX, CYX (default: the last two axes are Y, X)")
    c.add_argument("--planes", type=int, default=8, help="planes of a stack or volume to check (default 8)")
    c.add_argument("--json", default=None, help="also write the measurements to this JSON file")
    c.set_defaults(func=run)


def run(args) -> int:
    from ..core.paircheck import check_pair

    a = read_image(args.a, "image A")
    b = read_image(args.b, "image B")
    report = check_pair(a, b, axes=args.axes, max_planes=args.planes)
    print(f"pair check of {args.a} and {args.b} ({report.planes} plane(s)):")
    print(report.summary())
    n = len(report.warnings)
    print("no problems found" if not n else f"{n} warning(s): training still works, but see above")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report.to_dict(), f, indent=1)
    return 0
