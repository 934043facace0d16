#!/usr/bin/env python
"""Training and inference speed of napari-n2n, side by side with CAREamics.

    python benchmarks/speed.py                      # CPU, 1 thread, with CAREamics if its venv exists
    python benchmarks/speed.py --quick              # fewer steps / smaller images
    python benchmarks/speed.py --no-careamics
    python benchmarks/speed.py --device cuda        # same table on a GPU (+ fraction of peak FLOP/s)

Two tables, written to the ``speed`` section of ``docs/benchmarks.md``:

1. **napari-n2n vs CAREamics** on the same noisy pair (``camera`` 512×512, Gaussian sigma 25),
   the same patch size (64), batch size (16) and number of steps (50), one after the other in
   the same run with the same thread count. CAREamics (PyPI ``careamics``; ``create_n2n_config``
   family + ``CAREamist``) pins an older torch, so it runs in its own virtual environment
   (``benchmarks/setup_careamics.sh``) through ``benchmarks/careamics_runner.py``; when that
   environment is missing the peer is skipped with a message. Both sides use the MSE/L2 loss
   (CAREamics' default is MAE), CAREamics with ``--drop-last`` so that every step sees a full
   batch. Reported: training and prediction time ratios (ours / theirs; CAREamics' import is
   reported separately), PSNR difference (ours − theirs) of the prediction of A, parameters.
   napari-n2n runs three times: with its default U-Net, with a U-Net of CAREamics' size (depth
   2, 32 base channels) and with the small configuration used by ``quality.py``.
2. **Throughput** of napari-n2n: training patches/s and megapixels (megavoxels)/s in steady
   state (after warm-up), inference megapixels/s on a 2D image and megavoxels/s on a volume,
   the model size, and the FLOP/s reached in training (FLOPs of one step counted with
   ``torch.utils.flop_counter.FlopCounterMode``; on CUDA also as a fraction of the GPU's peak).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common as C

CAREAMICS_PY = Path(__file__).resolve().parent / ".venv-careamics" / "bin" / "python"
RUNNER = Path(__file__).resolve().parent / "careamics_runner.py"

#: dense peak TFLOP/s (float32, bfloat16) of common GPUs, for the fraction-of-peak column
GPU_PEAK_TFLOPS = {
    "H100 SXM": (67.0, 989.0),
    "H100 PCIe": (51.0, 756.0),
    "H100": (67.0, 989.0),
    "H200": (67.0, 989.0),
    "A100": (19.5, 312.0),
    "L40S": (91.6, 362.0),
    "L4": (30.3, 121.0),
    "A10": (31.2, 125.0),
    "RTX 4090": (82.6, 165.0),
    "RTX 3090": (35.6, 71.0),
    "V100": (15.7, 125.0),
    "T4": (8.1, 65.0),
}


def gpu_peak(name: str, amp: bool) -> float | None:
    for key, (fp32, bf16) in GPU_PEAK_TFLOPS.items():
        if key.lower() in name.lower():
            return (bf16 if amp else fp32) * 1e12
    return None


def train_step_flops(unet_cfg, batch: int, patch: tuple[int, ...]) -> float:
    """FLOPs of one training step (forward + backward of the U-Net, L2 loss) on a batch."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from napari_n2n.core.model import UNet

    model = UNet(unet_cfg)
    x = torch.zeros((batch, unet_cfg.in_channels) + tuple(patch))
    with FlopCounterMode(display=False) as fc:
        loss = (model(x) - x).square().mean()
        loss.backward()
    return float(fc.get_total_flops())


