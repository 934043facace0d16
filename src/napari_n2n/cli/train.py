"""``napari-n2n train``: train a denoiser on a noisy pair (or one noisy image) and save it.

Runs under ``torchrun`` as well (``torchrun --nproc-per-node N -m napari_n2n.cli train ...``):
each process trains on its own patches and rank 0 prints and saves (see
:mod:`napari_n2n.core.training.distributed`). SIGTERM, SIGHUP and SIGUSR1 stop it like Ctrl-C: at the
next step, keeping the model so far (and a resumable state when checkpointing is on), with
exit status 128 + the signal's number.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..core.config import LOSSES, MODES, TrainConfig
from ..core.errors import InputError, OutputError
from ..core.files import same_file
from ..core.training.presets import PRESETS
from ..core.training.start import DEFAULT_INIT_NORMALIZATION, INIT_NORMALIZATIONS
from ._common import (
    add_command,
    add_overwrite,
    destination,
    non_negative_int,
    positive_float,
    positive_int,
)
from ._defects import fill_defects
from ._train_inputs import training_data

#: the defaults of the options are the training configuration's own
DEFAULTS = TrainConfig()


def register(sub) -> None:
    t = add_command(sub, "train", "train a denoiser on a noisy pair (or one noisy image)")
    t.add_argument(
        "--input",
        required=True,
        nargs="+",
        metavar="PATH",
        help="noisy image A (TIFF, OME-Zarr, NIfTI or .npy); several (files, folders, quoted patterns) "
        "train one model, patches drawn in proportion to each image's size",
    )
    t.add_argument(
        "--target",
        nargs="+",
        metavar="PATH",
        help="noisy image B of the same scene (n2n) or the clean image (n2c), one per --input; not used by "
        "nb2nb (one noisy image)",
    )
    t.add_argument(
        "--model",
        required=True,
        help="where to save the model (.n2n); checked before training starts",
    )
    t.add_argument(
        "--mode",
        default=DEFAULTS.mode,
        choices=list(MODES),
        help="n2n: two noisy copies; n2c: noisy and clean; nb2nb: one noisy image (for a photon-count "
        "image, 'napari-n2n split' makes a true pair instead, which is better)",
    )
    t.add_argument(
        "--pair-neighbours",
        metavar="AXIS",
        choices=["T", "Z", "S"],
        default=None,
        help="no --target: pair each frame of --input with the next one along AXIS (T for a time-lapse "
        "with no second acquisition); fits when the scene changes little between frames",
    )
    t.add_argument(
        "--pairing",
        default="consecutive",
        choices=["consecutive", "even-odd"],
        help="with --pair-neighbours: each frame with the next (t, t+1), or frame 2k with 2k+1 (two "
        "exposures per time point)",
    )
    t.add_argument(
        "--register",
        default="none",
        choices=["auto", "none", "shift", "flow"],
        help="with --pair-neighbours: warp each frame's partner onto it before pairing, for a "
        "time-lapse that moves: shift (global drift, phase correlation), flow (drift and local "
        "motion, optical flow), auto (chosen from the measured motion); pixels the warp cannot "
        "fill or trust are left out of the loss",
    )
    t.add_argument(
        "--clean",
        nargs="+",
        metavar="PATH",
        help="clean reference (one per --input), only to report the validation PSNR (optional)",
    )
    t.add_argument(
        "--defects",
        default="auto",
        metavar="auto|none|PATH",
        help="defect pixels of the sensor (hot, dead), filled from their neighbours before training, "
        "and by predict with this model: auto finds the isolated outliers at the same place in "
        "the input and the target; PATH is a defect map of one frame's size (non-zero marks a "
        "defect); none keeps every pixel (default: auto)",
    )
    t.add_argument("--steps", type=positive_int, default=DEFAULTS.steps, help="optimiser steps")
    t.add_argument(
        "--time-budget",
        type=positive_float,
        default=None,
        help="stop after this many seconds, even before --steps (default: no time limit)",
    )
    t.add_argument(
        "--preset",
        default=DEFAULTS.preset,
        choices=["auto", *PRESETS],
        help="network, patch, batch and learning rate unless set below; auto: gpu on CUDA, "
        "cpu-quick on the CPU",
    )
    t.add_argument(
        "--patch",
        type=positive_int,
        default=None,
        help="side of the training patches, pixels (default: the preset's)",
    )
    t.add_argument(
        "--batch",
        type=positive_int,
        default=None,
        help="patches per step (default: the preset's; per process under torchrun)",
    )
    t.add_argument(
        "--lr",
        type=positive_float,
        default=None,
        help="learning rate, Adam (default: the preset's)",
    )
    t.add_argument(
        "--compile",
        action="store_true",
        help="compile the network with torch.compile (tens of seconds once, faster steps after; "
        "falls back to the plain network where it fails)",
    )
    t.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help="CPU threads (default: all cores but one, left to the rest of the machine)",
    )
    t.add_argument(
        "--loss",
        default=DEFAULTS.loss,
        choices=list(LOSSES),
        help="l2: Gaussian/Poisson; l1: salt-and-pepper, impulse noise; l0: random impulses; hdr: renderings",
    )
    t.add_argument(
        "--depth", type=positive_int, default=None, help="U-Net poolings (default: the preset's)"
    )
    t.add_argument(
        "--base-channels",
        type=positive_int,
        default=None,
        help="U-Net width, channels of the first level (default: the preset's)",
    )
    t.add_argument(
        "--channels",
        default=DEFAULTS.channels,
        choices=["joint", "separate"],
        help="one model for all channels, or one per channel",
    )
    t.add_argument("--device", default=DEFAULTS.device, help="auto, cpu, cuda, cuda:N or mps")
    t.add_argument(
        "--axes",
        default=None,
        help="axes of the input, e.g. YX, ZYX (volume), TYX (time series), YXC (colour) (default: from "
        "the file; 2D files are YX; other files without axes in their metadata need it)",
    )
    t.add_argument(
        "--voxel-size",
        nargs=3,
        type=float,
        metavar=("Z", "Y", "X"),
        default=None,
        help="voxel size of a volume, any unit (default: from the file's ImageJ spacing, OME "
        "PhysicalSize, NIfTI zooms or OME-Zarr scale; else isotropic): a z-step coarser than the "
        "pixel size gives a network that pools in y and x only at its top levels",
    )
    t.add_argument(
        "--seed",
        type=non_negative_int,
        default=DEFAULTS.seed,
        help="random seed: the same seed and data give the same model",
    )
    t.add_argument("--quiet", action="store_true", help="print no progress")
    add_overwrite(t, "the model file")
    g = t.add_argument_group("fine-tuning, checkpoints and resuming")
    g.add_argument(
        "--init-from",
        metavar="MODEL",
        default="auto",
        help="start from this model (a .n2n file, or a .bioimageio.zip package exported by napari-n2n: its "
        "architecture and weights) and fine-tune it on the "
        "new data; 'general': the bundled general 2D denoiser; 'none': random weights; 'auto' "
        "(the default): the general denoiser on the CPU for 2D one-channel data when no other network is "
        "chosen (a --preset other than cpu-quick, --depth, --base-channels), else random weights",
    )
    g.add_argument(
        "--init-normalization",
        default=DEFAULT_INIT_NORMALIZATION,
        choices=list(INIT_NORMALIZATIONS),
        help="with --init-from: fit the normalisation to the new data, or keep the model's",
    )
    g.add_argument(
        "--checkpoint-every",
        type=positive_int,
        metavar="STEPS",
        help="write the resumable state every this many steps (and when the run ends or is stopped)",
    )
    g.add_argument(
        "--checkpoint-minutes",
        type=positive_float,
        metavar="MIN",
        help="write the resumable state every this many minutes",
    )
    g.add_argument(
        "--checkpoint", metavar="STATE", help="where to write the state (default: MODEL with .ckpt)"
    )
    g.add_argument(
        "--resume",
        metavar="STATE",
        help="continue the run saved in STATE; 'auto': the --checkpoint file if it exists, else start",
    )
    g.add_argument(
        "--resume-anyway",
        action="store_true",
        help="resume even though the data or options differ from the checkpoint's",
    )
    t.set_defaults(func=run)


def _checkpointing(args, out: Path):
    """``(Checkpointing or None, state to resume or None)`` from the options; refuses to overwrite a state."""
    from ..core.training.resume import STATE_SUFFIX, Checkpointing

    path = Path(args.checkpoint) if args.checkpoint else out.with_suffix(STATE_SUFFIX)
    if path.resolve() == out.resolve() or same_file(path, out):
        raise InputError(
            f"--checkpoint {path} is the --model file: the state and the model are two files. Leave "
            f"--checkpoint out (the state goes to {out.with_suffix(STATE_SUFFIX)}) or choose another name."
        )
    resume = args.resume
    if resume == "auto":
        resume = str(path) if path.exists() else None
    if not (args.checkpoint_every or args.checkpoint_minutes or args.checkpoint):
        return None, resume
    if path.exists() and (resume is None or Path(resume).resolve() != path.resolve()):
        raise InputError(_taken(path, out.with_suffix(STATE_SUFFIX)))
    every_s = args.checkpoint_minutes * 60 if args.checkpoint_minutes else None
    checkpointing = Checkpointing(path, every_steps=args.checkpoint_every, every_s=every_s)
    # its folder, before the images are read (the Trainer's own check, made earlier)
    checkpointing.check()
    return checkpointing, resume


def _header(path: Path, state: bool):
    """The JSON document of a napari-n2n state (``state``) or model file, or ``None`` if it is not one."""
    from ..core.checkpoint import FORMAT, FORMAT_VERSION, read_header
    from ..core.errors import ModelFileError
    from ..core.training.resume import STATE_FORMAT, STATE_VERSION

    fmt, newest = (STATE_FORMAT, STATE_VERSION) if state else (FORMAT, FORMAT_VERSION)
    try:
        return read_header(path, fmt=fmt, newest=newest, not_ours="")[1]
    except ModelFileError:
        return None


def _taken(path: Path, default: Path) -> str:
    """Why the existing file ``path`` cannot be the ``--checkpoint``: what it holds and what to do."""
    from ..io import FORMATS

    other = "another --checkpoint" + (f" (e.g. {default})" if default != path else "")
    if _header(path, state=True) is not None:
        return (
            f"{path} exists (the state of an earlier run) and would be overwritten. Continue that run "
            f"with --resume {path} (or --resume auto), delete the file, or choose {other}."
        )
    if _header(path, state=False) is not None:
        held = "a napari-n2n model file"
    elif any(path.name.lower().endswith(s) for f in FORMATS for s in f.suffixes):
        held = "an image"
    else:
        held = "a file that is not a napari-n2n training state"
    return (
        f"--checkpoint {path} is {held}, which the state of this run would overwrite. "
        f"Choose {other}."
    )


def _replaces_own_model(model: Path, resume: str) -> bool:
    """Whether resuming ``resume`` may replace the existing ``--model`` without ``--overwrite``.

    Only when it is the model that run saved; any other file is refused (``--overwrite``
    replaces it).
    """
    if not model.exists():
        return False
    state = _header(Path(resume), state=True)
    if state is None:  # not a state that this version reads: say what is wrong with it
        from ..core.training.resume import load_state

        load_state(resume)
        return False
    saved = _header(model, state=False)
    if saved is None or not _same_run(saved, state):
        raise InputError(
            f"{model} exists and is not the model saved with {resume}; continuing that run would "
            f"replace it. Choose another --model, or add --overwrite to replace it."
        )
    return True


def _same_run(saved: dict, state: dict) -> bool:
    """Whether the model file's document ``saved`` was written by the run of the state ``state``."""
    from ..core.training.train import RUN_ID

    names = [(doc.get("info") or {}).get(RUN_ID) for doc in (saved, state)]
    if all(names):
        return names[0] == names[1]
    # files of a version that did not name runs: the same options and normalisation, and the
    # model's history the start of the state's (a run of the same data, options and seed has the
    # same losses: its time tells them apart)
    if any(saved.get(k) != state.get(k) for k in ("config", "unet", "normalization", "axes")):
        return False
    history = saved.get("history") or {}
    later = state.get("history") or {}
    n = len(history.get("step") or [])
    started = n > 0 and all(
        history.get(k) == (later.get(k) or [])[:n] for k in ("step", "train_loss")
    )
    same_end = history.get("elapsed_s") == later.get("elapsed_s")
    return started and (same_end or n < len(later.get("step") or []))


