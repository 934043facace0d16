"""``napari-n2n demo``: Noise2Noise against Noise2Clean on a bundled image."""

from __future__ import annotations


def register(sub) -> None:
    d = sub.add_parser("demo", help="train N2N and N2C on a bundled image and compare (about 2 minutes)")
    d.add_argument("--out", default="demo_out", help="folder for the figure and models")
    d.add_argument("--seconds", type=float, default=50.0, help="training time per method")
    d.add_argument("--device", default="auto")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--quiet", action="store_true")
    d.set_defaults(func=run)


def run(args) -> int:
    from ..demo import run_demo

    run_demo(out_dir=args.out, seconds=args.seconds, device=args.device, seed=args.seed, quiet=args.quiet)
    return 0
