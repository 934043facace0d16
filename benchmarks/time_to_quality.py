#!/usr/bin/env python
"""Time to quality: PSNR of napari-n2n against wall time, beside BM3D on the same pair.

    python benchmarks/time_to_quality.py                       # CPU, presets cpu-quick / cpu-tiny / standard
    python benchmarks/time_to_quality.py --budgets 5 15 60     # fewer budgets
    python benchmarks/time_to_quality.py --device cuda --presets gpu standard --budgets 5 10 20 60
    python benchmarks/time_to_quality.py --no-bm3d             # e.g. on a GPU machine without bm3d
    python benchmarks/time_to_quality.py --volumes --budgets 30 60 120   # the volumes, beside BM4D

What a user feels is the time from pressing Train to a result as good as they could get
otherwise. For each pair and each preset, one training run per time budget (a run told "N
seconds" schedules its learning rate over N seconds, as the user's would), then the prediction
of A (single input) and the average of the predictions of A and B. The wall time counts
everything a user waits for: building the trainer (normalisation, samplers), training, and
prediction.

With ``--volumes``, the volumes of ``_volumes.py`` (a real brain EPI volume that nibabel ships,
Gaussian σ 20; an anisotropic fluorescence-like z-stack, Poisson–Gaussian) beside BM4D, with
napari-n2n's defaults (its voxel size read as from the file), random weights and the 2D path
(the volume as a stack of slices, ``SYX``, from the general 2D model) at the longest budget, and
the 3D prediction speed (Mvox/s: single input, pair average, 8-fold TTA). Writes the
``time-to-quality-volumes-<device>`` section.

Pairs (float32; PSNR against the clean image with its own data range):

* ``camera σ25``: scikit-image's camera, 512², Gaussian noise σ 25 (the plugin's 2D sample);
* ``cell PG``: scikit-image's ``cell`` (660×550 bright-field microscopy, bundled) with
  Poisson–Gaussian noise (gain 4, read noise σ 10 on the 0–255 scale).

BM3D (``bm3d`` package) runs on the same pair in the same process: given the true σ for the
Gaussian pair; for the Poisson–Gaussian pair on the generalised Anscombe transform (σ 1) with
the exact unbiased inverse's closed-form approximation. CAREamics is not run here (see
``speed.py`` for the side-by-side). Writes the ``time-to-quality-<device>`` section of
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import _common as C

PAIRS = {
    "camera σ25": ("camera", "gaussian", dict(sigma=25.0)),
    "cell PG": ("cell", "poisson_gaussian", dict(gain=4.0, read_sigma=10.0)),
}


def make_pair(name: str, seed: int = 0):
    import numpy as np
    from skimage import data

    from napari_n2n import make_noise, synthesize_pair

    image, noise_name, params = PAIRS[name]
    clean = getattr(data, image)().astype(np.float32)
    noise = make_noise(noise_name, **params)
    a, b = synthesize_pair(clean, noise, seed=seed)
    return clean, a, b, noise


def bm3d_psnr(clean, a, noise) -> tuple[float, float]:
    """(PSNR, seconds) of BM3D on ``a`` given the true noise model."""
    from bm3d import bm3d

    from _baselines import denoise_with_true_noise
    from napari_n2n import psnr

    t = time.perf_counter()
    out = denoise_with_true_noise(a, noise, bm3d)
    return psnr(clean, out), time.perf_counter() - t


def run_budget(
    clean,
    a,
    b,
    *,
    preset: str,
    budget: float,
    device: str,
    seed: int,
    compile: bool = False,
    init: str | None = "auto",
    axes: str = "YX",
    voxel_size=None,
) -> dict:
    from napari_n2n import TrainConfig, Trainer, psnr
    from napari_n2n.core.progress import drain

    t0 = time.perf_counter()
    trainer = Trainer(
        a,
        b,
        axes=axes,
        voxel_size=voxel_size,
        config=TrainConfig(
            preset=preset,
            steps=10_000_000,
            time_budget_s=budget,
            device=device,
            seed=seed,
            val_fraction=0.0,
            compile=compile,
        ),
        init=init,
    )
    t_setup = time.perf_counter() - t0
    den = drain(trainer.run())
    t_train = time.perf_counter() - t0
    single = den.predict(a)
    t_single = time.perf_counter() - t0
    pair = den.predict_pair(a, b)
    pair_s = time.perf_counter() - t0 - t_single  # predicting A and B again
    start = (
        "general model"
        if trainer.info.get("init_from", {}).get("model") == "general"
        else "random weights"
    )
    return {
        "den": den,
        "axes": axes,
        "xy_only_levels": trainer.unet.xy_only_levels,
        "patch": "×".join(str(v) for v in trainer.patch),
        "preset": trainer.config.preset,
        "start": start,
        "budget_s": budget,
        "steps": den.history.get("steps_done"),
        "setup_s": t_setup,
        "wall_single_s": t_single,
        "wall_pair_s": t_train + pair_s,
        "psnr_single": psnr(clean, single),
        "psnr_pair": psnr(clean, pair),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument(
        "--presets",
        nargs="+",
        default=None,
        help="default: cpu-quick cpu-tiny standard (gpu standard on cuda)",
    )
    p.add_argument(
        "--budgets",
        type=float,
        nargs="+",
        default=[5, 10, 15, 30, 60, 120],
        help="training seconds",
    )
    p.add_argument("--pairs", nargs="+", default=list(PAIRS), choices=list(PAIRS))
    p.add_argument(
        "--compile", action="store_true", help="train with torch.compile (TrainConfig.compile)"
    )
    p.add_argument(
        "--starts",
        nargs="+",
        default=["auto", "none"],
        choices=["auto", "none"],
        help="auto: napari-n2n's default start (the general 2D model on the CPU with cpu-quick); "
        "none: random weights (the auto rows that would repeat them are skipped)",
    )
    p.add_argument(
        "--no-bm3d", action="store_true", help="skip BM3D (e.g. where the bm3d package is missing)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(C.DOCS), help="Markdown file to update ('' to skip)")
    p.add_argument("--json", default=None, help="also save the raw results here")
    p.add_argument(
        "--volumes",
        action="store_true",
        help="the volumes (beside BM4D) instead of the 2D pairs (see the module's docstring)",
    )
    args = p.parse_args(argv)
    if args.volumes:
        return volumes(args)
    presets = args.presets or (
        ["gpu", "standard"]
        if args.device.startswith("cuda")
        else ["cpu-quick", "cpu-tiny", "standard"]
    )
    from napari_n2n import TrainConfig
    from napari_n2n.core.training.start import general_applies

    t_all = time.perf_counter()
    results = []
    for pair_name in args.pairs:
        clean, a, b, noise = make_pair(pair_name, args.seed)
        ref = None if args.no_bm3d else bm3d_psnr(clean, a, noise)
        if ref:
            print(f"{pair_name}: BM3D {ref[0]:.2f} dB in {ref[1]:.1f} s", flush=True)
        for preset in presets:
            for start in args.starts:
                if (
                    start == "auto"
                    and "none" in args.starts
                    and not general_applies(
                        TrainConfig(preset=preset),
                        device_type=args.device.split(":")[0],
                        spatial_ndim=2,
                        n_channels=1,
                    )
                ):
                    continue  # the default starts from random weights here: the 'none' rows show it
                for budget in args.budgets:
                    r = run_budget(
                        clean,
                        a,
                        b,
                        preset=preset,
                        budget=budget,
                        device=args.device,
                        seed=args.seed,
                        compile=args.compile,
                        init=None if start == "none" else start,
                    )
                    r.update(
                        pair=pair_name,
                        bm3d_psnr=ref[0] if ref else None,
                        bm3d_s=ref[1] if ref else None,
                    )
                    r.pop("den")
                    results.append(r)
                    print(
                        f"{pair_name} {preset} ({r['start']}) {budget:g} s: {r['steps']} steps, single "
                        f"{r['psnr_single']:.2f} dB ({r['wall_single_s']:.1f} s wall), pair {r['psnr_pair']:.2f} dB",
                        flush=True,
                    )
    rows = []
    for r in results:
        gap = "—" if r["bm3d_psnr"] is None else f"{r['psnr_single'] - r['bm3d_psnr']:+.2f}"
        rows.append(
            [
                r["pair"],
                r["preset"] + (" + compile" if args.compile else ""),
                r["start"],
                f"{r['budget_s']:g}",
                r["steps"],
                f"{r['wall_single_s']:.1f}",
                f"{r['psnr_single']:.2f}",
                gap,
                f"{r['psnr_pair']:.2f}",
                f"{r['wall_pair_s']:.1f}",
            ]
        )
    bm3d_lines = sorted(
        {
            f"{r['pair']}: BM3D {r['bm3d_psnr']:.2f} dB in {r['bm3d_s']:.1f} s"
            for r in results
            if r["bm3d_psnr"] is not None
        }
    )
    text = C.header(
        f"Time to quality ({args.device})",
        threads=None,
        device=args.device,
        extra=[
            "One training run per time budget (the learning rate scheduled over the budget), no "
            "validation band; wall = building the trainer + training + predicting A (and B for the "
            "pair average); PSNR against the clean image. CPU threads: napari-n2n's automatic "
            "choice (all cores but one)."
        ]
        + bm3d_lines,
    )
    text += "\n" + C.md_table(
        [
            "pair",
            "preset",
            "start",
            "budget s",
            "steps",
            "wall s (single)",
            "PSNR single (dB)",
            "single − BM3D (dB)",
            "PSNR A+B average (dB)",
            "wall s (average)",
        ],
        rows,
        align="lllrrrrrrr",
    )
    text += f"\nWall time: {(time.perf_counter() - t_all) / 60:.1f} min\n"
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    if args.out:
        C.write_section(
            f"time-to-quality-{args.device.split(':')[0]}{'-compile' if args.compile else ''}",
            text,
            args.out,
        )
    return 0


def volumes(args) -> int:
    """The volume rows: defaults at every budget, random weights and the 2D path at the longest."""
    from _volumes import VOLUMES, bm4d_psnr, make_volume_pair

    t_all = time.perf_counter()
    longest = max(args.budgets)
    results, speeds, refs = [], [], {}
    for name in VOLUMES:
        clean, a, b, noise, voxel = make_volume_pair(name, args.seed)
        refs[name] = None if args.no_bm3d else bm4d_psnr(clean, a, noise)
        if refs[name]:
            print(f"{name}: BM4D {refs[name][0]:.2f} dB in {refs[name][1]:.1f} s", flush=True)
        runs = [("3D, defaults", "ZYX", "auto", budget) for budget in args.budgets]
        runs += [("3D, random weights", "ZYX", None, longest)]
        runs += [("2D slices (SYX), defaults", "SYX", "auto", longest)]
        for how, axes, init, budget in runs:
            r = run_budget(
                clean,
                a,
                b,
                preset="auto",
                budget=budget,
                device=args.device,
                seed=args.seed,
                init=init,
                axes=axes,
                voxel_size=voxel if axes == "ZYX" else None,
            )
            den = r.pop("den")
            r.update(volume=name, how=how)
            results.append(r)
            print(
                f"{name} {how} {budget:g} s: {r['steps']} steps, single {r['psnr_single']:.2f} dB, "
                f"pair {r['psnr_pair']:.2f} dB ({r['start']}, patch {r['patch']})",
                flush=True,
            )
            if how == "3D, defaults" and budget == longest:
                speeds.append(_speed(name, den, a, b))
    rows = []
    for r in results:
        ref = refs[r["volume"]]
        rows.append(
            [
                r["volume"],
                r["how"],
                r["start"],
                f"{r['budget_s']:g}",
                r["steps"],
                r["patch"] + (f", {r['xy_only_levels']} xy-only" if r["axes"] == "ZYX" else ""),
                f"{r['psnr_single']:.2f}",
                _gap(r["psnr_single"], ref),
                f"{r['psnr_pair']:.2f}",
                _gap(r["psnr_pair"], ref),
                f"{r['wall_pair_s']:.0f}",
            ]
        )
    ref_lines = [
        f"{name}: BM4D {ref[0]:.2f} dB in {ref[1]:.0f} s (true σ; Anscombe VST, σ 1, for "
        "Poisson–Gaussian)"
        for name, ref in refs.items()
        if ref
    ]
    text = C.header(
        f"Time to quality: volumes ({args.device})",
        threads=None,
        device=args.device,
        extra=[
            "One training run per time budget (the learning rate scheduled over the budget), no "
            "validation band, CLI defaults (preset auto; init auto; the voxel size as read from the "
            "file); wall = building the trainer + training + predicting A and B. The machine is "
            "shared with other agents' jobs (see the load average above): the steps a budget buys "
            "vary between runs."
        ]
        + ref_lines,
    )
    text += "\n" + C.md_table(
        [
            "volume",
            "how",
            "start",
            "budget s",
            "steps",
            "patch, network",
            "PSNR single (dB)",
            "single − BM4D",
            "PSNR A+B average (dB)",
            "average − BM4D",
            "wall s (average)",
        ],
        rows,
        align="llllrlrrrrr",
    )
    text += "\n3D prediction on the CPU (the 3D default model above, its default tiles):\n\n"
    text += C.md_table(
        ["volume", "Mvox", "single Mvox/s", "pair average Mvox/s", "TTA ×8 Mvox/s"],
        speeds,
        align="lrrrr",
    )
    text += f"\nWall time: {(time.perf_counter() - t_all) / 60:.1f} min\n"
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"results": results, "speeds": speeds, "bm4d": refs}, f, indent=1)
    if args.out:
        C.write_section(f"time-to-quality-volumes-{args.device.split(':')[0]}", text, args.out)
    return 0


def _gap(value: float, ref) -> str:
    return "—" if ref is None else f"{value - ref[0]:+.2f}"


def _speed(name: str, den, a, b) -> list:
    """Mvox/s of the single, pair-averaged and 8-fold TTA prediction of ``a``."""
    from napari_n2n.core.inference.tta import predict_tta

    mvox = a.size / 1e6
    t = time.perf_counter()
    den.predict(a)
    single = time.perf_counter() - t
    t = time.perf_counter()
    den.predict_pair(a, b)
    pair = time.perf_counter() - t
    t = time.perf_counter()
    predict_tta(den, a)
    tta = time.perf_counter() - t
    return [name, f"{mvox:.2f}", f"{mvox / single:.2f}", f"{mvox / pair:.2f}", f"{mvox / tta:.3f}"]


if __name__ == "__main__":
    sys.exit(main())
