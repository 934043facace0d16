#!/usr/bin/env python
"""Results a scientist can trust: generalisation, the best output of a pair, estimated PSNR, photon split.

    python benchmarks/trust.py --quick --jobs 2     # 5 cases, 20 CPU-s per learned run: ~10 min on 2 cores
    python benchmarks/trust.py --target --jobs 2    # the CPU preset for 5 CPU-minutes per case, every case of
                                                    # quality.py's quick mode: ~1 h on 2 cores
    python benchmarks/trust.py --quick --cases camera:g25 --budget 10 --out ''

Quick mode, per case (256×256 crops of scikit-image images, cases of ``_cases.py``), every
learned run with the same CPU budget (``--budget`` seconds of process CPU time on one thread;
steps = budget / the step cost calibrated before the cases run; ``quality.py``'s small
network, no validation band):

1. **Generalisation**, scored on the bottom half of the image (rows 128–255): N2N and N2C
   trained on the *whole* image (same image: N2C with the clean image as target can memorise
   it, an oracle) and on the *top half only* (held out: the network never saw the pixels it is
   scored on; the comparison of the Noise2Noise paper). BM3D on the whole image, scored on the
   same half.
2. **Best output from a pair**, whole image: the prediction of A, with test-time augmentation
   (mean over the 8 flips/rotations), the mean of the predictions of A and B (the widget's
   default when a pair exists), and both; against BM3D/BM4D given the true noise model
   (Anscombe transform for Poisson and Poisson–Gaussian noise).
3. **Estimated vs true PSNR** of the held-out N2N (trained on the top half of the crop) on a
   fresh noisy pair of the image around it (a 512×512 crop, or the whole image where smaller,
   less the pixels it trained on: 126,000–230,000 pixels, so that the sampling error of the
   estimate is small): estimated from the noisy target alone (``napari_n2n.core.inference.estimate``:
   error against B minus the noise variance from ``(A − B)²/2``, both directions A→B and
   B→A, with its standard error), against the true PSNR of the same two predictions (mean
   squared error of f(A) and f(B) against the clean image). Data range 255 for both.
4. **Photon split** (Poisson cases): one image A split into two halves by binomial thinning
   (gain = the true image units per photon, offset 0), N2N on the halves; the prediction of
   A and the mean of the predictions of the two halves; against N2N from two acquisitions
   (A and B) and Neighbor2Neighbor on A, at the same budget.

Target mode: the issue's target "the default output from a pair beats BM3D/BM4D on every case
at the CPU preset in 5 minutes". Every case of ``quality.py``'s quick mode trains N2N with the
CPU preset (``cpu-quick``; ``cpu-tiny``'s 3D network on the volume) and the trainer's defaults
(10 % validation band, weights of lowest validation loss) for ``--budget`` (default 300) CPU
seconds on one thread: no more work than 5 minutes of wall time give on one core (the
preset runs on more threads where there are more), robust to other work on a shared machine.
The default output (the A/B mean) and the A/B mean with test-time augmentation against
BM3D/BM4D; the trainer's live estimated PSNR (validation band) against the true PSNR on that
band. Poisson cases add the photon split and Neighbor2Neighbor at the same budget.
Writes the ``trust-quick`` / ``trust-target`` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import _common as C
from _baselines import bm3d_method
from _cases import NOISES, Case, load_image, make_case, measure_costs, train_config

QUICK_CASES = [
    ("camera", "g25"),
    ("camera", "p30"),
    ("cell", "pg"),
    ("phantom", "pg"),
    ("cell", "p30"),
]
TARGET_CASES = [
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
TARGET_PRESET_2D = "cpu-quick"


def _np(x):
    import numpy as np

    return np.asarray(x, dtype=np.float32)


def score(clean, image) -> float:
    import numpy as np

    from napari_n2n import psnr

    return psnr(clean, np.clip(np.asarray(image, dtype=np.float64), 0, 255), data_range=255)


def photon_scale(case: Case) -> float | None:
    """Image units per photon of a Poisson case (``None`` for other noise)."""
    return float(case.clean.max()) / case.noise.peak if case.noise.name == "poisson" else None


def target_config(ndim: int, mode: str, loss: str, steps: int, seed: int):
    from napari_n2n.core.training.presets import preset

    if ndim == 2:
        return preset(TARGET_PRESET_2D).config(
            mode=mode, loss=loss, steps=steps, device="cpu", seed=seed
        )
    return train_config(3, mode, loss, steps, seed).replace(val_fraction=0.1)


def calibrate(cases, *, target: bool, seed: int) -> dict:
    """CPU seconds per step of the pair runs and of Nb2Nb, per data shape (and preset)."""
    plans = {}
    for image, noise in cases:
        case = make_case(image, noise, seed=seed)
        for kind, mode in (("pair", "n2n"), ("nb2nb", "nb2nb")):
            if target and (kind == "nb2nb" and photon_scale(case) is None):
                continue
            key = f"{kind} {'x'.join(map(str, case.a.shape))}"
            make = target_config if target else train_config
            if key not in plans:
                plans[key] = (
                    case.a,
                    None if mode == "nb2nb" else case.b,
                    make(case.a.ndim, mode, "l2", 60, seed),
                )
    return measure_costs(plans)


def _train(inp, tgt, cfg, axes=None, clean=None):
    from napari_n2n import train

    with C.Stopwatch() as sw:
        den = train(inp, tgt, axes=axes, config=cfg, clean=clean)
    return den, {"steps": den.history.get("steps_done"), "cpu_s": sw.cpu}


def quick_case(case: Case, costs: dict, budget: float, seed: int) -> dict:
    """The four quick-mode measurements of one case (see the module's docstring)."""
    import numpy as np

    from napari_n2n.core.data.photon import photon_split
    from napari_n2n.core.inference.tta import predict_tta

    shape = "x".join(map(str, case.a.shape))
    steps = max(20, round(budget / costs[f"pair {shape}"]))
    nb_steps = max(20, round(budget / costs[f"nb2nb {shape}"]))
    loss = case.noise.suggested_loss
    a, b, clean = _np(case.a), _np(case.b), _np(case.clean)
    h = a.shape[0] // 2
    top, bottom = slice(0, h), slice(h, None)
    cfg = train_config(2, "n2n", loss, steps, seed)
    runs: dict = {}
    out: dict = {
        "case": case.label,
        "image": case.image,
        "noise": case.noise_key,
        "steps": steps,
        "nb2nb_steps": nb_steps,
    }
    # 1. generalisation, on the bottom half
    n2n, runs["N2N same image"] = _train(a, b, cfg)
    n2n_half, runs["N2N held out"] = _train(a[top], b[top], cfg)
    n2c, runs["N2C same image"] = _train(
        np.stack([a, b]), np.stack([clean, clean]), cfg.replace(mode="n2c"), "SYX"
    )
    n2c_half, runs["N2C held out"] = _train(
        np.stack([a[top], b[top]]),
        np.stack([clean[top], clean[top]]),
        cfg.replace(mode="n2c"),
        "SYX",
    )
    bm3d, _ = bm3d_method(case)
    ab, cb = a[bottom], clean[bottom]
    fa_same = n2n.predict(a)
    out["held_out"] = {
        "N2N same image": score(cb, fa_same[bottom]),
        "N2N held out": score(cb, n2n_half.predict(ab)),
        "N2C same image (oracle)": score(cb, n2c.predict(a, axes="YX")[bottom]),
        "N2C held out": score(cb, n2c_half.predict(ab, axes="YX")),
        "BM3D": score(cb, bm3d[bottom]),
    }
    # 2. the best output from a pair, whole image
    fb_same = n2n.predict(b)
    ta, tb = predict_tta(n2n, a), predict_tta(n2n, b)
    out["pair"] = {
        "noisy input": score(clean, a),
        "N2N f(A)": score(clean, fa_same),
        "N2N f(A) + TTA": score(clean, ta),
        "N2N avg(A, B)": score(clean, 0.5 * (fa_same + fb_same)),
        "N2N avg(A, B) + TTA": score(clean, 0.5 * (ta + tb)),
        "BM3D": score(clean, bm3d),
    }
    # 3. estimated vs true PSNR of the held-out N2N, on a larger region around the crop
    out["estimate"] = estimate_vs_true(case, n2n_half, seed)
    # 4. photon split (Poisson only)
    gain = photon_scale(case)
    if gain is not None:
        ha, hb = photon_split(a, gain=gain, offset=0.0, seed=seed)
        ph, runs["photon split"] = _train(ha, hb, cfg)
        nb, runs["Nb2Nb"] = _train(a, None, train_config(2, "nb2nb", "l2", nb_steps, seed))
        out["photon"] = {
            "N2N (A, B) f(A)": out["pair"]["N2N f(A)"],
            "N2N (A, B) avg": out["pair"]["N2N avg(A, B)"],
            "photon split f(A)": score(clean, ph.predict(a)),
            "photon split avg(halves)": score(clean, ph.predict_pair(ha, hb)),
            "Nb2Nb f(A)": score(clean, nb.predict(a)),
            "BM3D": out["pair"]["BM3D"],
        }
    out["runs"] = runs
    return out


def estimate_vs_true(case: Case, den, seed: int, size: int = 512) -> dict:
    """The PSNR of ``den`` estimated from a fresh noisy pair of the image around the crop, against the truth.

    ``den`` trained on the top half of the case's 256×256 centre crop; those pixels (and a
    2-pixel margin) are left out.
    """
    import numpy as np

    from napari_n2n import synthesize_pair
    from napari_n2n.core.inference.estimate import NoisyTargetMSE

    clean = load_image(case.image, size)
    full_h, full_w = load_image(case.image, 10**6).shape
    oy = (full_h - 256) // 2 - (full_h - clean.shape[0]) // 2
    ox = (full_w - 256) // 2 - (full_w - clean.shape[1]) // 2
    keep = np.ones(clean.shape, dtype=bool)
    keep[max(oy - 2, 0) : oy + 130, max(ox - 2, 0) : ox + 258] = False
    a, b = synthesize_pair(clean, case.noise, seed=seed + 1)
    fa, fb = den.predict(a), den.predict(b)
    acc = NoisyTargetMSE()
    acc.add(fa[keep], b[keep], a[keep])
    acc.add(fb[keep], a[keep], b[keep])
    est = acc.estimate(data_range=255.0)
    c = clean[keep]
    true_mse = 0.5 * (np.mean((fa[keep] - c) ** 2) + np.mean((fb[keep] - c) ** 2))
    return {
        "estimated": est.psnr,
        "stderr": est.psnr_stderr,
        "true": float(10 * np.log10(255.0**2 / true_mse)),
        "pixels": int(keep.sum()),
    }


def target_case(case: Case, costs: dict, budget: float, seed: int) -> dict:
    """The CPU preset for ``budget`` CPU seconds: the default pair output and its estimate against BM3D."""
    from napari_n2n.core.data.photon import photon_split
    from napari_n2n.core.inference.tta import denoise_pair

    shape = "x".join(map(str, case.a.shape))
    steps = max(20, round(budget / costs[f"pair {shape}"]))
    loss = case.noise.suggested_loss
    a, b, clean = _np(case.a), _np(case.b), _np(case.clean)
    axes = "YX" if a.ndim == 2 else "ZYX"
    cfg = target_config(a.ndim, "n2n", loss, steps, seed)
    # the clean image only lets the trainer report the true PSNR of its validation band beside its estimate
    den, run = _train(a, b, cfg, axes, clean=clean)
    plain = denoise_pair(den, a, b, axes=axes)
    tta = denoise_pair(den, a, b, axes=axes, tta=True)
    bm3d, note = bm3d_method(case)
    out = {
        "case": case.label,
        "image": case.image,
        "noise": case.noise_key,
        "steps": steps,
        "run": run,
        "config": {
            k: v
            for k, v in cfg.to_dict().items()
            if k in ("depth", "base_channels", "patch_size", "batch_size", "learning_rate")
        },
        "noisy": score(clean, a),
        "f(A)": score(clean, plain.pred_a),
        "avg": score(clean, plain.mean),
        "avg+tta": score(clean, tta.mean),
        "bm3d": score(clean, bm3d),
        "bm3d_note": note,
    }
    hist = den.history
    i = (
        hist["val_step"].index(hist["best_step"])
        if hist.get("best_step") in hist.get("val_step", [])
        else None
    )
    # the kept weights' validation (none with L1)
    if i is not None and hist["val_est_psnr"][i] is not None:
        out["estimate"] = {
            "estimated": hist["val_est_psnr"][i],
            "stderr": hist["val_est_psnr_stderr"][i],
            "true": hist["val_psnr"][i],
        }
    gain = photon_scale(case)
    if gain is not None:
        ha, hb = photon_split(a, gain=gain, offset=0.0, seed=seed)
        ph, out["photon_run"] = _train(ha, hb, cfg, axes)
        nb_steps = max(20, round(budget / costs[f"nb2nb {shape}"]))
        nb, out["nb2nb_run"] = _train(
            a, None, target_config(a.ndim, "nb2nb", "l2", nb_steps, seed), axes
        )
        out["photon"] = {
            "photon split f(A)": score(clean, ph.predict(a)),
            "photon split avg(halves)": score(clean, ph.predict_pair(ha, hb)),
            "Nb2Nb f(A)": score(clean, nb.predict(a)),
        }
    return out


# ---- running ------------------------------------------------------------------------------------
def _run_task(task) -> dict:
    index, image, noise, target, costs, budget, seed, threads = task
    C.pin_threads(threads)
    case = make_case(image, noise, seed=seed)
    print(f"  start {case.label}", flush=True)
    t = time.perf_counter()
    r = (target_case if target else quick_case)(case, costs, budget, seed)
    r["index"], r["wall_s"] = index, time.perf_counter() - t
    return r


def _met(ok: bool) -> str:
    return "met" if ok else "**missed**"


# ---- tables -------------------------------------------------------------------------------------
def render_quick(results: list[dict], args, wall_s: float) -> str:
    cols = [r["case"] for r in results]
    text = C.header(
        "Results to trust (quick mode): generalisation, the best output of a pair, estimated "
        "PSNR, photon split",
        threads=args.threads,
        budget=f"{args.budget:g} s of process CPU time of training per learned run and case "
        f"({args.threads} thread); steps = budget / calibrated cost of a step: "
        + ", ".join(f"{k}: {v * 1e3:.1f} ms" for k, v in args.costs.items()),
        extra=[
            "Network: quality.py's (cpu-tiny preset: 2 levels × 8 channels, patch 32, batch 8, "
            "learning rate 3e-3), no validation band, last weights. Images: 256×256 crops "
            "(cell: bright-field microscopy; phantom: Shepp–Logan CT phantom), 0–255, data range "
            "255; outputs clipped to [0, 255].",
            f"Wall time of the whole run: {wall_s / 60:.1f} min ({args.jobs} case(s) at a time); "
            "the machine was shared with other work (CPU-time budgets keep the methods' "
            "budgets equal).",
        ],
    )
    keys = list(results[0]["held_out"])
    rows = [[k] + [f"{r['held_out'][k]:.2f}" for r in results] for k in keys]
    text += (
        "\n**1. Generalisation** — PSNR (dB) on the bottom half of each image. *Same image*: trained on the "
        "whole image, including the half it is scored on (N2C with the clean image as target can memorise "
        "it: an oracle). *Held out*: trained on the top half only, scored on pixels the network never saw "
        "(the comparison of the Noise2Noise paper).\n\n"
    )
    text += C.md_table(["method"] + cols, rows, align="l" + "c" * len(cols))
    keys = list(results[0]["pair"])
    rows = [[k] + [f"{r['pair'][k]:.2f}" for r in results] for k in keys]
    best = []
    for r in results:
        learned = {k: v for k, v in r["pair"].items() if k.startswith("N2N")}
        k = max(learned, key=learned.get)
        best.append(f"{learned[k] - r['pair']['BM3D']:+.2f} ({k.replace('N2N ', '')})")
    rows.append(["best from the pair − BM3D"] + best)
    text += (
        "\n**2. The best output from a pair** — PSNR (dB), whole image; TTA: mean over the 8 flips/rotations; "
        "BM3D given the true noise model (Anscombe transform for Poisson and Poisson–Gaussian noise).\n\n"
    )
    text += C.md_table(["method"] + cols, rows, align="l" + "c" * len(cols))
    rows = [
        ["estimated (no clean image)"]
        + [f"{r['estimate']['estimated']:.2f} ± {r['estimate']['stderr']:.2f}" for r in results],
        ["true"] + [f"{r['estimate']['true']:.2f}" for r in results],
        ["estimated − true"]
        + [f"{r['estimate']['estimated'] - r['estimate']['true']:+.2f}" for r in results],
    ]
    text += (
        "\n**3. Estimated vs true PSNR** (dB) of the held-out N2N (trained on the top half of the crop) on a "
        "fresh noisy pair of the 512×512 crop around it (phantom: the whole 400×400 image), less the pixels it "
        "trained on ("
        + ", ".join(f"{r['estimate'].get('pixels', 0):,}" for r in results)
        + " pixels); both "
        "directions (f(A) against B and f(B) against A); data range 255.\n\n"
    )
    text += C.md_table(["PSNR"] + cols, rows, align="l" + "c" * len(cols))
    ph = [r for r in results if "photon" in r]
    if ph:
        keys = list(ph[0]["photon"])
        rows = [[k] + [f"{r['photon'][k]:.2f}" for r in ph] for k in keys]
        text += (
            "\n**4. Photon split vs two acquisitions vs single image** — PSNR (dB), whole image, same budget "
            "(Nb2Nb: steps of its own cost). The photon split uses A alone; N2N (A, B) uses a second "
            "acquisition (twice the light).\n\n"
        )
        text += C.md_table(["method"] + [r["case"] for r in ph], rows, align="l" + "c" * len(ph))
    text += (
        "\nTargets of issue #17, as measured here:\n\n"
        + "\n".join(f"- {c}" for c in quick_checks(results))
        + "\n"
    )
    return text


def quick_checks(results: list[dict]) -> list[str]:
    lines = []
    diffs = [r["estimate"]["estimated"] - r["estimate"]["true"] for r in results]
    lines.append(
        f"estimated PSNR within 0.5 dB of the true PSNR on every case: {_met(max(map(abs, diffs)) <= 0.5)} "
        f"(estimated − true from {min(diffs):+.2f} to {max(diffs):+.2f} dB)"
    )
    for r in results:
        if "photon" in r:
            p = r["photon"]
            best_ph = max(p["photon split f(A)"], p["photon split avg(halves)"])
            d_n2n, d_nb = best_ph - p["N2N (A, B) f(A)"], best_ph - p["Nb2Nb f(A)"]
            lines.append(
                f"{r['case']}: photon split (best output) − N2N (A, B) f(A) = {d_n2n:+.2f} dB (aim ≥ −0.5: "
                f"{_met(d_n2n >= -0.5)}); − Nb2Nb = {d_nb:+.2f} dB (aim > 0: {_met(d_nb > 0)})"
            )
    for r in results:
        h = r["held_out"]
        lines.append(
            f"{r['case']}: held out, N2N − N2C = {h['N2N held out'] - h['N2C held out']:+.2f} dB; same "
            f"image, N2N − N2C (oracle) = {h['N2N same image'] - h['N2C same image (oracle)']:+.2f} dB"
        )
    return lines


def render_target(results: list[dict], args, wall_s: float) -> str:
    cols = [r["case"] for r in results]
    cfg = results[0]["config"]
    text = C.header(
        "Results to trust (target mode): the CPU preset for 5 CPU-minutes against BM3D/BM4D",
        threads=args.threads,
        budget=f"{args.budget:g} s of process CPU time of training per run and case ({args.threads} "
        "thread): no more than 5 minutes of wall time give on one core; steps = budget / "
        "calibrated cost of a step: "
        + ", ".join(f"{k}: {v * 1e3:.1f} ms" for k, v in args.costs.items()),
        extra=[
            f"Network: the {TARGET_PRESET_2D} preset in 2D ({', '.join(f'{k}={v}' for k, v in cfg.items())}); "
            "cpu-tiny's 3D network on the volume; the trainer's defaults: 10 % validation band, "
            "weights of lowest validation loss; L2 loss (L1 for salt & pepper).",
            f"Wall time of the whole run: {wall_s / 60:.1f} min ({args.jobs} case(s) at a time); the "
            "machine was shared with other work.",
        ],
    )
    rows = [
        ["noisy input"] + [f"{r['noisy']:.2f}" for r in results],
        ["N2N f(A)"] + [f"{r['f(A)']:.2f}" for r in results],
        ["N2N avg(A, B) (the default output of a pair)"] + [f"{r['avg']:.2f}" for r in results],
        ["N2N avg(A, B) + TTA"] + [f"{r['avg+tta']:.2f}" for r in results],
        ["BM3D / BM4D (true noise model)"] + [f"{r['bm3d']:.2f}" for r in results],
        ["default − BM3D"] + [f"{r['avg'] - r['bm3d']:+.2f}" for r in results],
        ["steps"] + [str(r["steps"]) for r in results],
    ]
    text += "\nPSNR (dB), whole image, data range 255.\n\n" + C.md_table(
        ["method"] + cols, rows, align="l" + "c" * len(cols)
    )
    est = [r for r in results if r.get("estimate") and r["estimate"]["estimated"] is not None]
    if est:
        rows = [
            ["estimated (no clean image)"]
            + [f"{r['estimate']['estimated']:.2f} ± {r['estimate']['stderr']:.2f}" for r in est],
            ["true (same patches)"] + [f"{r['estimate']['true']:.2f}" for r in est],
            ["estimated − true"]
            + [f"{r['estimate']['estimated'] - r['estimate']['true']:+.2f}" for r in est],
        ]
        text += (
            "\nThe trainer's live estimate at the kept weights (its validation band; data range: the clean "
            "image's, so that the two compare), against the true PSNR of the same patches:\n\n"
        )
        text += C.md_table(["PSNR"] + [r["case"] for r in est], rows, align="l" + "c" * len(est))
    ph = [r for r in results if "photon" in r]
    if ph:
        rows = [
            ["N2N (A, B) f(A)"] + [f"{r['f(A)']:.2f}" for r in ph],
            ["N2N (A, B) avg"] + [f"{r['avg']:.2f}" for r in ph],
        ]
        rows += [[k] + [f"{r['photon'][k]:.2f}" for r in ph] for k in ph[0]["photon"]]
        text += "\nPhoton split and Neighbor2Neighbor at the same budget (PSNR, dB):\n\n"
        text += C.md_table(["method"] + [r["case"] for r in ph], rows, align="l" + "c" * len(ph))
    lines = []
    beats = [r["avg"] - r["bm3d"] for r in results]
    lines.append(
        f"default output of a pair (A/B mean) ≥ BM3D/BM4D on every case: {_met(min(beats) >= 0)} "
        f"(from {min(beats):+.2f} to {max(beats):+.2f} dB; with TTA: from "
        f"{min(r['avg+tta'] - r['bm3d'] for r in results):+.2f} dB)"
    )
    if est:
        d = [r["estimate"]["estimated"] - r["estimate"]["true"] for r in est]
        lines.append(
            f"live estimated PSNR within 0.5 dB of true: {_met(max(map(abs, d)) <= 0.5)} "
            f"({min(d):+.2f} to {max(d):+.2f} dB)"
        )
    for r in ph:
        best_ph = max(r["photon"]["photon split f(A)"], r["photon"]["photon split avg(halves)"])
        lines.append(
            f"{r['case']}: photon split − N2N (A, B) f(A) = {best_ph - r['f(A)']:+.2f} dB; − Nb2Nb = "
            f"{best_ph - r['photon']['Nb2Nb f(A)']:+.2f} dB"
        )
    return (
        text
        + "\nTargets of issue #17, as measured here:\n\n"
        + "\n".join(f"- {x}" for x in lines)
        + "\n"
    )


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description="Results to trust: generalisation, pair output, estimated PSNR, photon split."
    )
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--quick", action="store_true", help="5 cases, 20 CPU-s per learned run (default)"
    )
    g.add_argument(
        "--target",
        action="store_true",
        help="quality.py's quick cases, the CPU preset for 300 CPU-s",
    )
    p.add_argument(
        "--budget", type=float, default=None, help="CPU seconds of training per learned run"
    )
    p.add_argument("--threads", type=int, default=1)
    p.add_argument(
        "--cases", default=None, help="comma list of image:noise, e.g. camera:g25,cell:pg"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--jobs", type=int, default=1, help="cases run in parallel, each in its own process"
    )
    p.add_argument("--out", default=str(C.DOCS), help="Markdown file to update ('' to skip)")
    p.add_argument("--json", default=None, help="also save the raw results here")
    p.add_argument(
        "--resume", action="store_true", help="skip cases already in the partial file of this mode"
    )
    args = p.parse_args(argv)
    C.pin_threads(args.threads)
    mode = "target" if args.target else "quick"
    args.budget = args.budget or (300.0 if args.target else 20.0)
    cases = (
        [tuple(c.split(":")) for c in args.cases.split(",")]
        if args.cases
        else (TARGET_CASES if args.target else QUICK_CASES)
    )
    for _image, noise in cases:
        if noise not in NOISES:
            p.error(f"unknown noise {noise!r}; choose one of {', '.join(NOISES)}")
    t0 = time.perf_counter()
    partial = Path(tempfile.gettempdir()) / f"n2n_trust_{mode}.partial.jsonl"
    done_before, args.costs = {}, None
    if args.resume and partial.exists():
        lines = [json.loads(x) for x in partial.read_text().splitlines() if x.strip()]
        if lines and lines[0].get("budget") == args.budget and lines[0].get("seed") == args.seed:
            args.costs = lines[0]["costs"]
            done_before = {(r["image"], r["noise"]): r for r in lines[1:]}
            print(f"resuming: {len(done_before)} case(s) done", flush=True)
    if args.costs is None:
        args.costs = calibrate(cases, target=args.target, seed=args.seed)
        partial.write_text(
            json.dumps({"budget": args.budget, "seed": args.seed, "costs": args.costs}) + "\n"
        )
    results: list = [done_before.get(c) for c in cases]
    tasks = [
        (i, im, nz, args.target, args.costs, args.budget, args.seed, args.threads)
        for i, (im, nz) in enumerate(cases)
        if results[i] is None
    ]
    tasks.sort(key=lambda t: t[1] != "volume")

    def done(r):
        with partial.open("a") as f:
            f.write(json.dumps(r, default=float) + "\n")
        results[r.pop("index")] = r
        print(
            f"[{time.perf_counter() - t0:5.0f} s] done {r['case']} ({r['wall_s']:.0f} s)",
            flush=True,
        )

    C.run_tasks(_run_task, tasks, args.jobs, done)
    wall = time.perf_counter() - t0
    text = (render_target if args.target else render_quick)(results, args, wall)
    print(text)
    if args.out:
        C.write_section(f"trust-{mode}", text, args.out)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