def _voxel_size(given, from_file, axes: str):
    """``--voxel-size``, else the first input file's, as ``(z, y, x)``; ``None`` for 2D data or none known."""
    from ..core.training.start import voxel_size_from

    voxel_size = voxel_size_from(given or from_file, axes)
    if given and voxel_size is None:
        raise InputError(
            f"--voxel-size is for volumes (axes with Z) of positive sizes; the input's axes are {axes}."
        )
    return voxel_size


def _init(init_from: str):
    """What ``--init-from`` names: nothing, a model file, a keyword, or a Zoo package's network."""
    from ..bmz import is_bmz_path

    if init_from == "none":
        return None
    if is_bmz_path(init_from):
        from ..bmz import denoiser_from_bmz

        return denoiser_from_bmz(init_from)
    return init_from


def _require_inputs_fit_mode(args) -> None:
    """The target, pairing and registration options agree with the mode."""
    if args.mode == "nb2nb" and args.target:
        raise InputError(
            "--target is not used in nb2nb (single-image) mode; remove it or choose --mode n2n."
        )
    if args.register != "none" and not args.pair_neighbours:
        raise InputError(
            f"--register {args.register} registers neighbouring frames: add --pair-neighbours T "
            "(or Z, S), or remove --register."
        )
    if args.pair_neighbours and (args.target or args.mode != "n2n"):
        raise InputError(
            "--pair-neighbours makes the pair from --input alone: remove --target and use --mode n2n."
        )
    if args.mode != "nb2nb" and not args.target and not args.pair_neighbours:
        raise InputError(
            f"--mode {args.mode} needs --target (the second noisy copy, or the clean image for n2c). "
            "With one time-lapse, add --pair-neighbours T; with one noisy image, choose --mode nb2nb."
        )


