"""``napari-n2n predict``: denoise an image file with a trained model."""

from __future__ import annotations

import sys
import time

from ._common import read_image, write_image


def register(sub) -> None:
    r = sub.add_parser("predict", help="denoise an image with a trained model")
    r.add_argument("--model", required=True, help="a .n2n model, or a BioImage Model Zoo package (.bioimageio.zip)")
    r.add_argument("--allow-code", action="store_true",
                   help="let a Zoo package run Python code it ships (PyTorch state dict with an architecture file); "
                        "only for packages from a source you trust")
    r.add_argument("--input", required=True)
    r.add_argument("--output", required=True)
    r.add_argument("--pair-with", help="second noisy copy: output the average of both predictions")
    r.add_argument("--tile", type=int, default=None, help="tile size (default: automatic)")
    r.add_argument("--axes", default=None)
    r.add_argument("--device", default=None)
    r.add_argument("--dtype", default="float32", choices=["float32", "input"])
    r.add_argument("--quiet", action="store_true")
    r.set_defaults(func=run)


def run(args) -> int:
    from .. import load_model
    from ..console import run_prediction
    from ..core.ood import check_image

    den = load_model(args.model, allow_code=args.allow_code, device=args.device)
    image = read_image(args.input, "input")
    options = dict(axes=args.axes, tile=args.tile, device=args.device, dtype=args.dtype)
    warning = check_image(den, image, axes=args.axes)  # far from the training data? (core/ood.py)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    t0 = time.perf_counter()
    if args.pair_with:
        other = read_image(args.pair_with, "second image of the pair")
        result = run_prediction(den.predict_pair_iter(image, other, **options), quiet=args.quiet)
    else:
        result = run_prediction(den.predict_iter(image, **options), quiet=args.quiet)
    write_image(args.output, result)
    print(f"wrote {args.output} ({result.shape}, {result.dtype}) in {time.perf_counter() - t0:.1f} s")
    return 0
