#!/usr/bin/env python
"""The 3D CPU preset's patch and batch, fitted by a short measurement.

    python benchmarks/volume_presets.py --budget 60

Each candidate (patch side, batch size, learning rate) trains the ``cpu-quick`` 3D network from the
bundled general 3D model for the same time budget on two volumes that no benchmark scores and the
general model never saw (made here, by ``scripts/train_general_3d.py``'s generator with seeds
100 and 101: one isotropic-looking, one anisotropic), and the PSNR of the prediction of A is
printed. Writes the ``volume-presets-cpu`` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import _common as C

#: (patch side, batch, learning rate)
CANDIDATES = [(32, 4, 1e-3), (24, 4, 1e-3), (32, 2, 1e-3), (24, 8, 1e-3), (32, 4, 2e-3)]


def volumes():
    import numpy as np

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
    from train_general_3d import noisy_pair, synthetic_volume

    out = []
    for seed in (100, 101):
        rng = np.random.default_rng(seed)
        clean, zstep = synthetic_volume(rng)
        a, b = noisy_pair(clean, rng, seed)
        out.append((clean, a, b, (float(zstep), 1.0, 1.0)))
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget", type=float, default=60.0)
    p.add_argument("--out", default=str(C.DOCS))
    args = p.parse_args(argv)
    from napari_n2n import TrainConfig, Trainer, psnr
    from napari_n2n.core.progress import drain

    data = volumes()
    rows = []
    for patch, batch, lr in CANDIDATES:
        scores, steps = [], []
        for clean, a, b, voxel in data:
            config = TrainConfig(
                steps=None,
                time_budget_s=args.budget,
                patch_size=patch,
                batch_size=batch,
                learning_rate=lr,
                device="cpu",
                seed=0,
                val_fraction=0.0,
            )
            trainer = Trainer(a, b, axes="ZYX", config=config, voxel_size=voxel)
            den = drain(trainer.run())
            scores.append(psnr(clean, den.predict(a)))
            steps.append(den.history.get("steps_done"))
        row = [f"{patch}", f"{batch}", f"{lr:g}", *(f"{s}" for s in steps)]
        row += [*(f"{s:.2f}" for s in scores), f"{sum(scores) / len(scores):.2f}"]
        rows.append(row)
        print(" | ".join(row), flush=True)
    noisy = [psnr(c, a) for c, a, _, _ in data]
    text = C.header(
        "3D CPU preset: patch and batch (volume_presets.py)",
        threads=None,
        device="cpu",
        extra=[
            f"From the general 3D model, {args.budget:g} s per run, two volumes of the general "
            f"model's generator that it never saw (noisy {noisy[0]:.2f} / {noisy[1]:.2f} dB); the "
            "machine is shared with other agents' jobs (load average above), so steps vary."
        ],
    )
    text += "\n" + C.md_table(
        ["patch", "batch", "lr", "steps 1", "steps 2", "PSNR 1", "PSNR 2", "mean PSNR"],
        rows,
        align="rrrrrrrr",
    )
    print(text)
    if args.out:
        C.write_section("volume-presets-cpu", text, args.out)
    return 0


if __name__ == "__main__":
    t = time.perf_counter()
    code = main()
    print(f"{(time.perf_counter() - t) / 60:.1f} min", file=sys.stderr)
    sys.exit(code)
