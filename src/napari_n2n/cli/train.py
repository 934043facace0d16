"""``napari-n2n train``: train a denoiser on a noisy pair (or one noisy image) and save it.

Runs under ``torchrun`` as well (``torchrun --nproc-per-node N -m napari_n2n.cli train ...``):
each process trains on its own patches and rank 0 prints and saves (see
:mod:`napari_n2n.core.distributed`). SIGTERM, SIGHUP and SIGUSR1 stop it like Ctrl-C: at the
next step, keeping the model so far (and a resumable state when checkpointing is on), with
exit status 128 + the signal's number.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..core.config import LOSSES, MODES
from ..core.errors import InputError
from ..core.finetune import DEFAULT_INIT_NORMALIZATION, INIT_NORMALIZATIONS
from ..core.presets import PRESETS
from ._common import read_image


def register(sub) -> None:
    t = sub.add_parser("train", help="train a denoiser on a noisy pair (or one noisy image)")
    t.add_argument("--input", required=True, help="noisy image A")
    t.add_argument("--target", help="noisy image B (n2n) or clean image (n2c); omit for nb2nb")
    t.add_argument("--model", required=True, help="where to save the model (.n2n)")
    t.add_argument("--mode", default="n2n", choices=list(MODES))
    t.add_argument("--clean", help="optional clean reference, to report validation PSNR")
    t.add_argument("--steps", type=int, default=2000)
    t.add_argument("--time-budget", type=float, default=None, help="stop after this many seconds")
    t.add_argument("--preset", default="auto", choices=["auto", *PRESETS],
                   help="network, patch, batch and learning rate unless set below; auto: gpu on CUDA, "
                        "cpu-quick on the CPU")
    t.add_argument("--patch", type=int, default=None, help="patch size (default: the preset's)")
    t.add_argument("--batch", type=int, default=None, help="batch size (default: the preset's; per process under torchrun)")
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
    g = t.add_argument_group("fine-tuning, checkpoints and resuming")
    g.add_argument("--init-from", metavar="OLD.n2n",
                   help="start from this model (its architecture and weights): fine-tune it on the new data")
    g.add_argument("--init-normalization", default=DEFAULT_INIT_NORMALIZATION, choices=list(INIT_NORMALIZATIONS),
                   help=f"with --init-from: fit the normalisation to the new data, or keep the model's "
                        f"(default {DEFAULT_INIT_NORMALIZATION})")
    g.add_argument("--checkpoint-every", type=int, metavar="STEPS",
                   help="write the resumable state every this many steps (and when the run ends or is stopped)")
    g.add_argument("--checkpoint-minutes", type=float, metavar="MIN",
                   help="write the resumable state every this many minutes")
    g.add_argument("--checkpoint", metavar="STATE", help="where to write the state (default: MODEL with .ckpt)")
    g.add_argument("--resume", metavar="STATE",
                   help="continue the run saved in STATE; 'auto': the --checkpoint file if it exists, else start")
    g.add_argument("--resume-anyway", action="store_true",
                   help="resume even though the data or options differ from the checkpoint's")
    t.set_defaults(func=run)


def _checkpointing(args, out: Path):
    """``(Checkpointing or None, state to resume or None)`` from the options; refuses to overwrite a state."""
    from ..core.resume import STATE_SUFFIX, Checkpointing

    path = Path(args.checkpoint) if args.checkpoint else out.with_suffix(STATE_SUFFIX)
    resume = args.resume
    if resume == "auto":
        resume = str(path) if path.exists() else None
    if args.checkpoint_minutes is not None and not args.checkpoint_minutes > 0:
        raise InputError(f"--checkpoint-minutes must be positive, got {args.checkpoint_minutes}.")
    if not (args.checkpoint_every or args.checkpoint_minutes or args.checkpoint):
        return None, resume
    if not path.parent.exists():
        raise InputError(f"Cannot write the checkpoint {path}: folder {path.parent} does not exist.")
    if path.exists() and (resume is None or Path(resume).resolve() != path.resolve()):
        raise InputError(f"{path} exists (the state of an earlier run) and would be overwritten. Continue that run "
                         f"with --resume {path} (or --resume auto), delete the file, or choose another --checkpoint.")
    every_s = args.checkpoint_minutes * 60 if args.checkpoint_minutes else None
    return Checkpointing(path, every_steps=args.checkpoint_every, every_s=every_s), resume


def run(args) -> int:
    from ..console import StopOnSignals, run_training
    from ..core import distributed
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
    checkpointing, resume = _checkpointing(args, out)
    with distributed.process_group(args.device) as ranks:
        trainer = Trainer(inp, target, axes=args.axes, config=config, clean=clean, init=args.init_from,
                          init_normalization=args.init_normalization, checkpoint=checkpointing, resume=resume,
                          resume_anyway=args.resume_anyway)
        with StopOnSignals(trainer) as stop:
            den, fin = run_training(trainer, quiet=args.quiet or not ranks.is_main)
    code = 0 if stop.signum is None else 128 + stop.signum
    if not ranks.is_main:  # rank 0 reports and saves
        return code
    steps = fin.steps_done if fin else (trainer.history["step"] or [0])[-1]
    if stop.signum is not None and not steps:
        print(f"napari-n2n: interrupted by {stop.name} before the first step: nothing saved", file=sys.stderr)
        return code
    saved = []
    if den is not None:
        den.save(out)
        saved.append(f"model {out}")
    if checkpointing is not None:
        saved.append(f"state {checkpointing.path} (continue with --resume {checkpointing.path})")
    if stop.signum is not None:
        print(f"napari-n2n: interrupted by {stop.name} after step {steps}: saved {' and '.join(saved) or 'nothing'}"
              + ("" if den is not None else " (the models of some channels had not started)"), file=sys.stderr)
        return code
    print(f"saved {out} ({den.summary()}; best step {trainer.best_step}, {steps} steps"
          + (f", {fin.elapsed_s:.1f} s" if fin else "") + ")")
    return code
