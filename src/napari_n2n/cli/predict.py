"""``napari-n2n predict``: denoise an image file with a trained model."""

from __future__ import annotations

import sys
import time

from ._common import add_command, add_overwrite, destination, image_axes, positive_int, read_image


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
    add_overwrite(r, "the output file")
    r.set_defaults(func=run)


def run(args) -> int:
    import numpy as np

    from .. import load_model
    from ..console import run_prediction
    from ..core.errors import OutputError
    from ..core.files import write_with_fallback
    from ..core.ood import check_image
    from ..io import write_image

    out = destination(args.output, args, inputs=[args.input, args.pair_with, args.model])
    den = load_model(args.model, allow_code=args.allow_code, device=args.device)
    image = read_image(args.input, "input")
    other = read_image(args.pair_with, "second image of the pair") if args.pair_with else None
    axes = image_axes(image, args.axes, others=(other,), model_axes=den.axes)
    itemsize = np.dtype(image.data.dtype).itemsize if args.dtype == "input" else 4
    out.require_space(int(np.prod(image.shape)) * itemsize)
    options = dict(axes=axes, tile=args.tile, device=args.device, dtype=args.dtype)
    warning = check_image(den, image.data, axes=axes)  # far from the training data? (core/ood.py)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    t0 = time.perf_counter()
    if other is not None:
        result = run_prediction(den.predict_pair_iter(image.data, other.data, **options), quiet=args.quiet)
    else:
        result = run_prediction(den.predict_iter(image.data, **options), quiet=args.quiet)
    saved, why = write_with_fallback(out, lambda d: write_image(d, result, axes=axes, pixel_size=image.pixel_size,
                                                                unit=image.unit))
    print(f"wrote {saved} ({result.shape}, {result.dtype}) in {time.perf_counter() - t0:.1f} s")
    if why:
        raise OutputError(f"{why} The result was written to {saved} instead.")
    return 0
