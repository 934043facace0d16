"""``napari-n2n export-bmz``: write a trained model as a BioImage Model Zoo package."""

from __future__ import annotations

import time
from pathlib import Path

from ._common import HelpFormatter, read_image


def register(sub) -> None:
    e = sub.add_parser(
        "export-bmz",
        help="write a .n2n model as a BioImage Model Zoo package (.bioimageio.zip)",
        formatter_class=HelpFormatter,
        description="Write a .n2n model as a BioImage Model Zoo package that bioimageio.core and the Zoo's tools "
        "run: deepImageJ and QuPath need --torchscript, ONNX runtimes --onnx. Needs the extra "
        "napari-n2n[bmz] (and napari-n2n[onnx] for --onnx).",
    )
    e.add_argument("model", help="the trained model (.n2n)")
    e.add_argument(
        "-o", "--output", required=True, help="the package to write (NAME.bioimageio.zip)"
    )
    e.add_argument("--name", help="the model's name in the Zoo (default: the output file's name)")
    e.add_argument(
        "--author", action="append", default=[], help="an author's name (repeat for several)"
    )
    e.add_argument(
        "--github-user",
        help="the GitHub user name of the package's maintainer (the Zoo asks every package for one)",
    )
    e.add_argument("--description", help="a sentence or two: what the model denoises")
    e.add_argument("--license", default="BSD-3-Clause", help="SPDX licence of the weights")
    e.add_argument(
        "--sample",
        help="an image like the training data (TIFF or .npy): its centre becomes the "
        "package's test image and cover (default: a synthetic image)",
    )
    e.add_argument(
        "--sample-axes", help="axes of --sample, e.g. YX, ZYX, CYX (default: from the file)"
    )
    e.add_argument(
        "--torchscript",
        action="store_true",
        help="add TorchScript weights (deepImageJ, QuPath, BioEngine)",
    )
    e.add_argument("--onnx", action="store_true", help="add ONNX weights (needs napari-n2n[onnx])")
    e.add_argument(
        "--tag",
        action="append",
        default=[],
        help="an extra tag, e.g. fluorescence-light-microscopy",
    )
    e.add_argument(
        "--no-test", action="store_true", help="skip bioimageio.core's model test of the package"
    )
    e.add_argument(
        "--overwrite",
        "--force",
        dest="force",
        action="store_true",
        help="replace an existing output file (without it, an existing file is never replaced)",
    )
    e.set_defaults(func=run)


def run(args) -> int:
    from ..bmz import export_bmz
    from ..core.inference.denoiser import Denoiser

    den = Denoiser.load(args.model)
    sample = read_image(args.sample, "sample image") if args.sample else None
    # the file's own, if it says
    sample_axes = args.sample_axes or (sample.axes if sample is not None else None)
    name = args.name or Path(args.output).name.split(".")[0]
    t0 = time.perf_counter()
    path = export_bmz(
        den,
        args.output,
        name=name,
        description=args.description,
        authors=args.author,
        github_user=args.github_user,
        license=args.license,
        sample=None if sample is None else sample.data,
        sample_axes=sample_axes,
        torchscript=args.torchscript,
        onnx=args.onnx,
        tags=args.tag,
        test=not args.no_test,
        overwrite=args.force,
    )
    formats = ["pytorch_state_dict"] + ["torchscript"] * args.torchscript + ["onnx"] * args.onnx
    tested = "not tested" if args.no_test else "passed bioimageio.core's model test"
    print(
        f"wrote {path} ({', '.join(formats)}; {path.stat().st_size / 2**20:.1f} MiB; {tested}) "
        f"in {time.perf_counter() - t0:.1f} s"
    )
    return 0
