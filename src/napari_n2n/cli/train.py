"""``napari-n2n train``: train a denoiser on a noisy pair (or one noisy image) and save it."""

from __future__ import annotations

from pathlib import Path

from ..core.config import LOSSES, MODES
from ..core.errors import InputError
from ..core.presets import PRESETS
from ._common import read_image


def register(sub) -> None:
    t = sub.add_parser("train", help="train a denoiser on a noisy pair (or one noisy image)")
    t.add_argument("--input", required=True, help="noisy image A")
    t.add_argument("--target", help="noisy image B (n2n) or clean image (n2c); omit for nb2nb")
    t.add_argument("--model", required=True, help="where to save the model (.n2n)")
    t.add_argument("--mode", default="n2n", choices=list(MODES),
                   help="n2n: two noisy copies; n2c: noisy and clean; nb2nb: one noisy image (for a photon-count "
                        "image, 'napari-n2n split' makes a true pair instead, which is better)")
    t.add_argument("--clean", help="optional clean reference, to report validation PSNR")
    t.add_argument("--steps", type=int, default=2000)
    t.add_argument("--time-budget", type=float, default=None, help="stop after this many seconds")
    t.add_argument("--preset", default="auto", choices=["auto", *PRESETS],
                   help="network, patch, batch and learning rate unless set below; auto: gpu on CUDA, "
                        "cpu-quick on the CPU")
    t.add_argument("--patch", type=int, default=None, help="patch size (default: the preset's)")
    t.add_argument("--batch", type=int, default=None, help="batch size (default: the preset's)")
    t.add_argument("--lr", type=float, default=None, help="learning rate (default: the preset's)")
    t.add_argument("--compile", action="store_true",
                   help="compile the network with torch.compile (tens of seconds once, faster steps after; "
                        "falls back to the plain network where it fails)")
    t.add_argument("--threads", type=int, default=None,
                   help="CPU threads (default: all cores but one, left to the rest of the machine)")
    t.add_argument("--loss", default="l2", choices=list(LOSSES),
                   help="l2: Gaussian/Poisson; l1: salt-and-pepper; l0: random impulses; hdr: renderings")
    t.add_argument("--depth", type=int, default=None, help="U-Net poolings (default: the preset's)")
    t.add_argument("--base-channels", type=int, default=None, help="U-Net width (default: the preset's)")
    t.add_argument("--channels", default="joint", choices=["joint", "separate"])
    t.add_argument("--device", default="auto")
    t.add_argument("--axes", default=None, help="e.g. YX, ZYX, TYX, CYX (inferred for 2D/3D)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--quiet", action="store_true")
    t.set_defaults(func=run)


def run(args) -> int:
    from ..console import run_training
    from ..core.config import TrainConfig
    from ..core.train import Trainer

    inp = read_image(args.input, "input")
    if args.mode == "nb2nb":
        if args.target:
            raise InputError("--target is not used in nb2nb (single-image) mode; remove it or choose --mode n2n.")
        target = None
    else:
        if not args.target:
            raise InputError(f"--mode {args.mode} needs --target (the second noisy copy, or the clean image for n2c).")
        target = read_image(args.target, "target")
    clean = read_image(args.clean, "clean image") if args.clean else None
    config = TrainConfig(mode=args.mode, loss=args.loss, steps=args.steps, patch_size=args.patch,
                         batch_size=args.batch, learning_rate=args.lr, device=args.device, seed=args.seed,
                         time_budget_s=args.time_budget, channels=args.channels, depth=args.depth,
                         base_channels=args.base_channels, preset=args.preset, threads=args.threads,
                         compile=args.compile)
    out = Path(args.model)
    if not out.parent.exists():
        raise InputError(f"Cannot save the model to {out}: folder {out.parent} does not exist.")
    trainer = Trainer(inp, target, axes=args.axes, config=config, clean=clean)
    den, fin = run_training(trainer, quiet=args.quiet)
    den.save(out)
    steps = fin.steps_done if fin else den.history.get("steps_done")
    print(f"saved {out} ({den.summary()}; best step {trainer.best_step}, {steps} steps"
          + (f", {fin.elapsed_s:.1f} s" if fin else "") + ")")
    return 0
