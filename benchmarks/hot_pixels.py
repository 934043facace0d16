#!/usr/bin/env python
"""Hot pixels against the normalisation: 1 % of pixels at 0 or 65535 in a dim uint16 pair.

    python benchmarks/hot_pixels.py            # about 5 minutes on 1 thread
    python benchmarks/hot_pixels.py --steps 100 --out ''

The pair is scikit-image's camera (256×256 crop) scaled to 100–1630 grey levels, with Gaussian
noise (σ 60) and 1 % of the pixels set to 65535 (two thirds: hot) or 0 (a third: dead), either the same pixels in both
copies (a sensor's hot pixels) or independently (impulse noise), stored as uint16. It compares the normalisation scale of napari-n2n before this change (the
0.5–99.5 percentile spread of all values, emulated here) and now (isolated outliers left out),
and the PSNR against the clean image of N2N trained with L2 under each, and with L1 now.
Prints a table and writes the ``hot-pixels`` section of ``docs/benchmarks.md`` (``--out ''``
to only print).
"""

from __future__ import annotations

import argparse
import sys
import time

import _common as C


def make_pair(fixed: bool, seed: int = 0):
    """(clean, A, B, mask of the pixels hot in A or B); ``fixed``: the same pixels in both (a sensor's hot pixels)."""
    import numpy as np
    from skimage import data

    clean = data.camera()[128:384, 128:384].astype(np.float64) * 6 + 100
    rng = np.random.default_rng(seed)
    copies, masks = [], []
    hot = rng.random(clean.shape) < 0.01
    values = np.where(rng.random(clean.shape) < 1 / 3, 0, 65535)
    for _ in range(2):
        noisy = np.clip(clean + rng.normal(0, 60, clean.shape), 0, 65535)
        if not fixed:
            hot = rng.random(clean.shape) < 0.01
            values = np.where(rng.random(clean.shape) < 1 / 3, 0, 65535)
        noisy[hot] = values[hot]
        copies.append(noisy.astype(np.uint16))
        masks.append(hot)
    return clean, copies[0], copies[1], masks[0] | masks[1]


def old_fit(views, *, max_values=4_000_000, seed=0):
    """The normalisation before this change: percentiles of all values (outliers included)."""
    import numpy as np

    from napari_n2n.core.data.normalization import PERCENTILES, Normalization

    values = np.concatenate([v.read(n).ravel() for v in views for n in range(v.n_samples)])
    lo, median, hi = np.percentile(values, (PERCENTILES[0], 50, PERCENTILES[1]))
    return Normalization((float(median),), (float(hi - lo) / 4.0,))


def run(steps: int) -> list[list]:
    import numpy as np

    from _cases import CONFIG_2D
    from napari_n2n import TrainConfig, psnr
    from napari_n2n.core.axes import AxisView
    from napari_n2n.core.data.normalization import Normalization
    from napari_n2n.core.training import train as train_module

    fitted = Normalization.__dict__["fit"]  # the classmethod itself, to put back
    rows = []
    for fixed in (True, False):
        clean, a, b, hot = make_pair(fixed)
        rng = float(clean.max() - clean.min())
        no_hot = np.clip(
            clean + np.random.default_rng(1).normal(0, 60, clean.shape), 0, 65535
        ).astype(np.uint16)
        reference = Normalization.fit([AxisView(no_hot, "YX", 2)]).scale[0]
        where = "same pixels in A and B" if fixed else "independent in A and B"

        def scores(image, clean=clean, hot=hot, rng=rng):
            image = np.asarray(image, dtype=np.float64)
            return (
                f"{psnr(clean, image, data_range=rng):.2f}",
                f"{psnr(clean[~hot], image[~hot], data_range=rng):.2f}",
            )

        rows.append([where, "noisy input A", "—", "—", "—", *scores(a)])
        for label, fit, loss in (
            ("before (all values)", old_fit, "l2"),
            ("now (outliers left out)", fitted, "l2"),
            ("now (outliers left out)", fitted, "l1"),
        ):
            Normalization.fit = staticmethod(fit) if fit is old_fit else fit
            try:
                config = TrainConfig(
                    **{**CONFIG_2D, "steps": steps, "loss": loss, "device": "cpu", "seed": 0}
                )
                trainer = train_module.Trainer(a, b, axes="YX", config=config)
                scale = trainer.norm.scale[0]
                with C.Stopwatch() as sw:
                    for _ in trainer.run():
                        pass
                prediction = trainer.denoiser().predict(a)
            finally:
                Normalization.fit = fitted
            rows.append(
                [
                    where,
                    label,
                    loss,
                    f"{scale:.0f} ({scale / reference:.1f}×)",
                    f"{sw.wall:.0f}",
                    *scores(prediction),
                ]
            )
            print(" | ".join(rows[-1]), flush=True)
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(C.DOCS), help="Markdown file to update ('' to skip)")
    args = p.parse_args(argv)
    C.pin_threads(args.threads)
    t = time.perf_counter()
    rows = run(args.steps)
    text = C.header(
        "Hot pixels and the normalisation scale",
        threads=args.threads,
        extra=[
            "camera 256×256 scaled to 100–1630, Gaussian σ 60, 1 % of the pixels set to 65535 (two thirds) or 0 "
            "(the same pixels in both copies, as a sensor's hot pixels, or independently, as impulse "
            "noise), uint16; N2N with the benchmarks' 2D configuration (cpu-tiny), "
            f"{args.steps} steps; PSNR against the clean image, peak = its range (1530), over all pixels "
            "and over the pixels that are not hot in A or B. 'before' emulates the normalisation of "
            "napari-n2n before isolated outliers were left out."
        ],
    )
    text += "\n" + C.md_table(
        [
            "hot pixels",
            "normalisation",
            "loss",
            "scale (× scale without hot pixels)",
            "train s",
            "PSNR (dB)",
            "PSNR of the other pixels",
        ],
        rows,
        align="lllrrrr",
    )
    text += f"\nWall time: {(time.perf_counter() - t) / 60:.1f} min\n"
    print(text)
    if args.out:
        C.write_section("hot-pixels", text, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
