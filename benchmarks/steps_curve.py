#!/usr/bin/env python
"""N2N and N2C on one noisy pair as training goes on: does the N2N − N2C gap close with more steps?

    python benchmarks/steps_curve.py --jobs 2          # camera with Poisson peak 5 and Gaussian σ25 (~15 min)
    python benchmarks/steps_curve.py --cases camera:p30 --steps 1000,4000

Trains N2N (A↔B) and N2C (A, B → clean) with the configuration of ``quality.py`` for each
step count (no validation hold-out, last model, as in ``quality.py``), and N2N once more at the
largest step count with a 10 % validation band, keeping the model of lowest validation loss
(the trainer's default behaviour). Scores the prediction of A: PSNR, and the mean error and
RMSE on the brightest pixels (clean ≥ 200 of 255), where Poisson noise is strongest. Each run
is a separate task (``--jobs`` at a time, each in its own process). Prints a table and writes
it to the ``steps-curve`` section of ``docs/benchmarks.md`` (``--out ''`` to only print).
"""

from __future__ import annotations

import argparse
import sys
import time

import _common as C

BRIGHT = 200  # grey level above which a clean pixel counts as bright


def _run(task) -> list:
    image, noise, mode, steps, val, threads = task
    C.pin_threads(threads)
    import dataclasses

    import numpy as np

    from _cases import make_case, train_config, training_data
    from napari_n2n import psnr, train

    case = make_case(image, noise)
    a, clean = (np.asarray(x, dtype=np.float32) for x in (case.a, case.clean))
    cfg = dataclasses.replace(
        train_config(2, mode, case.noise.suggested_loss, steps), val_fraction=val
    )
    inp, tgt, axes = training_data(case, mode)
    with C.Stopwatch() as sw:
        den = train(inp, tgt, axes=axes, config=cfg)
    p = np.clip(np.asarray(den.predict(a, axes="YX", device="cpu")), 0, 255)
    bright = clean >= BRIGHT
    err = p[bright] - clean[bright]
    label = {"n2n": "N2N (A↔B)", "n2c": "N2C (A, B→clean)"}[mode]
    if val:
        label += f", {val:.0%} validation, best model"
    row = [
        case.label,
        label,
        steps,
        f"{sw.cpu:.0f}",
        f"{psnr(clean, p, data_range=255):.2f}",
        f"{err.mean():+.2f}",
        f"{np.sqrt(np.mean(err**2)):.2f}",
    ]
    print(" | ".join(map(str, row)), flush=True)
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--cases",
        default="camera:p5,camera:g25",
        help="comma list of image:noise (2D images of quality.py)",
    )
    p.add_argument("--steps", default="1000,3000,9000", help="comma list of step counts")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--jobs", type=int, default=1, help="runs at a time, each in its own process")
    p.add_argument("--out", default=str(C.DOCS), help="Markdown file to update ('' to skip)")
    args = p.parse_args(argv)
    C.pin_threads(args.threads)
    steps = sorted(int(s) for s in args.steps.split(","))
    tasks = []
    for spec in args.cases.split(","):
        image, noise = spec.split(":")
        tasks += [
            (image, noise, mode, n, 0.0, args.threads) for n in steps for mode in ("n2n", "n2c")
        ]
        tasks.append((image, noise, "n2n", steps[-1], 0.1, args.threads))
    t = time.perf_counter()
    if args.jobs > 1:
        import multiprocessing as mp

        # longest runs first, so that the workers finish together; the table keeps the task order
        order = sorted(range(len(tasks)), key=lambda i: -tasks[i][3])
        with mp.get_context("spawn").Pool(args.jobs) as pool:
            done = pool.map(_run, [tasks[i] for i in order], chunksize=1)
        rows = [row for _, row in sorted(zip(order, done))]
    else:
        rows = [_run(task) for task in tasks]
    from _cases import CONFIG_2D

    config = ", ".join(f"{k}={v}" for k, v in CONFIG_2D.items())
    text = C.header(
        "N2N vs N2C as training goes on (one 256×256 pair)",
        threads=args.threads,
        extra=[
            f"Configuration of quality.py (2D U-Net {config}, learning rate with cosine decay "
            "over the run); no validation hold-out and the last model, "
            "except where the row says otherwise. PSNR (dB) of the prediction of A; bright: "
            f"pixels with clean ≥ {BRIGHT} (mean error and RMSE in grey levels).",
            f"Wall time: {(time.perf_counter() - t) / 60:.1f} min ({args.jobs} run(s) at a time).",
        ],
    )
    text += "\n" + C.md_table(
        ["case", "method", "steps", "train CPU s", "PSNR", "bright: mean error", "bright: RMSE"],
        rows,
        align="llrrrrr",
    )
    print(text)
    if args.out:
        C.write_section("steps-curve", text, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
