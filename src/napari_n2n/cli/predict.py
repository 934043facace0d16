"""``napari-n2n predict``: denoise an image file with a trained model."""

from __future__ import annotations

import sys
import time

from ._common import (
    add_command,
    add_overwrite,
    destination,
    image_axes,
    positive_int,
    read_image,
    require_distinct_outputs,
)


def register(sub) -> None:
    r = add_command(sub, "predict", "denoise an image with a trained model")
    r.add_argument("--model", required=True, help="a .n2n model, or a BioImage Model Zoo package (.bioimageio.zip)")
    r.add_argument("--allow-code", action="store_true",
                   help="let a Zoo package run Python code it ships (PyTorch state dict with an architecture file); "
                        "only for packages from a source you trust")
    r.add_argument("--input", required=True, help="the noisy image (TIFF or .npy)")
    r.add_argument("--output", required=True,
                   help="where to write the result (.tif or .npy); checked before denoising starts")
    r.add_argument("--pair-with", help="second noisy copy: write the average of both predictions (default: none)")
    r.add_argument("--tta", type=int, default=1, choices=[1, 2, 4, 8],
                   help="test-time augmentation: average over this many flips/rotations (1: none)")
    r.add_argument("--disagreement", default=None,
                   help="with --pair-with: write where the predictions of A and B differ (an error bar) here "
                        "(default: not written)")
    r.add_argument("--residual", default=None,
                   help="write what was removed (input - output) here (default: not written)")
    r.add_argument("--tile", type=positive_int, default=None,
                   help="tile side in pixels; smaller tiles use less memory (default: 512 in 2D, 48×96×96 in 3D "
                        "on the CPU)")
    r.add_argument("--axes", default=None,
                   help="axes of the input, e.g. YX, ZYX, TYX, YXC (default: from the file, else the model's "
                        "training axes when they fit; 2D files are YX)")
    r.add_argument("--device", default=None, help="auto, cpu, cuda, cuda:N or mps (default: the model's training choice)")
    r.add_argument("--dtype", default="float32", choices=["float32", "input"],
                   help="float32, or the input's type (rounded and clipped, e.g. uint16)")
    r.add_argument("--quiet", action="store_true", help="print no progress")
    add_overwrite(r, "the output files")
    r.set_defaults(func=run)


def run(args) -> int:
    import numpy as np

    from .. import load_model
    from ..core.errors import InputError, OutputError
    from ..core.files import write_with_fallback
    from ..core.ood import check_image
    from ..io import write_image

    if args.disagreement and not args.pair_with:
        raise InputError("--disagreement needs --pair-with (the second noisy copy): it compares the two predictions.")
    inputs = [args.input, args.pair_with, args.model]
    out = destination(args.output, args, inputs=inputs)
    maps = {k: destination(path, args, inputs=inputs, what=f"{k} map (--{k})")
            for k, path in (("disagreement", args.disagreement), ("residual", args.residual)) if path}
    require_distinct_outputs(out, *maps.values())
    den = load_model(args.model, allow_code=args.allow_code, device=args.device)
    image = read_image(args.input, "input")
    other = read_image(args.pair_with, "second image of the pair") if args.pair_with else None
    axes = image_axes(image, args.axes, others=(other,), model_axes=den.axes)
    itemsize = np.dtype(image.data.dtype).itemsize if args.dtype == "input" else 4
    out.require_space(int(np.prod(image.shape)) * itemsize)
    for dest in maps.values():
        dest.require_space(int(np.prod(image.shape)) * 4)
    options = dict(axes=axes, tile=args.tile, device=args.device, dtype=args.dtype)
    warning = check_image(den, image.data, axes=axes)  # far from the training data? (core/ood.py)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    t0 = time.perf_counter()
    result, arrays = _predict(den, image.data, None if other is None else other.data, args, options)
    written, whys = [], []
    for name, dest, array in (("result", out, result), *((f"{k} map", maps[k], arrays[k]) for k in maps)):
        saved, why = write_with_fallback(dest, lambda d, a=array: write_image(d, a, axes=axes,
                                                                              pixel_size=image.pixel_size,
                                                                              unit=image.unit))
        written.append(str(saved))
        whys += [f"{why} The {name} was written to {saved} instead."] if why else []
    print(f"wrote {', '.join(written)} ({result.shape}, {result.dtype}) in {time.perf_counter() - t0:.1f} s")
    if whys:
        raise OutputError(" ".join(whys))
    return 0


def _predict(den, image, other, args, options: dict):
    """The result, and the uncertainty maps asked for (with test-time augmentation when asked)."""
    from ..console import run_prediction

    if other is None and args.tta == 1 and not args.residual:
        return run_prediction(den.predict_iter(image, **options), quiet=args.quiet), {}
    if other is not None and args.tta == 1 and not (args.residual or args.disagreement):
        return run_prediction(den.predict_pair_iter(image, other, **options), quiet=args.quiet), {}
    from ..core.denoiser import cast_like
    from ..core.tta import denoise_pair_iter, predict_tta_iter, residual

    options = {k: v for k, v in options.items() if k != "dtype"}
    if other is not None:
        pair = run_prediction(denoise_pair_iter(den, image, other, tta=args.tta, **options), quiet=args.quiet)
        result, arrays = pair.mean, {"disagreement": pair.disagreement, "residual": pair.residual}
    else:
        result = run_prediction(predict_tta_iter(den, image, transforms=args.tta, **options), quiet=args.quiet)
        arrays = {"residual": residual(image, result)}
    return (cast_like(result, image.dtype) if args.dtype == "input" else result), arrays
