"""``napari-n2n train``: train a denoiser on a noisy pair (or one noisy image) and save it."""

from __future__ import annotations

from ..core.config import LOSSES, MODES, TrainConfig
from ..core.errors import InputError, OutputError
from ..core.presets import PRESETS
from ._common import (
    add_command,
    add_overwrite,
    destination,
    image_axes,
    non_negative_int,
    positive_float,
    positive_int,
    read_image,
    require_distinct_inputs,
)

#: the defaults of the options are the training configuration's own
DEFAULTS = TrainConfig()


def register(sub) -> None:
    t = add_command(sub, "train", "train a denoiser on a noisy pair (or one noisy image)")
    t.add_argument("--input", required=True, help="noisy image A (TIFF or .npy)")
    t.add_argument("--target", help="noisy image B of the same scene (n2n) or the clean image (n2c); "
                                    "not used by nb2nb (one noisy image)")
    t.add_argument("--model", required=True, help="where to save the model (.n2n); checked before training starts")
    t.add_argument("--mode", default=DEFAULTS.mode, choices=list(MODES),
                   help="n2n: two noisy copies; n2c: noisy and clean; nb2nb: one noisy image")
    t.add_argument("--pair-neighbours", metavar="AXIS", choices=["T", "Z", "S"], default=None,
                   help="no --target: pair each frame of --input with the next one along AXIS (T for a time-lapse "
                        "with no second acquisition); fits when the scene changes little between frames")
    t.add_argument("--clean", help="clean reference, only to report the validation PSNR (optional)")
    t.add_argument("--steps", type=positive_int, default=DEFAULTS.steps, help="optimiser steps")
    t.add_argument("--time-budget", type=positive_float, default=None,
                   help="stop after this many seconds, even before --steps (default: no time limit)")
    t.add_argument("--preset", default=DEFAULTS.preset, choices=["auto", *PRESETS],
                   help="network, patch, batch and learning rate unless set below; auto: gpu on CUDA, "
                        "cpu-quick on the CPU")
    t.add_argument("--patch", type=positive_int, default=None,
                   help="side of the training patches, pixels (default: the preset's)")
    t.add_argument("--batch", type=positive_int, default=None, help="patches per step (default: the preset's)")
    t.add_argument("--lr", type=positive_float, default=None, help="learning rate, Adam (default: the preset's)")
    t.add_argument("--compile", action="store_true",
                   help="compile the network with torch.compile (tens of seconds once, faster steps after; "
                        "falls back to the plain network where it fails)")
    t.add_argument("--threads", type=positive_int, default=None,
                   help="CPU threads (default: all cores but one, left to the rest of the machine)")
    t.add_argument("--loss", default=DEFAULTS.loss, choices=list(LOSSES),
                   help="l2: Gaussian/Poisson; l1: salt-and-pepper, impulse noise; l0: random impulses; hdr: renderings")
    t.add_argument("--depth", type=positive_int, default=None, help="U-Net poolings (default: the preset's)")
    t.add_argument("--base-channels", type=positive_int, default=None,
                   help="U-Net width, channels of the first level (default: the preset's)")
    t.add_argument("--channels", default=DEFAULTS.channels, choices=["joint", "separate"],
                   help="one model for all channels, or one per channel")
    t.add_argument("--device", default=DEFAULTS.device, help="auto, cpu, cuda, cuda:N or mps")
    t.add_argument("--axes", default=None,
                   help="axes of the input, e.g. YX, ZYX (volume), TYX (time series), YXC (colour) (default: from "
                        "the file; 2D files are YX; other files without axes in their metadata need it)")
    t.add_argument("--seed", type=non_negative_int, default=DEFAULTS.seed,
                   help="random seed: the same seed and data give the same model")
    t.add_argument("--quiet", action="store_true", help="print no progress")
    add_overwrite(t, "the model file")
    t.set_defaults(func=run)


def run(args) -> int:
    from ..console import run_training
    from ..core.checkpoint import estimated_size
    from ..core.files import write_with_fallback
    from ..core.train import Trainer

    if args.mode == "nb2nb" and args.target:
        raise InputError("--target is not used in nb2nb (single-image) mode; remove it or choose --mode n2n.")
    if args.pair_neighbours and (args.target or args.mode != "n2n"):
        raise InputError("--pair-neighbours makes the pair from --input alone: remove --target and use --mode n2n.")
    if args.mode != "nb2nb" and not args.target and not args.pair_neighbours:
        raise InputError(f"--mode {args.mode} needs --target (the second noisy copy, or the clean image for n2c). "
                         "With one time-lapse, add --pair-neighbours T; with one noisy image, choose --mode nb2nb.")
    model = destination(args.model, args, inputs=[args.input, args.target, args.clean], what="model file",
                        image=False)
    inp = read_image(args.input, "input")
    target = read_image(args.target, "target") if args.target else None
    clean = read_image(args.clean, "clean image") if args.clean else None
    if target is not None and args.mode == "n2n":
        require_distinct_inputs(inp, target)
    axes = image_axes(inp, args.axes, others=(target, clean))
    data, target_data, clean_data = inp.data, None if target is None else target.data, None if clean is None else clean.data
    if args.pair_neighbours:
        from ..core.pairs import stack_neighbours

        if args.pair_neighbours not in axes:
            raise InputError(f"--pair-neighbours {args.pair_neighbours}: the input's axes {axes} have no "
                             f"{args.pair_neighbours}. Give --axes with it (e.g. --axes TYX).")
        pair = stack_neighbours(data, axis=axes.index(args.pair_neighbours), axes=axes, clean=clean_data)
        data, target_data, clean_data, axes = pair.input, pair.target, pair.clean, pair.axes
    config = TrainConfig(mode=args.mode, loss=args.loss, steps=args.steps, patch_size=args.patch,
                         batch_size=args.batch, learning_rate=args.lr, device=args.device, seed=args.seed,
                         time_budget_s=args.time_budget, channels=args.channels, depth=args.depth,
                         base_channels=args.base_channels, preset=args.preset, threads=args.threads,
                         compile=args.compile)
    trainer = Trainer(data, target_data, axes=axes, config=config, clean=clean_data)
    model.require_space(estimated_size(trainer.unet, trainer.groups, trainer.config.steps))
    den, fin = run_training(trainer, quiet=args.quiet)
    saved, why = write_with_fallback(model, den.save)
    h = den.history
    kept = (f"kept the weights of lowest validation loss, step {h.get('best_step')}" if h.get("best_val_loss") is not None
            else "kept the latest weights")
    print(f"saved {saved} ({den.summary()}; {h.get('elapsed_s', 0):.1f} s; {kept})")
    if why:
        raise OutputError(f"{why} The model was saved to {saved} instead.")
    return 0
