#!/usr/bin/env python
"""The out-of-distribution warning (``napari_n2n.core.inference.ood``): which images it flags, and what a model does to them.

    python benchmarks/ood.py                 # ~2 min on 1 thread
    python benchmarks/ood.py --steps 100     # quicker, less trained models

Part 1 compares the intensity statistics of training data with images that should pass (the
second noisy copy, a crop, a noisier copy, other frames) and images that should not (another
sample, another intensity scale), and prints how far each is in the units of the limits
(score > 1: warned). Part 2 trains a small model on each bundled sample and applies it to the
other samples, with the PSNR against the clean image before and after: what the warning is
there to catch. Prints the tables and writes the ``ood`` section of ``docs/benchmarks.md``
(``--out ''`` to only print).
"""

from __future__ import annotations

import argparse
import sys
import time

import _common as C


def _stats(image, axes):
    from napari_n2n.core.axes import AxisView
    from napari_n2n.core.inference.ood import measure

    return measure(AxisView(image, axes, 3 if "Z" in axes else 2))


def _score(train, image) -> tuple[float, float]:
    from napari_n2n.core.inference.ood import MAX_RATIO, MAX_SHIFT

    shift = abs(image.median[0] - train.median[0]) / train.spread[0]
    ratio = image.spread[0] / train.spread[0]
    return shift, ratio, max(shift / MAX_SHIFT, max(ratio, 1 / ratio) / MAX_RATIO)


def part1() -> list[list]:
    import numpy as np

    from napari_n2n.core.data import samples
    from napari_n2n.core.data.noise import Gaussian, synthesize_pair
    from napari_n2n.core.inference.ood import compare

    cam, vol, dig = samples.pair_2d(), samples.volume_3d(), samples.digits()
    cam50 = synthesize_pair(cam.clean, Gaussian(sigma=50.0), seed=3)[0]
    cam16 = (cam.a * 16.0).astype(np.float32)  # the same picture on a 12-bit scale
    mid = vol.a[vol.a.shape[0] // 2]
    cases = [
        ("camera A", cam.a, "YX", "camera B", cam.b, "YX", "pass"),
        (
            "camera A",
            cam.a,
            "YX",
            "camera A, top-left 128×128 crop (sky)",
            cam.a[:128, :128],
            "YX",
            "pass",
        ),
        (
            "camera A",
            cam.a,
            "YX",
            "camera A, bottom-right 128×128 crop (grass)",
            cam.a[-128:, -128:],
            "YX",
            "pass",
        ),
        ("camera A", cam.a, "YX", "camera with Gaussian σ 50", cam50, "YX", "pass"),
        ("nuclei 3D A", vol.a, "ZYX", "nuclei 3D B", vol.b, "ZYX", "pass"),
        (
            "nuclei 3D A, slices 0–15",
            vol.a[:16],
            "ZYX",
            "nuclei 3D A, slices 16–31",
            vol.a[16:],
            "ZYX",
            "pass",
        ),
        ("digits A", dig.a, "YX", "digits B", dig.b, "YX", "pass"),
        ("camera A", cam.a, "YX", "nuclei 3D A (slice by slice)", vol.a, "ZYX", "warn"),
        ("camera A", cam.a, "YX", "nuclei 3D A, middle slice", mid, "YX", "warn"),
        ("camera A", cam.a, "YX", "digits A", dig.a, "YX", "warn"),
        ("camera A", cam.a, "YX", "camera A × 16 (12-bit scale)", cam16, "YX", "warn"),
        ("nuclei 3D A", vol.a, "ZYX", "camera A", cam.a, "YX", "warn"),
        ("digits A", dig.a, "YX", "camera A", cam.a, "YX", "warn"),
    ]
    rows = []
    for tname, tdata, taxes, iname, idata, iaxes, expect in cases:
        train, image = _stats(tdata, taxes), _stats(idata, iaxes)
        shift, ratio, score = _score(train, image)
        warned = compare(train, image) is not None
        rows.append(
            [
                tname,
                iname,
                f"{train.median[0]:.3g} / {train.spread[0]:.3g}",
                f"{image.median[0]:.3g} / {image.spread[0]:.3g}",
                f"{shift:.2f}",
                f"{ratio:.2f}",
                f"{score:.2f}",
                "warned" if warned else "—",
                expect,
            ]
        )
        print(" | ".join(rows[-1]), flush=True)
    return rows


def part2(steps: int) -> list[list]:
    import numpy as np

    from _cases import train_config
    from napari_n2n import psnr, train
    from napari_n2n.core.data import samples
    from napari_n2n.core.inference.ood import check_image

    cam, dig, vol = samples.pair_2d(), samples.digits(), samples.volume_3d()
    mid = slice(vol.a.shape[0] // 2 - 4, vol.a.shape[0] // 2 + 4)
    images = {
        "camera": (cam.a, cam.clean),
        "digits": (dig.a, dig.clean),
        "nuclei 3D (8 middle slices, 2D model slice by slice)": (vol.a[mid], vol.clean[mid]),
    }
    rows = []
    for name, sample in (("camera", cam), ("digits", dig)):
        config = train_config(2, "n2n", "l2", steps, seed=0)
        with C.Stopwatch() as sw:
            den = train(sample.a, sample.b, axes="YX", config=config)
        for target, (noisy, clean) in images.items():
            axes = "ZYX" if noisy.ndim == 3 else "YX"
            rng = float(clean.max() - clean.min())
            pred = den.predict(noisy, axes=axes, device="cpu")
            warning = check_image(den, noisy, axes=axes)
            rows.append(
                [
                    f"{name} ({steps} steps, {sw.cpu:.0f} s)",
                    target,
                    f"{psnr(clean, noisy, data_range=rng):.2f}",
                    f"{psnr(clean, np.asarray(pred), data_range=rng):.2f}",
                    "warned" if warning else "—",
                ]
            )
            print(" | ".join(rows[-1]), flush=True)
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(C.DOCS), help="Markdown file to update ('' to skip)")
    args = p.parse_args(argv)
    C.pin_threads(args.threads)
    t = time.perf_counter()
    rows1 = part1()
    rows2 = part2(args.steps)
    from napari_n2n.core.inference.ood import MAX_RATIO, MAX_SHIFT

    text = C.header(
        "Out-of-distribution warning: which images are flagged",
        threads=args.threads,
        extra=[
            f"Score = the larger of |Δmedian| / ({MAX_SHIFT:g} training spreads) and the spread ratio / "
            f"{MAX_RATIO:g} (or its inverse); the warning fires above 1. Spread = interquartile range "
            "/ 1.349. Models: the benchmarks' 2D configuration, no validation."
        ],
    )
    text += "\n" + C.md_table(
        [
            "trained on",
            "image",
            "training median / spread",
            "image median / spread",
            "|Δmedian| in spreads",
            "spread ratio",
            "score",
            "warning",
            "expected",
        ],
        rows1,
        align="llrrrrrcc",
    )
    text += (
        "\n### What a model does to an image far from its training data (PSNR in dB against the clean "
        "image, data range of the clean image)\n\n"
    )
    text += C.md_table(
        ["model (cpu-tiny network, N2N)", "applied to", "noisy", "denoised", "warning"],
        rows2,
        align="llrrc",
    )
    print(text)
    if args.out:
        C.write_section("ood", text, args.out)
    print(f"({time.perf_counter() - t:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
