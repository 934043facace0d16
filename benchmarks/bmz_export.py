#!/usr/bin/env python
"""BioImage Model Zoo export of the default 2D model: package size and export time per weights format.

    python benchmarks/bmz_export.py                # ~2-4 min on 1 thread
    python benchmarks/bmz_export.py --steps 20 --out ''

Trains the default 2D U-Net (depth 4, 32 base channels, about 1.9 M parameters) for a few steps
(the package size and export time do not depend on how well it is trained), then exports it
with each set of weights formats: the time to write the package, the time of
``bioimageio.core.test_model`` on it (what ``export_bmz(test=True)`` adds), the size of the
package and of each weights file. Offline (bioimageio's cache in a temporary folder). Writes
the ``bmz-export`` section of ``docs/benchmarks.md`` (``--out ''`` to only print).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

VARIANTS = [
    ("state dict", {}),
    ("+ TorchScript", {"torchscript": True}),
    ("+ ONNX", {"onnx": True}),
    ("+ TorchScript + ONNX", {"torchscript": True, "onnx": True}),
]
WEIGHT_FILES = {
    "weights.pt": "state dict",
    "weights_torchscript.pt": "TorchScript",
    "weights.onnx": "ONNX",
    "weights.onnx.data": "ONNX",
}


def run(steps: int, tmp: Path) -> tuple[list[list], str]:
    import numpy as np
    from bioimageio.core import test_model
    from skimage import data

    from napari_n2n import Gaussian, TrainConfig, synthesize_pair, train
    from napari_n2n.bmz import export_bmz
    from napari_n2n.bmz._common import quiet

    clean = data.camera().astype(np.float32)
    a, b = synthesize_pair(clean, Gaussian(sigma=25.0), seed=0)
    den = train(
        a,
        b,
        config=TrainConfig(
            steps=steps,
            depth=4,
            base_channels=32,
            patch_size=64,
            batch_size=4,
            device="cpu",
            seed=0,
        ),
    )
    rows = []
    for label, flags in VARIANTS:
        path = tmp / f"default-{len(rows)}.bioimageio.zip"
        with C.Stopwatch() as export_time:
            export_bmz(den, path, name="default 2D model", sample=a, test=False, **flags)
        with C.Stopwatch() as test_time, quiet():
            summary = test_model(path)
        with zipfile.ZipFile(path) as zf:
            sizes: dict[str, int] = {}
            for info in zf.infolist():
                if info.filename in WEIGHT_FILES:
                    sizes[WEIGHT_FILES[info.filename]] = (
                        sizes.get(WEIGHT_FILES[info.filename], 0) + info.file_size
                    )
        mib = path.stat().st_size / 2**20
        rows.append(
            [
                label,
                f"{export_time.wall:.1f}",
                f"{test_time.wall:.1f}",
                summary.status,
                f"{mib:.2f}",
                ", ".join(f"{k} {v / 2**20:.2f}" for k, v in sizes.items()),
            ]
        )
        print(" | ".join(rows[-1]), flush=True)
    return rows, den.summary(), _agreement(den, path, a, clean)


def _agreement(den, package: Path, a, clean) -> list[list]:
    """napari-n2n's own tiled prediction vs bioimageio.core's blockwise one of the package, per weights format."""
    import numpy as np

    from napari_n2n import psnr
    from napari_n2n.bmz import load_bmz

    with C.Stopwatch() as sw:
        ours = den.predict(a, device="cpu")
    rows = [
        [
            "napari-n2n (.n2n)",
            f"{sw.wall:.1f}",
            f"{psnr(clean, ours, data_range=255):.2f}",
            "—",
            "—",
        ]
    ]
    model = load_bmz(package)
    for fmt in ("pytorch_state_dict", "torchscript", "onnx"):
        model.weight_format, model._pp = fmt, model._pipeline("cpu")
        with C.Stopwatch() as sw:
            theirs = model.predict(a)
        diff = np.abs(theirs - ours)
        inner = diff[64:-64, 64:-64]
        rows.append(
            [
                f"package, {fmt}",
                f"{sw.wall:.1f}",
                f"{psnr(clean, theirs, data_range=255):.2f}",
                f"{inner.max():.3g}",
                f"{diff.max():.3g}",
            ]
        )
        print(" | ".join(rows[-1]), flush=True)
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--steps",
        type=int,
        default=100,
        help="training steps (the package size and export time do not depend on them)",
    )
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(C.DOCS), help="Markdown file to update ('' to only print)")
    args = p.parse_args(argv)
    C.pin_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="bmz-bench-") as tmp:
        os.environ["BIOIMAGEIO_CACHE_PATH"] = str(Path(tmp) / "cache")
        rows, what, agreement = run(args.steps, Path(tmp))
    headers = [
        "weights",
        "export (s)",
        "bioimageio test (s)",
        "test",
        "package (MiB)",
        "weights files (MiB)",
    ]
    text = (
        C.header(
            "BioImage Model Zoo export of the default 2D model",
            threads=args.threads,
            extra=[
                f"Model: {what}",
                "Export writes the package without testing it (`export_bmz(..., test=False)`); the test column is "
                "`bioimageio.core.test_model` on the written package (all its weights formats), which "
                "`export_bmz(test=True)` (the default, and the CLI's) adds. Every package also holds the 256×256 "
                "test input and output (.npy and .tif, about 1 MiB together), a cover, the README and the training configuration.",
            ],
        )
        + "\n"
        + C.md_table(headers, rows, align="lrrrrl")
        + (
            "\nPrediction of the 512×512 noisy camera image (Gaussian, sigma 25) by napari-n2n's own tiler "
            "(one 512-pixel tile) and by bioimageio.core running the package through `load_bmz` (one pass: the "
            "image fits in one tile; bioimageio.core pads it by the 32-pixel halo, by reflection, and crops): "
            "PSNR against the clean image, and the largest difference between the two inside (64 pixels from "
            "the border) and anywhere (image units, 0-255). The differences at the border come from where the "
            "padding happens (the image, once, for the package; every convolution for napari-n2n).\n\n"
        )
        + C.md_table(
            ["run", "time (s)", "PSNR (dB)", "max difference inside", "max difference"], agreement
        )
    )
    print(text)
    if args.out:
        C.write_section("bmz-export", text, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
