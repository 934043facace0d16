"""Time-lapses that move (issue #26): neighbour pairs unregistered vs registered.

Synthetic time-lapses of scikit-image's ``camera`` (left out of the general model's training
images, see scripts/train_general_model.py): (a) no motion, (b) global drift, (c) smooth local
deformation, (d) drift plus deformation; Poisson–Gaussian noise. Methods: Noise2Noise on
neighbour pairs, unregistered and registered (shift, flow; flow with the neighbour average at
prediction), Neighbor2Neighbor on every frame (single-image mode, one model for the stack),
BM3D per frame on the generalised Anscombe transform, and BM4D treating T as Z. PSNR over all
frames, and on the moving structures only (pixels whose clean value changes by more than 5 % of
the range to the next frame). Every learned method trains with the CLI defaults for the same
time budget.

    .venv/bin/python benchmarks/motion.py --budget 120 --frames 20 --size 512
    .venv/bin/python benchmarks/motion.py --budget 30 --frames 8 --size 192   # what fits a loaded 2-core CPU
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _baselines import vst_denoise
from _common import header, md_table, write_section

SCENES = ("none", "drift", "deform", "drift+deform")
PHOTONS = 30.0  # photons at the brightest pixel
READ_SIGMA = 0.02  # Gaussian read noise, fraction of the range


def scene(kind: str, n_frames: int, size: int) -> np.ndarray:
    """A clean time-lapse in [0, 1] of the camera image."""
    from scipy import ndimage as ndi
    from skimage import data, transform

    base = transform.resize(data.camera().astype(np.float32) / 255, (size + 64, size + 64))
    yy, xx = np.mgrid[: size + 64, : size + 64].astype(np.float32)
    frames = []
    for t in range(n_frames):
        dy = dx = np.zeros_like(yy)
        if "drift" in kind:  # 0.5-3 px per frame, varying
            dy = dy + 0.6 * t + 0.3 * np.sin(t)
            dx = dx + 1.7 * t
        if "deform" in kind:  # a smooth travelling wave of up to 1.5 px
            phase = 0.6 * t
            dy = dy + 1.5 * np.sin(2 * np.pi * xx / (size / 2) + phase)
            dx = dx + 1.2 * np.cos(2 * np.pi * yy / (size / 2.5) + phase)
        moved = ndi.map_coordinates(base, [yy + dy, xx + dx], order=3, mode="reflect")
        frames.append(moved[32 : 32 + size, 32 : 32 + size])
    return np.clip(np.stack(frames), 0, 1).astype(np.float32)


def noisy_copy(clean: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.poisson(clean * PHOTONS) / PHOTONS + rng.normal(0, READ_SIGMA, clean.shape)).astype(
        np.float32
    )


def psnr(clean, x, mask=None) -> float:
    if mask is not None and not mask.any():
        return float("nan")
    err = (np.asarray(x, np.float64) - clean) ** 2
    return float(10 * np.log10(1.0 / (err[mask].mean() if mask is not None else err.mean())))


def learned(noisy, budget: float, register: str, *, average: bool = False, nb2nb: bool = False):
    from napari_n2n.core.config import TrainConfig
    from napari_n2n.core.data.pairs import single_image, stack_neighbours
    from napari_n2n.core.data.registration import neighbour_average
    from napari_n2n.core.training.train import Trainer

    start = time.perf_counter()
    if nb2nb:
        pair = single_image(noisy, axes="SYX")
    else:
        pair = stack_neighbours(noisy, axis=0, axes="TYX", register=register)
    setup = time.perf_counter() - start
    config = TrainConfig(mode=pair.mode, steps=None, time_budget_s=budget, device="cpu")
    trainer = Trainer.from_pair(pair, config=config)
    list(trainer.run())
    out = trainer.denoiser().predict(noisy, axes="SYX" if nb2nb else "TYX")
    if average:
        t0 = time.perf_counter()
        out = neighbour_average(out, axis=0, axes="TYX", method="flow")
        setup += time.perf_counter() - t0
    return out, setup, pair.register


def bm3d_frames(noisy):
    from bm3d import bm3d

    rs = READ_SIGMA * PHOTONS
    return np.stack(
        [vst_denoise(frame, bm3d, scale=1 / PHOTONS, read_sigma_rel=rs) for frame in noisy]
    )


def bm4d_t_as_z(noisy):
    from bm4d import bm4d

    return vst_denoise(noisy, bm4d, scale=1 / PHOTONS, read_sigma_rel=READ_SIGMA * PHOTONS)


def registration_cost() -> str:
    """Seconds to register a 20-frame 512² drift+deform stack, against a 120 s run's 10 %."""
    from napari_n2n.core.data.pairs import stack_neighbours

    noisy = noisy_copy(scene("drift+deform", 20, 512), seed=2)
    rows = []
    for method in ("shift", "flow", "auto"):
        t0 = time.perf_counter()
        pair = stack_neighbours(noisy, axis=0, axes="TYX", register=method)
        took = time.perf_counter() - t0
        rows.append([method, pair.register, f"{took:.1f}", f"{100 * took / 120:.0f} %"])
        print(f"registration cost {method}: {took:.1f} s", flush=True)
    return "Registration of a 20-frame 512² stack (19 pairs; loaded machine)\n\n" + md_table(
        ["--register", "used", "seconds", "share of a 120 s run"], rows, align="llrr"
    )


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--budget", type=float, default=120.0, help="training seconds per model")
    p.add_argument("--frames", type=int, default=20)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--scenes", nargs="+", default=list(SCENES), choices=SCENES)
    p.add_argument("--skip", nargs="*", default=[], help="methods to leave out (names as shown)")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--no-write", action="store_true")
    p.add_argument("--section", default="motion", help="the docs/benchmarks.md section written")
    p.add_argument(
        "--cost",
        action="store_true",
        help="also time the registration of a 20-frame 512² drift+deform stack (shift, flow)",
    )
    args = p.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    methods = {
        "noisy": lambda x: (x, 0.0, ""),
        "N2N neighbours, unregistered": lambda x: learned(x, args.budget, "none"),
        "N2N neighbours, registered (shift)": lambda x: learned(x, args.budget, "shift"),
        "N2N neighbours, registered (flow)": lambda x: learned(x, args.budget, "flow"),
        "  + neighbour average (flow)": None,  # from the flow model's output
        "N2N neighbours, --register auto": lambda x: learned(x, args.budget, "auto"),
        "Nb2Nb per frame": lambda x: learned(x, args.budget, "none", nb2nb=True),
        "BM3D per frame (VST)": lambda x: (bm3d_frames(x), 0.0, ""),
        "BM4D, T as Z (VST)": lambda x: (bm4d_t_as_z(x), 0.0, ""),
    }
    results = {}
    for kind in args.scenes:
        clean = scene(kind, args.frames, args.size)
        noisy = noisy_copy(clean, seed=1)
        moving = np.zeros(clean.shape, bool)
        moving[:-1] = np.abs(np.diff(clean, axis=0)) > 0.05
        moving[-1] = moving[-2]
        for name, fn in methods.items():
            if name in args.skip or (
                name.startswith("  +") and "registered (flow)" in " ".join(args.skip)
            ):
                continue
            t0 = time.perf_counter()
            if fn is None:
                from napari_n2n.core.data.registration import neighbour_average

                flow_out = results[(kind, "N2N neighbours, registered (flow)")][3]
                out, extra, chosen = (
                    neighbour_average(flow_out, axis=0, axes="TYX", method="flow"),
                    0.0,
                    "flow",
                )
                extra = time.perf_counter() - t0
            else:
                out, extra, chosen = fn(noisy)
            wall = time.perf_counter() - t0
            row = (psnr(clean, out), psnr(clean, out, moving), extra, out, wall, chosen)
            results[(kind, name)] = row
            print(
                f"{kind:13s} {name:38s} {row[0]:6.2f} dB  moving {row[1]:6.2f} dB  "
                f"registration {extra:5.1f} s  wall {wall:6.1f} s {chosen}",
                flush=True,
            )
    headers = ["method"] + [f"{k}: all / moving (dB)" for k in args.scenes]
    rows = []
    for name in methods:
        cells = []
        for kind in args.scenes:
            r = results.get((kind, name))
            moving = "—" if r is None or np.isnan(r[1]) else f"{r[1]:.2f}"
            cells.append("—" if r is None else f"{r[0]:.2f} / {moving}")
        if any(c != "—" for c in cells):
            rows.append([name.strip(), *cells])
    reg_rows = [
        [kind, name, f"{results[(kind, name)][2]:.1f}", results[(kind, name)][5]]
        for kind in args.scenes
        for name in methods
        if (kind, name) in results
        and "registered" in name
        or (kind, name) in results
        and "auto" in name
    ]
    text = header(
        "Time-lapses that move: registered neighbour pairs (issue #26)",
        threads=args.threads,
        budget=f"{args.budget:g} s of training per learned model (CLI defaults), {args.frames} frames "
        f"of {args.size}², camera, Poisson ({PHOTONS:g} photons at the peak) + Gaussian "
        f"(σ {READ_SIGMA:g})",
        extra=[
            "The machine was shared with other agents' jobs while this ran: timings are loaded."
        ],
    )
    text += (
        "\nPSNR over all frames / on the moving structures only (pixels whose clean value changes "
        "by more than 5 % of the range to the next frame; a scene without motion has none). "
        '"+ neighbour average": the flow model\'s output averaged with its registered neighbours '
        "(`predict --neighbour-average T`). Nb2Nb: one single-image model trained on all frames.\n"
    )
    text += "\n" + md_table(headers, rows)
    text += "\nRegistration time (s, before training; the average: after prediction; `auto`: what it chose)\n\n"
    text += md_table(["scene", "method", "registration s", "chosen"], reg_rows, align="llrl")
    if args.cost:
        text += "\n" + registration_cost()
    print(text)
    if not args.no_write:
        write_section(args.section, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
