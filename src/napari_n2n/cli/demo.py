"""``napari-n2n demo``: Noise2Noise against Noise2Clean on a bundled image, with no download.

Trains two denoisers under the same time budget on scikit-image's ``camera`` (512×512) with
Gaussian noise of sigma 25 (0–255 scale) — one on a noisy pair (Noise2Noise), one on noisy →
clean (Noise2Clean) — prints PSNR/SSIM of the noisy input and of both results, and writes a
figure with rows noisy / denoised / clean, like the figures of Lehtinen et al. (2018).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from ..core.errors import OutputError
from ..core.files import Destination, reason
from ._common import add_command, add_overwrite, non_negative_int, positive_float


def register(sub) -> None:
    d = add_command(
        sub, "demo", "train N2N and N2C on a bundled image and compare (about 2 minutes)"
    )
    d.add_argument(
        "--out",
        default="demo_out",
        help="folder for the figure and the two models (created if missing)",
    )
    d.add_argument("--seconds", type=positive_float, default=50.0, help="training time per method")
    d.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    d.add_argument(
        "--seed", type=non_negative_int, default=0, help="random seed of the noise and the training"
    )
    d.add_argument("--quiet", action="store_true", help="print no progress")
    add_overwrite(d, "the figure and models of an earlier demo in --out")
    d.set_defaults(func=run)


def run(args) -> int:
    run_demo(
        out_dir=args.out,
        seconds=args.seconds,
        device=args.device,
        seed=args.seed,
        quiet=args.quiet,
        overwrite=args.overwrite,
    )
    return 0


def run_demo(
    out_dir: str = "demo_out",
    *,
    seconds: float = 50.0,
    device: str = "auto",
    seed: int = 0,
    quiet: bool = False,
    overwrite: bool = False,
) -> dict:
    """Run the demo; return the figures printed (PSNR/SSIM per method, timings).

    ``out_dir`` is created if missing; the figure ``demo.png`` and the models ``n2n.n2n`` and
    ``n2c.n2n`` in it are checked before training and replace earlier ones only with ``overwrite``.
    """
    from ..console import run_prediction, run_training
    from ..core.config import TrainConfig
    from ..core.data.samples import pair_2d
    from ..core.errors import TrainingError
    from ..core.metrics import psnr, ssim
    from ..core.training.train import Trainer

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise OutputError(
            f"Cannot use {out} as the demo's folder: it is a file. Give a folder name with --out."
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"Cannot create the demo's folder {out}: {reason(exc)}. Choose another --out."
        ) from exc
    hint = "add --overwrite"
    dests = {
        name: Destination(out / name, overwrite=overwrite, what=f"demo {what}", overwrite_hint=hint)
        for name, what in (("n2n.n2n", "model"), ("n2c.n2n", "model"), ("demo.png", "figure"))
    }
    t_start = time.perf_counter()
    sample = pair_2d(sigma=25.0, seed=seed)
    clean = sample.clean
    a = sample.a
    b = sample.b
    # the device's preset (cpu-quick on a CPU: the compact U-Net that learns the most per CPU second)
    base = TrainConfig(steps=100_000, time_budget_s=seconds, device=device, seed=seed)
    print(
        f"napari-n2n demo: camera 512x512, Gaussian noise sigma 25, {seconds:g} s of training per method",
        file=sys.stderr,
    )
    results = {"noisy": {"psnr": psnr(clean, a), "ssim": ssim(clean, a)}}
    images = {"noisy": a}
    for name, target, mode in (("N2N", b, "n2n"), ("N2C", clean, "n2c")):
        trainer = Trainer(
            a,
            target,
            axes="YX",
            config=base.replace(mode=mode),
            clean=clean,
            noise=sample.noise.to_dict(),
        )
        den, fin = run_training(trainer, label=name, quiet=quiet)
        if den is None:
            raise TrainingError("The demo was interrupted before it trained a model.")
        den.save(dests[f"{name.lower()}.n2n"])
        pred = run_prediction(den.predict_iter(a), quiet=True)
        images[name] = pred
        results[name] = {
            "psnr": psnr(clean, pred),
            "ssim": ssim(clean, pred),
            "steps": fin.steps_done if fin else None,
            "train_s": fin.elapsed_s if fin else None,
        }
        if name == "N2N":
            avg = den.predict_pair(a, b)
            results["N2N (A+B averaged)"] = {"psnr": psnr(clean, avg), "ssim": ssim(clean, avg)}
    images["clean"] = clean
    total = time.perf_counter() - t_start
    results["total_s"] = total
    print()
    print(f"{'method':<22}{'PSNR (dB)':>10}{'SSIM':>8}{'steps':>8}{'train s':>9}")
    for key in ("noisy", "N2N", "N2N (A+B averaged)", "N2C"):
        r = results[key]
        steps = f"{r['steps']}" if r.get("steps") is not None else "-"
        secs = f"{r['train_s']:.1f}" if r.get("train_s") is not None else "-"
        print(f"{key:<22}{r['psnr']:>10.2f}{r['ssim']:>8.3f}{steps:>8}{secs:>9}")
    print(
        f"N2N - N2C: {results['N2N']['psnr'] - results['N2C']['psnr']:+.2f} dB; "
        f"N2N - noisy: {results['N2N']['psnr'] - results['noisy']['psnr']:+.2f} dB"
    )
    fig_path = out / "demo.png"
    save_figure(dests["demo.png"], images, results)
    print(f"figure: {fig_path}; models: {out / 'n2n.n2n'}, {out / 'n2c.n2n'}; total {total:.0f} s")
    results["figure"] = str(fig_path)
    return results


def save_figure(path, images: dict, results: dict) -> None:
    """Rows noisy / N2N / N2C / clean; columns full image and a zoomed crop (written atomically to ``path``)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    rows = ["noisy", "N2N", "N2C", "clean"]
    fig, axes = plt.subplots(len(rows), 2, figsize=(6, 3 * len(rows)), dpi=100)
    for r, key in enumerate(rows):
        img = images[key]
        title = key if key == "clean" else f"{key}: {results[key]['psnr']:.2f} dB"
        for c, view in enumerate((img, img[80:208, 200:328])):
            ax = axes[r, c]
            ax.imshow(view, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(title)
    fig.suptitle("Noise2Noise vs Noise2Clean, Gaussian sigma 25")
    fig.tight_layout()
    destination = path if isinstance(path, Destination) else Destination(path, what="figure")
    destination.write(lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)
