#!/usr/bin/env python
"""Fine-tuning: how many steps a model trained on one image or noise level needs on another.

    python benchmarks/finetune.py                 # ~10 CPU-minutes with one thread
    python benchmarks/finetune.py --steps 400 --pretrain 1000

Trains a model on camera with Gaussian σ25 (``--pretrain`` steps, the configuration of
``quality.py``), then, on each new case, trains from scratch and from that model (``--init-from``)
with the normalisation fitted to the new data (``recompute``) and with the old model's (``keep``),
for ``--steps`` steps each, validating every ``--every`` steps on the held-out band against the
clean image. The target is the validation PSNR that training from scratch has at its end (less
0.1 dB); the table gives the steps each start needs to reach it and the ratio to scratch, and the
PSNR of the whole denoised image after the run. Writes the ``finetune`` section of
``docs/benchmarks.md`` (``--out ''`` to only print).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

#: the new data: (label, image, noise key of quality.py, gain, offset) — the clean image is
#: ``gain * image + offset`` and the noise is scaled by ``gain`` (the same signal-to-noise ratio)
CASES = [
    ("another image (astronaut, σ25)", "astronaut", "g25", 1.0, 0.0),
    ("another noise level (camera, σ50)", "camera", "g50", 1.0, 0.0),
    ("another image, 3× brighter + offset 100 (astronaut, σ75)", "astronaut", "g25", 3.0, 100.0),
]
STARTS = ["scratch", "recompute", "keep"]


def _case(image: str, noise_key: str, gain: float, offset: float, seed: int = 1):
    from _cases import make_case

    case = make_case(image, noise_key, seed=seed)
    return [gain * x + offset for x in (case.clean, case.a, case.b)]


def _config(steps: int, every: int):
    from _cases import CONFIG_2D
    from napari_n2n import TrainConfig

    return TrainConfig(**CONFIG_2D, steps=steps, val_every=every, device="cpu", seed=0)


def _run(task) -> dict:
    label, image, noise_key, gain, offset, start, model, steps, every, threads = task
    C.pin_threads(threads)
    import numpy as np

    from napari_n2n import Trainer, psnr
    from napari_n2n.core.events import Validated

    clean, a, b = _case(image, noise_key, gain, offset)
    options = {} if start == "scratch" else {"init": model, "init_normalization": start}
    trainer = Trainer(a, b, axes="YX", config=_config(steps, every), clean=clean, **options)
    t = time.process_time()
    curve = [(e.step, e.psnr) for e in trainer.run() if isinstance(e, Validated)]
    cpu = time.process_time() - t
    pred = trainer.denoiser().predict(a, device="cpu")
    whole = psnr(clean, np.asarray(pred), data_range=float(clean.max() - clean.min()))
    print(
        f"{label} | {start} | end PSNR {curve[-1][1]:.2f} dB (val) {whole:.2f} dB (image) | {cpu:.0f} CPU s",
        flush=True,
    )
    return {"case": label, "start": start, "curve": curve, "image_psnr": whole, "cpu_s": cpu}


def _steps_to(curve, target: float) -> int | None:
    return next((step for step, value in curve if value >= target), None)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--pretrain", type=int, default=2000, help="steps of the model the others start from"
    )
    p.add_argument("--steps", type=int, default=600, help="steps of each run on the new data")
    p.add_argument("--every", type=int, default=10, help="validate every this many steps")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--jobs", type=int, default=1, help="runs at a time, each in its own process")
    p.add_argument("--json", help="also save the raw figures to this file")
    p.add_argument("--out", default=str(C.DOCS), help="Markdown file to update ('' to skip)")
    args = p.parse_args(argv)
    C.pin_threads(args.threads)
    from napari_n2n import Trainer

    t0 = time.perf_counter()
    model = str(Path(tempfile.mkdtemp()) / "camera_g25.n2n")
    clean, a, b = _case("camera", "g25", 1.0, 0.0, seed=0)
    pre = Trainer(a, b, axes="YX", config=_config(args.pretrain, args.pretrain), clean=clean)
    list(pre.run())
    pre.denoiser().save(model)
    print(
        f"pretrained on camera σ25 for {args.pretrain} steps ({time.perf_counter() - t0:.0f} s)",
        flush=True,
    )
    tasks = [
        (*case, start, model, args.steps, args.every, args.threads)
        for case in CASES
        for start in STARTS
    ]
    if args.jobs > 1:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(args.jobs) as pool:
            results = pool.map(_run, tasks, chunksize=1)
    else:
        results = [_run(task) for task in tasks]
    rows, ratios = [], {}
    for case in CASES:
        runs = {r["start"]: r for r in results if r["case"] == case[0]}
        target = runs["scratch"]["curve"][-1][1] - 0.1
        base = _steps_to(runs["scratch"]["curve"], target)
        for start in STARTS:
            r = runs[start]
            n = _steps_to(r["curve"], target)
            ratio = None if n is None else base / n
            ratios[(case[0], start)] = ratio
            rows.append(
                [
                    case[0] if start == "scratch" else "",
                    "from scratch"
                    if start == "scratch"
                    else f"from the camera model, {start} normalisation",
                    f"{target:.2f}",
                    "not reached" if n is None else f"{n:,}",
                    "—" if ratio is None else f"{ratio:.1f}×",
                    f"{r['curve'][-1][1]:.2f}",
                    f"{r['image_psnr']:.2f}",
                ]
            )
    text = C.header(
        "Fine-tuning from a trained model (--init-from)",
        threads=args.threads,
        extra=[
            f"The start model: camera 256×256, Gaussian σ25, {args.pretrain} steps; every run: "
            f"{args.steps} steps, the configuration of quality.py, validated every {args.every} "
            "steps on the held-out band (10 % of X) against the clean image.",
            "Target: the validation PSNR of the run from scratch at its end, less 0.1 dB; steps: the "
            "first validation at or above it; speed-up: steps from scratch / steps.",
            f"Wall time: {(time.perf_counter() - t0) / 60:.1f} min ({args.jobs} run(s) at a time).",
        ],
    )
    text += "\n" + C.md_table(
        [
            "new data",
            "start",
            "target (dB)",
            "steps to target",
            "speed-up",
            f"val PSNR at {args.steps}",
            "image PSNR",
        ],
        rows,
        align="llrrrrr",
    )
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    if args.out:
        C.write_section("finetune", text, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