def run(args) -> int:
    from ..console import StopOnSignals, run_training
    from ..core.checkpoint import estimated_size
    from ..core.files import write_with_fallback
    from ..core.training import distributed
    from ..core.training.train import Trainer

    _require_inputs_fit_mode(args)
    checkpointing, resume = _checkpointing(args, Path(args.model))
    # continuing the run that wrote the model file: it is replaced when this one ends
    if resume is not None and not args.overwrite:
        args.overwrite = _replaces_own_model(Path(args.model), resume)
    model = destination(
        args.model,
        args,
        inputs=[*args.input, *(args.target or []), *(args.clean or [])],
        what="model file",
        image=False,
    )
    # one image, or several of different sizes
    found: dict = {}
    data, target_data, clean_data, axes, registered = training_data(args, found=found)
    data, target_data, kept_info = fill_defects(args.defects, data, target_data, axes)
    voxel_size = _voxel_size(args.voxel_size, found.get("pixel_size"), axes)
    config = TrainConfig(
        register=registered,
        mode=args.mode,
        loss=args.loss,
        steps=args.steps,
        patch_size=args.patch,
        batch_size=args.batch,
        learning_rate=args.lr,
        device=args.device,
        seed=args.seed,
        time_budget_s=args.time_budget,
        channels=args.channels,
        depth=args.depth,
        base_channels=args.base_channels,
        preset=args.preset,
        threads=args.threads,
        compile=args.compile,
    )
    with distributed.process_group(args.device) as ranks:
        trainer = Trainer(
            data,
            target_data,
            axes=axes,
            config=config,
            clean=clean_data,
            init=_init(args.init_from),
            init_normalization=args.init_normalization,
            checkpoint=checkpointing,
            resume=resume,
            resume_anyway=args.resume_anyway,
            voxel_size=voxel_size,
        )
        if ranks.is_main:
            model.require_space(
                estimated_size(
                    trainer.unet,
                    trainer.groups,
                    trainer.config.steps,
                    time_budget_s=trainer.config.time_budget_s,
                )
            )
        with StopOnSignals(trainer) as stop:
            den, _ = run_training(trainer, quiet=args.quiet or not ranks.is_main)
    code = 0 if stop.signum is None else 128 + stop.signum
    if not ranks.is_main:  # rank 0 reports and saves
        return code
    # the true count, also when the run was stopped before its end
    steps = trainer.history["steps_done"]
    if stop.signum is not None and not steps:
        print(
            f"napari-n2n: interrupted by {stop.name} before the first step: nothing saved",
            file=sys.stderr,
        )
        return code
    saved = []
    why = None
    if den is not None:
        den.info.update(kept_info)
        path, why = write_with_fallback(model, den.save)
        saved.append(f"model {path}")
    # a state whose write failed (the run said so and went on) is not offered for --resume
    if checkpointing is not None and trainer.checkpoint_failure is None:
        saved.append(f"state {checkpointing.path} (continue with --resume {checkpointing.path})")
    if stop.signum is not None:
        print(
            f"napari-n2n: interrupted by {stop.name} after step {steps}: saved {' and '.join(saved) or 'nothing'}"
            + ("" if den is not None else " (the models of some channels had not started)"),
            file=sys.stderr,
        )
    else:
        h = den.history
        kept = (
            f"kept the weights of lowest validation loss, step {h.get('best_step')}"
            if h.get("best_val_loss") is not None
            else "kept the latest weights"
        )
        print(
            f"saved {path} ({den.summary()}; {steps} steps, {h.get('elapsed_s', 0):.1f} s; {kept})"
        )
    if why:
        raise OutputError(f"{why} The model was saved to {path} instead.")
    return code
