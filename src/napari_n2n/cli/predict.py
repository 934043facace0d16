"""``napari-n2n predict``: denoise an image file with a trained model."""

from __future__ import annotations

import time

from ._common import read_image, write_image


def register(sub) -> None:
    r = sub.add_parser("predict", help="denoise an image with a trained model")
    r.add_argument("--model", required=True)
    r.add_argument("--input", required=True)
    r.add_argument("--output", required=True)
    r.add_argument("--pair-with", help="second noisy copy: output the average of both predictions")
    r.add_argument("--tta", type=int, default=1, choices=[1, 2, 4, 8],
                   help="test-time augmentation: average over this many flips/rotations (default 1: none)")
    r.add_argument("--disagreement", default=None,
                   help="with --pair-with: write where the predictions of A and B differ (an error bar) here")
    r.add_argument("--residual", default=None, help="write what was removed (input - output) here")
    r.add_argument("--tile", type=int, default=None, help="tile size (default: automatic)")
    r.add_argument("--axes", default=None)
    r.add_argument("--device", default=None)
    r.add_argument("--dtype", default="float32", choices=["float32", "input"])
    r.add_argument("--quiet", action="store_true")
    r.set_defaults(func=run)


def run(args) -> int:
    from ..console import run_prediction
    from ..core.denoiser import Denoiser
    from ..core.errors import InputError

    den = Denoiser.load(args.model)
    image = read_image(args.input, "input")
    if args.disagreement and not args.pair_with:
        raise InputError("--disagreement needs --pair-with (the second noisy copy): it compares the two predictions.")
    options = dict(axes=args.axes, tile=args.tile, device=args.device)
    t0 = time.perf_counter()
    extra = {}
    if args.pair_with or args.tta > 1 or args.residual:
        from ..core.tta import denoise_pair_iter, predict_tta_iter, residual

        if args.pair_with:
            other = read_image(args.pair_with, "second image of the pair")
            pair = run_prediction(denoise_pair_iter(den, image, other, tta=args.tta, **options), quiet=args.quiet)
            result = pair.mean
            extra = {args.disagreement: pair.disagreement, args.residual: pair.residual}
        else:
            result = run_prediction(predict_tta_iter(den, image, transforms=args.tta, **options), quiet=args.quiet)
            extra = {args.residual: residual(image, result)}
        if args.dtype == "input":
            from ..core.denoiser import cast_like

            result = cast_like(result, image.dtype)
    else:
        result = run_prediction(den.predict_iter(image, dtype=args.dtype, **options), quiet=args.quiet)
    write_image(args.output, result)
    for path, array in extra.items():
        if path:
            write_image(path, array)
    written = ", ".join([args.output] + [p for p in extra if p])
    print(f"wrote {written} ({result.shape}, {result.dtype}) in {time.perf_counter() - t0:.1f} s")
    return 0
