#!/usr/bin/env python
"""Zero vs reflect padding of the U-Net's convolutions: does a small-patch model predict large tiles right?

    python benchmarks/padding.py                 # both paddings, 3D and 2D cases (~15 min on 1 thread)
    python benchmarks/padding.py --only 3d

For each padding it trains N2N with the configuration of ``quality.py`` and scores the
prediction of A made as one large tile and in training-sized tiles. A model that has learnt
the patch border as a cue (possible with zero padding: the receptive field of the small U-Net,
41 voxels, is larger than its 16³ training patch) predicts the large tile with an offset.
Prints a table and writes it to the ``padding`` section of ``docs/benchmarks.md`` (``--out ''``
to only print).
"""

from __future__ import annotations

import argparse
import sys
import time

import _common as C


def run(padding: str, only: str | None) -> list[list]:
    import numpy as np

    from _cases import make_case, train_config
    from napari_n2n import psnr, train

    plans = []
    if only in (None, "3d"):
        plans += [("volume", "g25", steps, 0) for steps in (250, 275, 300, 325)]
    if only in (None, "2d"):
        plans += [
            (im, nz, 900, seed)
            for im, nz in (("camera", "g25"), ("moon", "g25"), ("camera", "p5"), ("coins", "g25"))
            for seed in (0, 1)
        ]
    rows = []
    for image, noise, steps, seed in plans:
        case = make_case(image, noise)
        nd = case.a.ndim
        with C.Stopwatch() as sw:
            den = train(
                case.a,
                case.b,
                config=train_config(nd, "n2n", "l2", steps, seed=seed).replace(padding=padding),
            )
        small = dict(tile=(16, 16, 16), overlap=4) if nd == 3 else dict(tile=32, overlap=8)
        scores = []
        for kw in ({}, small):
            p = np.asarray(den.predict(case.a, device="cpu", **kw))
            scores += [
                psnr(case.clean, np.clip(p, 0, 255), data_range=255),
                float(p.mean() - case.clean.mean()),
            ]
        rows.append(
            [
                padding,
                case.label,
                seed,
                steps,
                f"{sw.cpu:.1f}",
                f"{scores[0]:.2f}",
                f"{scores[1]:+.2f}",
                f"{scores[2]:.2f}",
                f"{scores[3]:+.2f}",
            ]
        )
        print(" | ".join(map(str, rows[-1])), flush=True)
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", choices=["2d", "3d"], default=None)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(C.DOCS), help="Markdown file to update ('' to skip)")
    args = p.parse_args(argv)
    C.pin_threads(args.threads)
    t = time.perf_counter()
    rows = run("zeros", args.only) + run("reflect", args.only)
    text = C.header(
        "U-Net padding: one large tile vs training-sized tiles",
        threads=args.threads,
        extra=[
            "N2N with the configuration of quality.py (no validation, last model); PSNR (dB) of "
            "the prediction of A as one tile (the whole image) and in training-sized tiles "
            "(16³, overlap 4; 2D: 32², overlap 8); offset = mean(prediction) − mean(clean), "
            "in grey levels."
        ],
    )
    text += "\n" + C.md_table(
        [
            "padding",
            "case",
            "seed",
            "steps",
            "train CPU s",
            "PSNR one tile",
            "offset",
            "PSNR small tiles",
            "offset",
        ],
        rows,
        align="llrrrrrrr",
    )
    text += f"\nWall time: {(time.perf_counter() - t) / 60:.1f} min\n"
    print(text)
    if args.out:
        C.write_section("padding", text, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
