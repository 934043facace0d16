#!/usr/bin/env python
"""Which U-Net / patch / batch / learning rate gives the best quality per CPU second?

The learned methods of ``quality.py`` train for a fixed, short CPU budget; this small
experiment picks the configuration they use. Every candidate trains Noise2Noise (and, with
``--nb2nb``, Neighbor2Neighbor) for the same CPU-time budget on one thread (as in
``quality.py``: steps = budget / measured CPU cost of a step), on the 256×256
centre crop of ``camera`` with Gaussian noise sigma 25, and is scored by the PSNR of the
prediction of the input A against the clean crop.

    python benchmarks/config_search.py [--budget 20] [--threads 1] [--nb2nb] [--out docs/benchmarks.md]

Writes the section ``config-search`` of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import sys

import _common as C

# (label, TrainConfig overrides)
CANDIDATES = [
    (
        "d3 b16 p32 bs8 lr1e-3",
        dict(depth=3, base_channels=16, patch_size=32, batch_size=8, learning_rate=1e-3),
    ),
    (
        "d3 b16 p32 bs8 lr3e-3",
        dict(depth=3, base_channels=16, patch_size=32, batch_size=8, learning_rate=3e-3),
    ),
    (
        "d3 b8 p32 bs8 lr1e-3",
        dict(depth=3, base_channels=8, patch_size=32, batch_size=8, learning_rate=1e-3),
    ),
    (
        "d3 b8 p32 bs8 lr3e-3",
        dict(depth=3, base_channels=8, patch_size=32, batch_size=8, learning_rate=3e-3),
    ),
    (
        "d2 b16 p32 bs8 lr2e-3",
        dict(depth=2, base_channels=16, patch_size=32, batch_size=8, learning_rate=2e-3),
    ),
    (
        "d2 b8 p32 bs8 lr3e-3",
        dict(depth=2, base_channels=8, patch_size=32, batch_size=8, learning_rate=3e-3),
    ),
    (
        "d3 b8 p48 bs4 lr3e-3",
        dict(depth=3, base_channels=8, patch_size=48, batch_size=4, learning_rate=3e-3),
    ),
    (
        "d4 b32 p64 bs16 lr1e-3 (library default)",
        dict(depth=4, base_channels=32, patch_size=64, batch_size=16, learning_rate=1e-3),
    ),
]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--budget", type=float, default=20.0, help="training CPU seconds per candidate (default 20)"
    )
    p.add_argument("--threads", type=int, default=1)
    p.add_argument(
        "--nb2nb", action="store_true", help="also score Neighbor2Neighbor with each candidate"
    )
    p.add_argument("--only", default=None, help="comma-separated candidate indices to run")
    p.add_argument("--out", default=str(C.DOCS), help="Markdown file to update ('' to skip)")
    args = p.parse_args(argv)
    C.pin_threads(args.threads)

    import numpy as np

    from _cases import cpu_seconds_per_step, load_image
    from napari_n2n import Gaussian, TrainConfig, psnr, synthesize_pair, train

    clean = load_image("camera")
    a, b = synthesize_pair(clean, Gaussian(sigma=25), seed=0)
    cands = CANDIDATES if not args.only else [CANDIDATES[int(i)] for i in args.only.split(",")]
    rows = []
    for label, over in cands:
        row = [label]
        for mode in ("n2n", "nb2nb") if args.nb2nb else ("n2n",):
            cfg = TrainConfig(mode=mode, steps=30, val_fraction=0.0, device="cpu", seed=0, **over)
            target = b if mode != "nb2nb" else None
            cost = cpu_seconds_per_step(a, target, cfg, n=40, repeats=1)
            cfg = cfg.replace(steps=max(20, int(round(args.budget / cost))))
            with C.Stopwatch() as sw:
                den = train(a, target, config=cfg)
            pred = np.clip(den.predict(a, device="cpu"), 0, 255)
            score = psnr(clean, pred, data_range=255)
            steps = den.history.get("steps_done")
            row += [score, steps]
            print(
                f"{label:45s} {mode:5s} {score:6.2f} dB  {steps} steps  {sw.cpu:.1f} CPU-s {sw.wall:.1f} wall-s  "
                f"{den.n_parameters} params",
                flush=True,
            )
        row.append(den.n_parameters)
        rows.append(row)
    heads = ["config (depth, base channels, patch, batch, lr)", "N2N PSNR (dB)", "N2N steps"]
    if args.nb2nb:
        heads += ["Nb2Nb PSNR (dB)", "Nb2Nb steps"]
    heads.append("parameters")
    noisy = psnr(clean, np.clip(a, 0, 255), data_range=255)
    text = C.header(
        "Choice of the learned-method configuration",
        threads=args.threads,
        budget=f"{args.budget:g} s of process CPU time of training per run ({args.threads} thread(s)); "
        "steps = budget / CPU cost of one step, measured by a 40-step calibration run (first 10 excluded)",
        extra=[
            f"Data: camera 256×256 centre crop, Gaussian sigma 25 (noisy input {noisy:.2f} dB); "
            "PSNR of the prediction of A, clipped to [0, 255]; no validation hold-out."
        ],
    )
    text += "\n" + C.md_table(heads, rows)
    print(text)
    if args.out:
        C.write_section("config-search", text, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
