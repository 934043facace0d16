"""``napari-n2n demo``: Noise2Noise against Noise2Clean on a bundled image."""

from __future__ import annotations

from ._common import add_command, add_overwrite, non_negative_int, positive_float


def register(sub) -> None:
    d = add_command(sub, "demo", "train N2N and N2C on a bundled image and compare (about 2 minutes)")
    d.add_argument("--out", default="demo_out", help="folder for the figure and the two models (created if missing)")
    d.add_argument("--seconds", type=positive_float, default=50.0, help="training time per method")
    d.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    d.add_argument("--seed", type=non_negative_int, default=0, help="random seed of the noise and the training")
    d.add_argument("--quiet", action="store_true", help="print no progress")
    add_overwrite(d, "the figure and models of an earlier demo in --out")
    d.set_defaults(func=run)


def run(args) -> int:
    from ..demo import run_demo

    run_demo(out_dir=args.out, seconds=args.seconds, device=args.device, seed=args.seed, quiet=args.quiet,
             overwrite=args.overwrite)
    return 0
