#!/usr/bin/env python
"""Train the bundled general 3D denoiser (``src/napari_n2n/models/general-3d.n2n``).

    python scripts/train_general_3d.py                          # 12 min of training on the CPU
    python scripts/train_general_3d.py --minutes 1 --out /tmp/g3.n2n   # a quick try

As in 2D (``scripts/train_general_model.py``), a run on the CPU that starts from random weights
spends its first minute learning what every denoiser knows; in 3D a CPU minute is only a few
hundred steps, so the head start matters more. This one is the ``cpu-quick`` preset's 3D
network (2 levels × 16 channels), trained with Noise2Noise (two noisy copies, never a clean
target) on synthetic volumes made here, offline: nuclei (textured ellipsoids), cells (thin
shells around them) and vessels (tubes along random curves) on a smooth background, blurred
by a microscope-like Gaussian PSF that is 1-3× longer in z than in xy, and sampled with a
z-step of 1 to 4 pixel sizes (isotropic and anisotropic stacks). Each volume has its own
noise: Gaussian (σ 5-50 of the 0-255 range) or Poisson-Gaussian (gain 1-8, read noise σ
2-15). No real volume is used, so none of the benchmarks' volumes (the nibabel brain EPI, the
synthetic z-stack and cell volume of ``benchmarks/``, made by other code and seeds) is in its
training data. Everything is seeded: the same command gives the same file on the same machine
and torch version (up to the time budget's step count; give ``--steps`` for an exact repeat).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

SHAPE = (32, 64, 64)
OUT = Path(__file__).resolve().parents[1] / "src" / "napari_n2n" / "models" / "general-3d.n2n"


def _blob(vol, centre, radii, value, rng, *, shell: float = 0.0):
    """Add a soft ellipsoid (or, with ``shell``, a thin shell of that relative thickness) in its box."""
    import numpy as np

    lo = [max(int(c - r - 2), 0) for c, r in zip(centre, radii)]
    hi = [min(int(c + r + 3), s) for c, r, s in zip(centre, radii, vol.shape)]
    if any(h <= low for low, h in zip(lo, hi)):
        return
    grids = np.meshgrid(*[np.arange(a, b, dtype=np.float32) for a, b in zip(lo, hi)], indexing="ij")
    d = np.sqrt(sum(((g - c) / r) ** 2 for g, c, r in zip(grids, centre, radii)))
    if shell:
        inside = np.exp(-(((d - 1) / shell) ** 2))
    else:
        inside = 1 / (1 + np.exp((d - 1) * rng.uniform(4, 10)))
    vol[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]] += value * inside


def _vessel(vol, rng, value: float):
    """Add a tube along a smooth random curve."""
    import numpy as np

    p = np.array([rng.uniform(0, s) for s in vol.shape])
    v = rng.standard_normal(3)
    radius = rng.uniform(1.0, 3.0)
    for _ in range(int(rng.integers(20, 60))):
        v = v / np.linalg.norm(v) + 0.3 * rng.standard_normal(3)
        p = p + 2 * v / np.linalg.norm(v)
        _blob(vol, p, (radius,) * 3, value, rng)


def synthetic_volume(rng):
    """A clean volume on 0-255 (float32), ``SHAPE`` after its z-step, and that z-step."""
    import numpy as np
    from scipy.ndimage import gaussian_filter

    zstep = int(rng.integers(1, 5))
    shape = (SHAPE[0] * zstep, *SHAPE[1:])
    vol = np.zeros(shape, np.float32)
    kind = rng.choice(["nuclei", "cells", "vessels", "mixed"])
    n = int(rng.integers(20, 70)) * zstep
    for _ in range(n if kind != "vessels" else 0):
        c = [rng.uniform(0, s) for s in shape]
        r = [rng.uniform(3, 9) * rng.uniform(0.7, 1.3) for _ in range(3)]
        if kind in ("nuclei", "mixed"):
            _blob(vol, c, r, rng.uniform(40, 200), rng)
        if kind in ("cells", "mixed"):
            big = [x * rng.uniform(1.5, 2.2) for x in r]
            _blob(vol, c, big, rng.uniform(40, 160), rng, shell=rng.uniform(0.05, 0.15))
    for _ in range(int(rng.integers(3, 10)) if kind in ("vessels", "mixed") else 0):
        _vessel(vol, rng, rng.uniform(60, 200))
    texture = gaussian_filter(rng.standard_normal(shape).astype(np.float32), rng.uniform(1, 3))
    vol *= 1 + 0.3 * texture / max(float(texture.std()), 1e-6)
    vol += gaussian_filter(rng.uniform(0, 40, shape).astype(np.float32), 12)
    sigma_xy = rng.uniform(0.7, 1.5)
    vol = gaussian_filter(vol, (sigma_xy * rng.uniform(1, 3), sigma_xy, sigma_xy))
    vol = vol[::zstep][: SHAPE[0]]
    top = max(float(np.percentile(vol, 99.5)), 1e-6)
    return np.clip(vol / top * rng.uniform(150, 250), 0, 255).astype(np.float32), zstep


def noisy_pair(clean, rng, seed: int):
    """Two noisy copies of a volume, with a noise model and level of its own."""
    from napari_n2n import make_noise, synthesize_pair

    if rng.random() < 0.5:
        noise = make_noise("gaussian", sigma=float(rng.uniform(5, 50)))
    else:
        noise = make_noise(
            "poisson_gaussian", gain=float(rng.uniform(1, 8)), read_sigma=float(rng.uniform(2, 15))
        )
    return synthesize_pair(clean, noise, seed=seed)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[1], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--volumes", type=int, default=48, help=f"synthetic volumes of {SHAPE}")
    p.add_argument("--minutes", type=float, default=12.0, help="training time")
    p.add_argument("--steps", type=int, default=None, help="steps (default: as time allows)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--init", type=Path, default=None, help="continue from this model (e.g. the last run's)"
    )
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)

    import numpy as np

    from napari_n2n import TrainConfig
    from napari_n2n.console import run_training
    from napari_n2n.core.training.train import Trainer

    rng = np.random.default_rng(args.seed)
    pairs, zsteps = [], []
    for i in range(args.volumes):
        clean, zstep = synthetic_volume(rng)
        pairs.append(noisy_pair(clean, rng, args.seed + i))
        zsteps.append(zstep)
    a = np.stack([x for x, _ in pairs])
    b = np.stack([y for _, y in pairs])
    print(
        f"{len(a)} volumes of {SHAPE}, z-steps {np.bincount(zsteps)[1:].tolist()} × 1-4",
        file=sys.stderr,
    )
    config = TrainConfig(
        preset="cpu-quick",
        steps=args.steps,
        time_budget_s=None if args.steps else args.minutes * 60,
        device="cpu",
        seed=args.seed,
        val_fraction=0.0,
    )
    noise = {
        "name": "mixture",
        "gaussian_sigma": [5, 50],
        "poisson_gaussian_gain": [1, 8],
        "read_sigma": [2, 15],
    }
    trainer = Trainer(
        a, b, axes="SZYX", config=config, noise=noise, init=None if args.init is None else args.init
    )
    den, _ = run_training(trainer, label="general 3D")
    budget = f"--steps {args.steps}" if args.steps else f"--minutes {args.minutes:g}"
    before = ""
    if args.init is not None:
        from napari_n2n import Denoiser

        before = Denoiser.load(args.init).info.get("trained_by", str(args.init)) + "; then "
    den.info["trained_by"] = (
        f"{before}scripts/train_general_3d.py --volumes {args.volumes} {budget} --seed {args.seed}"
        + (" --init (the model before)" if args.init is not None else "")
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    den.save(args.out, overwrite=True)
    print(f"saved {args.out} ({den.summary()})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