# ---- napari-n2n side ------------------------------------------------------------------------
def run_ours(
    a, b, clean, *, steps: int, patch: int, batch: int, device: str, depth=None, base=None, seed=0
) -> dict:
    """Train on (a, b) and predict a; wall-clock times of train() and predict()."""
    import numpy as np

    from napari_n2n import TrainConfig, psnr, train

    cfg = TrainConfig(
        steps=steps,
        patch_size=patch,
        batch_size=batch,
        device=device,
        seed=seed,
        depth=depth,
        base_channels=base,
    )
    with C.Stopwatch() as sw:
        den = train(a, b, config=cfg)
    den.predict(a[:64, :64], device=device)  # warm-up (first call allocates)
    with C.Stopwatch() as sp:
        pred = den.predict(a, device=device)
    return dict(
        train_seconds=sw.wall,
        train_cpu_seconds=sw.cpu,
        predict_seconds=sp.wall,
        steps=den.history.get("steps_done"),
        n_parameters=den.n_parameters,
        psnr=psnr(clean, np.clip(pred, 0, 255), data_range=255),
        model=f"depth {den.unet.depth}, {den.unet.base_channels} base channels",
    )


def run_careamics(
    a, b, clean, *, steps: int, patch: int, batch: int, threads: int, seed=0
) -> dict | None:
    import numpy as np

    from napari_n2n import psnr

    if not CAREAMICS_PY.exists():
        print(
            f"CAREamics skipped: {CAREAMICS_PY} not found. Create it with `bash benchmarks/setup_careamics.sh`."
        )
        return None
    with tempfile.TemporaryDirectory(prefix="n2n_speed_") as tmp:
        t = Path(tmp)
        np.save(t / "a.npy", a)
        np.save(t / "b.npy", b)
        cmd = [
            str(CAREAMICS_PY),
            str(RUNNER),
            "--input",
            str(t / "a.npy"),
            "--target",
            str(t / "b.npy"),
            "--predict-on",
            str(t / "a.npy"),
            "--out",
            str(t / "pred.npy"),
            "--json",
            str(t / "r.json"),
            "--patch",
            str(patch),
            "--batch",
            str(batch),
            "--steps",
            str(steps),
            "--seed",
            str(seed),
            "--threads",
            str(threads),
            "--loss",
            "mse",
            "--drop-last",
        ]
        env = dict(os.environ, **{v: str(threads) for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")})
        with C.Stopwatch() as sw:
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            print("CAREamics run failed:\n" + proc.stderr[-3000:])
            return None
        res = json.loads((t / "r.json").read_text())
        pred = np.load(t / "pred.npy")
    res["psnr"] = psnr(clean, np.clip(pred, 0, 255), data_range=255)
    res["process_seconds"] = sw.wall
    return res


# ---- throughput -----------------------------------------------------------------------------
def training_throughput(
    data, *, axes: str, cfg_kw: dict, steps: int, warmup: int, device: str
) -> dict:
    """Steady-state training speed from the Progress events (after ``warmup`` steps)."""
    import numpy as np

    from napari_n2n import TrainConfig, Trainer
    from napari_n2n.core.events import Progress

    cfg = TrainConfig(steps=steps, device=device, val_fraction=0.0, seed=0, **cfg_kw)
    tr = Trainer(data, data, axes=axes, config=cfg)
    marks = []
    for ev in tr.run():
        if isinstance(ev, Progress):
            marks.append((ev.step, time.perf_counter(), time.process_time()))
    # Progress comes every step on CPU, every 10 steps on CUDA: start at the first mark >= warmup
    start = next((m for m in marks[:-1] if m[0] >= warmup), marks[0])
    (s0, t0, c0), (s1, t1, c1) = start, marks[-1]
    per_s = (s1 - s0) / (t1 - t0)
    patch = tr.patch
    vox = float(np.prod(patch))
    flops = train_step_flops(tr.unet, cfg.batch_size, patch)
    return dict(
        steps_per_s=per_s,
        patches_per_s=per_s * cfg.batch_size,
        mpix_per_s=per_s * cfg.batch_size * vox / 1e6,
        cpu_per_wall=(c1 - c0) / (t1 - t0),
        flops_per_step=flops,
        flops_per_s=flops * per_s,
        n_parameters=tr.denoiser().n_parameters,
        patch=patch,
        batch=cfg.batch_size,
        denoiser=tr.denoiser(),
        unet=tr.unet,
    )


def inference_speed(den, image, *, device: str, repeats: int = 1) -> dict:
    import numpy as np

    den.predict(image[tuple(slice(0, min(s, 64)) for s in image.shape)], device=device)  # warm-up
    best = None
    for _ in range(repeats):
        with C.Stopwatch() as sw:
            den.predict(image, device=device)
        best = sw.wall if best is None else min(best, sw.wall)
    vox = float(np.prod(image.shape))
    return dict(seconds=best, mvox_per_s=vox / best / 1e6, shape=tuple(image.shape))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Training/inference speed of napari-n2n and CAREamics.")
    p.add_argument("--quick", action="store_true", help="fewer steps and smaller inference inputs")
    p.add_argument(
        "--device",
        default="cpu",
        help="cpu or cuda (CAREamics runs on CPU only and is skipped on cuda)",
    )
    p.add_argument(
        "--threads", type=int, default=1, help="compute threads, for both tools (default 1)"
    )
    p.add_argument(
        "--steps", type=int, default=50, help="training steps of the side-by-side run (default 50)"
    )
    p.add_argument("--patch", type=int, default=64)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--no-careamics", action="store_true", help="skip the CAREamics side")
    p.add_argument(
        "--peak-tflops",
        type=float,
        default=None,
        help="GPU peak TFLOP/s, if not in the built-in table",
    )
    p.add_argument("--out", default=str(C.DOCS), help="Markdown file to update ('' to skip)")
    p.add_argument("--json", default=None, help="also save the raw results here")
    args = p.parse_args(argv)
    C.pin_threads(args.threads)
    import numpy as np
    from skimage import data

    from _cases import CONFIG_2D, CONFIG_3D, synthetic_volume
    from napari_n2n import Gaussian, synthesize_pair

    dev = args.device
    on_gpu = dev.startswith("cuda")
    clean = data.camera().astype(np.float64)
    a, b = synthesize_pair(clean, Gaussian(sigma=25), seed=0)
    t_start = time.perf_counter()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None

    # -- 1. side by side ---------------------------------------------------------------------
    side = {}
    t = time.perf_counter()
    imp = subprocess.run(
        [
            sys.executable,
            "-c",
            "import time; t=time.perf_counter(); import napari_n2n.core.training.train; "
            "print(time.perf_counter()-t)",
        ],
        capture_output=True,
        text=True,
        env=dict(os.environ, OMP_NUM_THREADS=str(args.threads)),
    )
    ours_import = float(imp.stdout.strip() or "nan")
    if not args.no_careamics and not on_gpu:
        print("CAREamics ...", flush=True)
        side["careamics"] = run_careamics(
            a, b, clean, steps=args.steps, patch=args.patch, batch=args.batch, threads=args.threads
        )
    elif on_gpu:
        print(
            "CAREamics skipped: the runner trains on CPU only; the side-by-side table is a CPU table."
        )
    print("napari-n2n default model ...", flush=True)
    side["ours_default"] = run_ours(
        a, b, clean, steps=args.steps, patch=args.patch, batch=args.batch, device=dev
    )
    print("napari-n2n CAREamics-sized model ...", flush=True)
    side["ours_careamics_size"] = run_ours(
        a,
        b,
        clean,
        steps=args.steps,
        patch=args.patch,
        batch=args.batch,
        device=dev,
        depth=2,
        base=32,
    )
    print("napari-n2n small model ...", flush=True)
    side["ours_small"] = run_ours(
        a,
        b,
        clean,
        steps=args.steps,
        patch=args.patch,
        batch=args.batch,
        device=dev,
        depth=CONFIG_2D["depth"],
        base=CONFIG_2D["base_channels"],
    )
    print(f"side by side: {time.perf_counter() - t:.0f} s", flush=True)

    theirs = side.get("careamics")
    rows = []
    if theirs:
        rows.append(
            [
                "CAREamics " + theirs["careamics_version"] + f" (torch {theirs['torch_version']})",
                "UNet depth 2, 32 base channels, batch norm",
                f"{theirs['n_parameters']:,}",
                theirs["steps"],
                f"{theirs['train_seconds']:.1f}",
                f"{theirs['predict_seconds']:.2f}",
                f"{theirs['psnr']:.2f}",
                "(reference)",
                "(reference)",
                "(reference)",
                f"{theirs['import_seconds']:.1f}",
            ]
        )
    for key, label in (
        ("ours_default", "napari-n2n, default U-Net"),
        ("ours_careamics_size", "napari-n2n, CAREamics-sized U-Net"),
        ("ours_small", "napari-n2n, small U-Net (quality.py)"),
    ):
        r = side[key]
        ratio_t = f"{r['train_seconds'] / theirs['train_seconds']:.2f}" if theirs else "—"
        ratio_p = f"{r['predict_seconds'] / theirs['predict_seconds']:.2f}" if theirs else "—"
        dpsnr = f"{r['psnr'] - theirs['psnr']:+.2f}" if theirs else "—"
        rows.append(
            [
                label,
                r["model"],
                f"{r['n_parameters']:,}",
                r["steps"],
                f"{r['train_seconds']:.1f}",
                f"{r['predict_seconds']:.2f}",
                f"{r['psnr']:.2f}",
                ratio_t,
                ratio_p,
                dpsnr,
                f"{ours_import:.1f}",
            ]
        )
    noisy_psnr = float(10 * np.log10(255**2 / np.mean((np.clip(a, 0, 255) - clean) ** 2)))
    text = C.header(
        f"Speed: napari-n2n vs CAREamics ({dev})",
        threads=args.threads,
        device=dev,
        budget=f"{args.steps} steps of batch {args.batch}, patch {args.patch}×{args.patch}, both tools",
        extra=[
            f"Data: camera 512×512, Gaussian sigma 25, fixed pair (A, B), seed 0; prediction of A "
            f"(whole image) scored against the clean image (noisy A: {noisy_psnr:.2f} dB).",
            "Both: L2/MSE loss, flips/rot90 augmentation, Adam lr 1e-3, validation hold-out "
            "(CAREamics: 8 patches, validated every epoch = every 3 steps; napari-n2n: 10 % band, "
            "every 10 steps). CAREamics with drop_last, num_workers 0.",
            "Times are wall-clock seconds of the training call (data set-up included) and of "
            "the prediction call; imports separately. Ratios: ours / CAREamics (< 1: ours faster); "
            "ΔPSNR: ours − CAREamics.",
            "napari-n2n runs with its default U-Net, with a U-Net of CAREamics' depth and width "
            "(depth 2, 32 base channels; no batch norm) and with the small U-Net of quality.py.",
            f"Load average at start: {load:.1f}" if load is not None else "",
        ],
    )
    if theirs is None and not on_gpu:
        text += (
            "\nCAREamics was skipped (its environment is missing or failed); ratios are blank.\n"
        )
    text += "\n" + C.md_table(
        [
            "tool",
            "model",
            "parameters",
            "steps",
            "train s",
            "predict s",
            "PSNR A (dB)",
            "train time ratio",
            "predict time ratio",
            "ΔPSNR (dB)",
            "import s",
        ],
        rows,
        align="llrrrrrrrrr",
    )

    # -- 2. throughput -----------------------------------------------------------------------
    steps = 30 if args.quick else 60
    warm = 10
    big2d = np.tile(a, (2, 2)) if args.quick else np.tile(a, (4, 4))  # 1024² / 2048²
    vol = synthetic_volume((32, 96, 96)).astype(np.float32)
    vol_inf = np.tile(vol, (1, 2, 2)) if args.quick else np.tile(vol, (2, 4, 4))
    tp_rows = []
    plans = [
        ("2D default U-Net", a, "YX", dict(patch_size=args.patch, batch_size=args.batch)),
        (
            "2D small U-Net",
            a,
            "YX",
            dict(
                patch_size=args.patch,
                batch_size=args.batch,
                depth=CONFIG_2D["depth"],
                base_channels=CONFIG_2D["base_channels"],
            ),
        ),
        ("3D default U-Net", vol, "ZYX", dict(patch_size=32, batch_size=4)),
        (
            "3D small U-Net",
            vol,
            "ZYX",
            dict(
                patch_size=32,
                batch_size=4,
                depth=CONFIG_3D["depth"],
                base_channels=CONFIG_3D["base_channels"],
            ),
        ),
    ]
    peak = args.peak_tflops * 1e12 if args.peak_tflops else None
    gpu_name = None
    if on_gpu:
        import torch

        gpu_name = torch.cuda.get_device_name(0)
        peak = peak or gpu_peak(gpu_name, amp=True)
    for label, img, axes, kw in plans:
        t = time.perf_counter()
        tr = training_throughput(
            img.astype(np.float32), axes=axes, cfg_kw=kw, steps=steps, warmup=warm, device=dev
        )
        inf_img = big2d if axes == "YX" else vol_inf
        inf = inference_speed(tr["denoiser"], inf_img.astype(np.float32), device=dev)
        patch = "×".join(map(str, tr["patch"]))
        frac = f"{tr['flops_per_s'] / peak * 100:.1f} %" if (peak and on_gpu) else "—"
        tp_rows.append(
            [
                label,
                f"{tr['n_parameters']:,}",
                f"{patch}, batch {tr['batch']}",
                f"{tr['patches_per_s']:.1f}",
                f"{tr['mpix_per_s']:.2f}",
                f"{tr['flops_per_step'] / 1e9:.1f}",
                f"{tr['flops_per_s'] / 1e9:.1f}",
                frac,
                "×".join(map(str, inf["shape"])),
                f"{inf['mvox_per_s']:.2f}",
            ]
        )
        print(f"{label}: {time.perf_counter() - t:.0f} s; {tp_rows[-1]}", flush=True)
    text += "\n" + C.header(
        f"Throughput of napari-n2n ({dev})",
        threads=args.threads,
        device=dev,
        level=3,
        budget=f"{steps} training steps per model, the first {warm} excluded (warm-up)",
        extra=[
            "Training: steady-state speed of the Trainer, the code path the widgets "
            "use (on the CPU, numpy patches drawn on a background thread; on a GPU, "
            "patches cut on the GPU from a resident copy of the data, bfloat16 autocast, "
            "fused Adam, the loss read every 10 steps), forward, backward, Adam, "
            "no validation. Megapixels/s counts the voxels of the network input patches.",
            "FLOPs: forward + backward of the U-Net on one batch, counted by "
            "torch.utils.flop_counter.FlopCounterMode (multiply-add = 2 FLOPs); "
            "GFLOP/s = FLOPs per step × steps/s."
            + (
                f" GPU: {gpu_name}, peak {peak / 1e12:.0f} TFLOP/s (bf16 dense) assumed."
                if on_gpu
                else " Fraction of peak is given on GPUs only."
            ),
            "Inference: Denoiser.predict with its default tiling (2D tiles 512, overlap 48; "
            "3D tiles 48×96×96 on CPU, overlap 16), after one warm-up call; weights of "
            "the short training run above (speed does not depend on them).",
        ],
    )
    text += "\n" + C.md_table(
        [
            "model",
            "parameters",
            "training patch",
            "train patches/s",
            "train MP/s",
            "GFLOP/step",
            "train GFLOP/s",
            "of GPU peak",
            "inference input",
            "inference MP/s (MVox/s)",
        ],
        tp_rows,
        align="lrlrrrrrlr",
    )
    text += f"\nWall time of the whole run: {(time.perf_counter() - t_start) / 60:.1f} min.\n"
    print(text)
    if args.out:
        C.write_section("speed-" + ("gpu" if on_gpu else "cpu"), text, args.out)
    if args.json:
        Path(args.json).write_text(
            json.dumps({"side_by_side": side, "throughput": tp_rows}, indent=1, default=str)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
