#!/usr/bin/env python
"""Restoration quality: napari-n2n's learned denoisers against classical ones (PSNR, SSIM).

    python benchmarks/quality.py --quick               # ~10 CPU-minutes, writes docs/benchmarks.md
    python benchmarks/quality.py --quick --jobs 2      # two cases at a time: ~5 min on 2 idle cores
    python benchmarks/quality.py --full --jobs 2       # every image × every noise, 60 s budget: ~1 h
    python benchmarks/quality.py --quick --budget 30 --threads 1 --out docs/benchmarks.md

Images: 256×256 centre crops of grayscale images that ship with scikit-image (no download:
``camera``, ``moon``, ``coins``, ``astronaut`` converted to gray; ``cell``, a bright-field
microscopy image, and ``phantom``, the Shepp–Logan CT phantom, with Poisson–Gaussian noise),
and a synthetic 3D volume of blurred cell-like blobs; all on the 0–255 scale. Noise (seeded): Gaussian sigma 15/25/50,
Poisson at peak 30 and 5 photons, Poisson–Gaussian (gain 4, read noise 10), salt-and-pepper
10 % (learned methods use the L1 loss there).

Methods
-------
noisy input                    A, clipped to [0, 255]
N2N (A→B)                      napari-n2n Noise2Noise trained on the fixed pair (A, B), prediction of A
N2N avg(A, B)                  the same model, mean of the predictions of A and B (``predict_pair``)
N2C (A, B→clean)               napari-n2n Noise2Clean: the same noisy inputs as N2N (A and B, as a stack of two
                               samples) with the clean image as the target, same budget; prediction of A.
                               Only the target differs from N2N, which is the comparison of the paper.
                               It trains on the very image it is scored on: with enough steps it can
                               memorise that clean image, so it is an oracle here, not the held-out
                               comparison of the paper (``benchmarks/trust.py`` trains on one half of
                               each image and scores the other)
Nb2Nb (A only)                 napari-n2n single-image Neighbor2Neighbor on A, same budget
BM3D                           ``bm3d`` package (BM4D from the ``bm4d`` package for the volume) given
                               the true sigma; for Poisson / Poisson–Gaussian on the generalised
                               Anscombe transform (sigma 1) with the closed-form approximation of the
                               exact unbiased inverse (Mäkitalo & Foi 2011/2013); for salt-and-pepper
                               given the oracle standard deviation of the noise
NLM, TV, wavelet               scikit-image ``denoise_nl_means`` (h = 0.8 sigma, fast mode),
                               ``denoise_tv_chambolle`` (weight = sigma on the [0, 1] scale),
                               ``denoise_wavelet`` (BayesShrink, soft); sigma is the true one for
                               Gaussian noise, else ``estimate_noise_sigma`` of the noisy image
NLM calibrated (J-inv.)        ``calibrate_denoiser`` choosing NLM's h by self-supervised
                               J-invariant loss (TV's weight for the volume, where NLM is too slow)

Equal budget for the learned methods: every learned method trains for the same *CPU time*
(``--budget`` seconds of process CPU time, on ``--threads`` threads). The cost of one step of
each method is measured once per data shape before any case runs (60-step runs, mean over the
steps after 10 warm-up steps; the methods in turns, three rounds, the lowest of each), and the
number of steps is set to
``budget / cost`` so that the learning-rate schedule runs to its end; every case of a shape
gets the same steps;
N2N and N2C have the same cost per step and therefore the same number of steps. A CPU budget
rather than a wall-clock one keeps the comparison fair on a machine shared with other work.
The table reports the steps and the CPU seconds that each run used. All outputs are clipped to
[0, 255]; PSNR and SSIM use a data range of 255.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import _common as C
from _baselines import bm3d_method, skimage_methods
from _cases import (
    CONFIG_2D,
    CONFIG_3D,
    NOISES,
    Case,
    make_case,
    measure_costs,
    train_config,
    training_data,
)

QUICK_CASES = [
    ("camera", "g25"),
    ("camera", "g50"),
    ("camera", "p30"),
    ("camera", "p5"),
    ("camera", "pg"),
    ("camera", "sp10"),
    ("moon", "g25"),
    ("cell", "pg"),
    ("phantom", "pg"),
    ("volume", "g25"),
]
FULL_IMAGES = ["camera", "moon", "coins", "astronaut"]
FULL_CASES = [(im, nz) for im in FULL_IMAGES for nz in NOISES] + [
    ("cell", "pg"),
    ("cell", "p30"),
    ("phantom", "pg"),
    ("phantom", "p30"),
    ("volume", "g25"),
    ("volume", "p30"),
]

METHODS = [
    "noisy input",
    "N2N (A→B)",
    "N2N avg(A, B)",
    "N2C (A, B→clean)",
    "Nb2Nb (A only)",
    "BM3D",
    "NLM",
    "TV (Chambolle)",
    "wavelet (BayesShrink)",
    "NLM calibrated (J-inv.)",
]
LEARNED = ["N2N (A→B)", "N2N avg(A, B)", "N2C (A, B→clean)", "Nb2Nb (A only)"]
SKIMAGE = ["NLM", "TV (Chambolle)", "wavelet (BayesShrink)", "NLM calibrated (J-inv.)"]


def calibrate(cases: list[tuple[str, str]], seed: int = 0, rounds: int = 3, log=print) -> dict:
    """CPU seconds per step of the pair methods (N2N, N2C) and of Nb2Nb, per data shape.

    Measured once, before any case runs (so nothing else runs beside it), and shared by every
    case of that shape: all cases of one shape train for the same number of steps
    (:func:`_cases.measure_costs`).
    """
    plans = {}
    for image, noise in cases:
        case = make_case(image, noise, seed=seed)
        for kind in ("pair", "nb2nb"):
            key = f"{kind} {'x'.join(map(str, case.a.shape))}"
            if key not in plans:
                mode = "nb2nb" if kind == "nb2nb" else "n2n"
                plans[key] = (
                    case.a,
                    None if mode == "nb2nb" else case.b,
                    train_config(case.a.ndim, mode, "l2", 60, seed),
                )
    return measure_costs(plans, rounds=rounds, log=log)


class LearnedRunner:
    """Trains the learned methods of a case for an equal CPU budget (steps from calibrated costs)."""

    def __init__(self, budget_s: float, costs: dict, seed: int = 0):
        self.budget_s = budget_s
        self.costs = costs
        self.seed = seed

    def steps_for(self, case: Case, mode: str) -> tuple[int, float]:
        kind = "nb2nb" if mode == "nb2nb" else "pair"
        cost = self.costs[f"{kind} {'x'.join(map(str, case.a.shape))}"]
        return max(20, int(round(self.budget_s / cost))), cost

    def run(self, case: Case) -> tuple[dict, dict]:
        import numpy as np

        from napari_n2n import train

        loss = case.noise.suggested_loss
        outputs, info = {}, {}
        axes = "YX" if case.a.ndim == 2 else "ZYX"
        a = np.asarray(case.a, dtype=np.float32)
        plans = (("N2N (A→B)", "n2n"), ("N2C (A, B→clean)", "n2c"), ("Nb2Nb (A only)", "nb2nb"))
        for label, mode in plans:
            inp, tgt, ax = training_data(case, mode)
            steps, cost = self.steps_for(case, mode)
            cfg = train_config(case.a.ndim, mode, loss, steps, self.seed)
            with C.Stopwatch() as sw:
                den = train(inp, tgt, axes=ax, config=cfg)
            with C.Stopwatch() as sp:
                outputs[label] = den.predict(a, axes=axes, device="cpu")
            info[label] = dict(
                steps=den.history.get("steps_done"),
                train_cpu_s=sw.cpu,
                train_wall_s=sw.wall,
                cpu_per_step=cost,
                predict_wall_s=sp.wall,
                loss=cfg.loss,
                n_parameters=den.n_parameters,
            )
            if mode == "n2n":
                outputs["N2N avg(A, B)"] = den.predict_pair(case.a, case.b, device="cpu")
                info["N2N avg(A, B)"] = dict(info[label])
        return outputs, info


# ---- the benchmark ------------------------------------------------------------------------------
def evaluate(case: Case, runner: LearnedRunner, log=print) -> dict:
    import numpy as np

    from napari_n2n import psnr, ssim

    def score(img):
        y = np.clip(np.asarray(img, dtype=np.float64), 0, 255)
        return psnr(case.clean, y, data_range=255), ssim(case.clean, y, data_range=255)

    res: dict = {
        "case": case.label,
        "image": case.image,
        "noise": case.noise_key,
        "shape": list(case.a.shape),
        "methods": {},
    }
    res["methods"]["noisy input"] = dict(zip(("psnr", "ssim"), score(case.a)))
    t = time.perf_counter()
    learned, info = runner.run(case)
    for k, v in learned.items():
        res["methods"][k] = dict(zip(("psnr", "ssim"), score(v)), **info[k])
    log(f"  learned methods: {time.perf_counter() - t:.0f} s")
    t = time.perf_counter()
    out, note = bm3d_method(case)
    res["methods"]["BM3D"] = dict(
        zip(("psnr", "ssim"), score(out)), note=note, seconds=time.perf_counter() - t
    )
    log(f"  BM3D: {time.perf_counter() - t:.0f} s")
    outs, notes, times = skimage_methods(case)
    for k, v in outs.items():
        res["methods"][k] = dict(
            zip(("psnr", "ssim"), score(v)), note=notes.get(k), seconds=times[k]
        )
    log(f"  scikit-image: {sum(times.values()):.0f} s")
    return res


_RUNNER: LearnedRunner | None = None


def _run_task(task) -> dict:
    """One case, in this process or a pool worker (each worker keeps its own step-cost cache)."""
    global _RUNNER
    index, image, noise, budget, seed, threads, costs = task
    C.pin_threads(threads)
    if _RUNNER is None:
        _RUNNER = LearnedRunner(budget, costs, seed=seed)
    case = make_case(image, noise, seed=seed)
    print(f"  start {case.label} {tuple(case.a.shape)}", flush=True)
    r = evaluate(case, _RUNNER, log=lambda s: print(f"  {case.label}: {s.strip()}", flush=True))
    r["index"] = index
    return r


def checks(results: list[dict]) -> list[str]:
    """The aims of the issue, each with its figure and whether it is met."""
    lines = []

    def p(r, m):
        return r["methods"][m]["psnr"]

    for r in results:
        gap = p(r, "N2N (A→B)") - p(r, "N2C (A, B→clean)")
        lines.append(
            f"N2N − N2C on {r['case']}: {gap:+.2f} dB — aim ≥ −0.3 dB: {'met' if gap >= -0.3 else 'MISSED'}"
        )
    for r in results:
        if r["noise"] == "g25":
            d = p(r, "N2N (A→B)") - p(r, "BM3D")
            lines.append(
                f"N2N − BM3D (true σ) on {r['case']}: {d:+.2f} dB — aim ≥ 0: {'met' if d >= 0 else 'MISSED'}"
            )
    for r in results:
        worst = min(LEARNED, key=lambda m: p(r, m))
        best = max(SKIMAGE, key=lambda m: p(r, m))
        d = p(r, worst) - p(r, best)
        lines.append(
            f"worst learned ({worst}) − best scikit-image ({best}) on {r['case']}: {d:+.2f} dB — "
            f"aim > 0: {'met' if d > 0 else 'MISSED'}"
        )
    return lines


def render(results: list[dict], args, wall_s: float) -> str:
    mode = "quick" if not args.full else "full"
    cols = [r["case"] for r in results]
    rows = []
    for m in METHODS:
        row = [m]
        for r in results:
            v = r["methods"].get(m)
            row.append("—" if v is None else f"{v['psnr']:.2f} / {v['ssim']:.3f}")
        rows.append(row)
    steps_rows = []
    for m in ("N2N (A→B)", "N2C (A, B→clean)", "Nb2Nb (A only)"):
        row = [m]
        for r in results:
            v = r["methods"][m]
            row.append(f"{v['steps']} / {v['train_cpu_s']:.0f} s")
        steps_rows.append(row)
    cfg2 = ", ".join(f"{k}={v}" for k, v in CONFIG_2D.items())
    cfg3 = ", ".join(f"{k}={v}" for k, v in CONFIG_3D.items())
    n_params = {r["image"]: r["methods"]["N2N (A→B)"]["n_parameters"] for r in results}
    text = C.header(
        f"Quality ({mode} mode): PSNR (dB) / SSIM against the clean image",
        threads=args.threads,
        budget=f"{args.budget:g} s of process CPU time of training per learned method and case "
        f"({args.threads} thread(s)); prediction not counted. Steps = budget / CPU cost "
        f"of a step, calibrated before the cases ran: "
        + ", ".join(f"{k}: {v * 1e3:.1f} ms" for k, v in args.costs.items()),
        extra=[
            f"Learned methods: 2D U-Net {cfg2}; 3D U-Net {cfg3}; no validation hold-out, last "
            f"model kept; L2 loss (L1 for salt & pepper; Nb2Nb always its own L2 loss). "
            f"Parameters: {', '.join(f'{k} {v:,}' for k, v in n_params.items())}.",
            "Images: 256×256 centre crops of scikit-image's bundled images (cell: bright-field "
            "microscopy; phantom: Shepp–Logan CT phantom); volume: synthetic "
            "32×96×96 cells. Outputs clipped to [0, 255]; data range 255.",
            "N2C trains on the very image it is scored on (clean targets): with enough steps an "
            "oracle that can memorise it, not the held-out comparison of the Noise2Noise paper; "
            "held-out figures are in the trust section (benchmarks/trust.py).",
            f"Wall time of the whole run: {wall_s / 60:.1f} min ({args.jobs} case(s) at a time, "
            f"each in its own process)"
            + (
                f"; resumed: {args.n_resumed} case(s) came from an earlier run of "
                f"this mode (same calibration and settings), not counted in this time."
                if getattr(args, "n_resumed", 0)
                else "."
            ),
        ],
    )
    text += "\n" + C.md_table(["method"] + cols, rows, align="l" + "c" * len(cols))
    text += "\nSteps done / training CPU seconds used by each learned run:\n\n"
    text += C.md_table(["method"] + cols, steps_rows, align="l" + "c" * len(cols))
    bm3d_notes = "; ".join(f"{r['case']}: {r['methods']['BM3D']['note']}" for r in results)
    text += f"\nBM3D inputs: {bm3d_notes}.\n"
    text += (
        "\nAims of the issue, as measured here:\n\n"
        + "\n".join(f"- {c}" for c in checks(results))
        + "\n"
    )
    return text


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description="Restoration quality of napari-n2n against classical denoisers."
    )
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help="8 cases, 20 s budget (default)")
    g.add_argument(
        "--full", action="store_true", help="4 images × 7 noises + 2 volume cases, 60 s budget"
    )
    p.add_argument(
        "--budget", type=float, default=None, help="CPU seconds of training per learned method"
    )
    p.add_argument(
        "--threads", type=int, default=1, help="compute threads for every method (default 1)"
    )
    p.add_argument(
        "--cases", default=None, help="comma list of image:noise, e.g. camera:g25,volume:g25"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="cases run in parallel, each in its own process with --threads threads (default 1). "
        "--jobs 2 on an idle 2-core machine halves the wall time; budgets are CPU time, but "
        "parallel jobs slow each other's steps a little, so use it on a quiet machine only",
    )
    p.add_argument("--out", default=str(C.DOCS), help="Markdown file to update ('' to skip)")
    p.add_argument("--json", default=None, help="also save the raw results here")
    p.add_argument(
        "--partial",
        default=None,
        help="file that collects each finished case as it ends (default: "
        "$TMPDIR/n2n_quality_<quick|full>.partial.jsonl)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="skip the cases already in the --partial file (same budget, seed and threads), "
        "reusing its calibration",
    )
    args = p.parse_args(argv)
    C.pin_threads(args.threads)
    if args.budget is None:
        args.budget = 60.0 if args.full else 20.0
    cases = FULL_CASES if args.full else QUICK_CASES
    if args.cases:
        cases = [tuple(c.split(":")) for c in args.cases.split(",")]
    t0 = time.perf_counter()
    mode = "full" if args.full else "quick"
    # every finished case is appended here at once, so an interrupted run loses nothing: rerun
    # the same command with --resume to skip the cases already done (with the same calibration)
    partial = Path(
        args.partial or Path(tempfile.gettempdir()) / f"n2n_quality_{mode}.partial.jsonl"
    )
    results: list = [None] * len(cases)
    done_before = {}
    args.costs = None
    if args.resume and partial.exists():
        lines = [json.loads(line) for line in partial.read_text().splitlines() if line.strip()]
        head = lines[0] if lines else {}
        if (
            head.get("budget") == args.budget
            and head.get("seed") == args.seed
            and head.get("threads") == args.threads
        ):
            args.costs = head["costs"]
            done_before = {(r["image"], r["noise"]): r for r in lines[1:]}
            print(
                f"resuming from {partial}: {len(done_before)} case(s) done, calibration reused",
                flush=True,
            )
        else:
            print(
                f"{partial} was made with another budget, seed or thread count: starting afresh",
                flush=True,
            )
    if args.costs is None:
        args.costs = calibrate(cases, seed=args.seed)
        partial.write_text(
            json.dumps(
                {
                    "budget": args.budget,
                    "seed": args.seed,
                    "threads": args.threads,
                    "costs": args.costs,
                }
            )
            + "\n"
        )
    tasks = []
    for i, (image, noise) in enumerate(cases):
        if (image, noise) in done_before:
            results[i] = done_before[(image, noise)]
        else:
            tasks.append((i, image, noise, args.budget, args.seed, args.threads, args.costs))
    tasks.sort(key=lambda t: t[1] != "volume")  # the slowest cases first, for load balance
    args.n_resumed = len(cases) - len(tasks)

    def done(r):
        with partial.open("a") as f:
            f.write(json.dumps(r, default=float) + "\n")
        results[r.pop("index")] = r
        print(
            f"[{time.perf_counter() - t0:5.0f} s] {r['case']}: "
            + "  ".join(f"{m}: {v['psnr']:.2f}" for m, v in r["methods"].items()),
            flush=True,
        )

    C.run_tasks(_run_task, tasks, args.jobs, done)
    wall = time.perf_counter() - t0
    text = render(results, args, wall)
    print(text)
    section = "quality-full" if args.full else "quality-quick"
    if args.out:
        C.write_section(section, text, args.out)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
