#!/usr/bin/env python
"""Train and apply a CAREamics Noise2Noise model, for the napari-n2n benchmark.

This script is the CAREamics side of the speed/quality comparison. It is meant
to be run with the interpreter of the isolated CAREamics virtual environment
(see ``benchmarks/setup_careamics.sh``), e.g.::

    benchmarks/.venv-careamics/bin/python benchmarks/careamics_runner.py \\
        --input A.npy --target B.npy --predict-on A.npy \\
        --out pred.npy --json result.json \\
        --patch 64 --batch 16 --steps 50 --seed 0 [--axes YX|ZYX]

It deliberately does NOT import ``napari_n2n``: the two sides of the benchmark
live in different environments (CAREamics pins an older torch).

What it does
------------
1. Builds a CAREamics N2N configuration with ``careamics.config.create_advanced_n2n_config``
   (CAREamics 0.3.x API), on CPU, with the requested patch and batch size.
2. Trains a ``careamics.CAREamist`` on the pair ``input -> target`` for exactly
   ``--steps`` optimizer steps: Lightning's ``max_steps`` is set to N and
   ``max_epochs`` is left unset (so Lightning uses -1 = unlimited). Epochs are
   whatever CAREamics' stratified patching yields (about image area / patch area
   patches, minus the validation patches), so training may stop in the middle of
   an epoch; the number of steps actually done is read back from
   ``trainer.global_step``.
3. Predicts on ``--predict-on`` (whole image, or tiled with ``--tile``) and saves
   the prediction as float32 ``.npy`` with the same shape as that input. For
   whole-image prediction the image is reflect-padded to a multiple of 2**depth
   (CAREamics refuses other sizes) and cropped back.
4. Writes a JSON summary (careamics_version, torch_version, train_seconds,
   predict_seconds, steps, n_parameters, patch, batch, notes, plus extras).

Timing notes: ``train_seconds`` covers ``CAREamist.train`` (dataset/patch setup,
normalisation statistics, the training steps, the per-epoch validation on the
held-out patches and checkpoint writing); ``predict_seconds`` covers
``CAREamist.predict`` (which reloads the "last" checkpoint) plus padding/cropping.
Importing careamics (~12 s) is reported separately as ``import_seconds``.
Results are bit-identical between runs for a fixed seed *and* thread count; on a
2-core machine shared with other work, ``--threads 1`` gives far steadier (and
there, faster) timings than torch's default of 2 OpenMP threads.

Everything else is left at the CAREamics defaults (UNet depth 2 with 32 initial
channels and batch norm, Adam with torch's default lr 1e-3, ReduceLROnPlateau on
val_loss, MAE loss, mean/std normalisation computed from the training data,
random flips + 90 degree rotations, 8 validation patches split off the training
image), unless overridden by the optional flags.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_AXES = {2: "YX", 3: "ZYX"}


# --------------------------------------------------------------------------- CLI
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    p = argparse.ArgumentParser(
        description="Train a CAREamics Noise2Noise model on a noisy pair and predict.",
    )
    p.add_argument("--input", required=True, help="noisy input image (.npy)")
    p.add_argument("--target", required=True, help="independent noisy target (.npy)")
    p.add_argument("--predict-on", required=True, help="image to denoise after training (.npy)")
    p.add_argument("--out", required=True, help="where to save the prediction (.npy)")
    p.add_argument("--json", required=True, help="where to write the result summary")
    p.add_argument(
        "--patch",
        default="64",
        help="patch size: one int for all spatial axes, or comma-separated per axis "
        "(e.g. 16,64,64 for ZYX). CAREamics needs it square in YX and each size a "
        "multiple of 2**depth (4 for the default depth 2).",
    )
    p.add_argument("--batch", type=int, default=16, help="batch size")
    p.add_argument("--steps", type=int, required=True, help="optimizer steps")
    p.add_argument("--seed", type=int, default=0, help="random seed (>= 0)")
    p.add_argument(
        "--axes",
        default=None,
        help="axes of the arrays (YX or ZYX; default from ndim: 2->YX, 3->ZYX)",
    )
    # optional knobs, defaults = CAREamics defaults
    p.add_argument("--depth", type=int, default=None, help="UNet depth (default 2)")
    p.add_argument("--channels", type=int, default=None, help="UNet initial channels (default 32)")
    p.add_argument("--lr", type=float, default=None, help="Adam lr (default 1e-3)")
    p.add_argument("--loss", choices=["mae", "mse"], default="mae", help="loss (default mae)")
    p.add_argument(
        "--no-augment",
        action="store_true",
        help="disable CAREamics' default flips/rotations",
    )
    p.add_argument(
        "--n-val-patches",
        type=int,
        default=8,
        help="patches CAREamics splits off the training data for validation "
        "(default 8; validation runs once per epoch and is needed by its "
        "ReduceLROnPlateau scheduler)",
    )
    p.add_argument(
        "--drop-last",
        action="store_true",
        help="drop the last, incomplete training batch of each epoch so that every "
        "step sees --batch patches (CAREamics default: keep it)",
    )
    p.add_argument(
        "--tile",
        default=None,
        help="tile size for prediction (int or comma list); default: whole image",
    )
    p.add_argument(
        "--tile-overlap",
        default=None,
        help="tile overlap (int or comma list); default 48 (2D) / 16,48,48 (3D)",
    )
    p.add_argument(
        "--num-workers",
        type=int,
        default=0,
        help="dataloader workers (default 0 = in-process, like a napari plugin "
        "on a small machine; CAREamics' own Linux default is min(ncpu-1, 4))",
    )
    p.add_argument(
        "--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)"
    )
    p.add_argument(
        "--workdir",
        default=None,
        help="CAREamics work dir (checkpoints, csv logs); default: a temp dir "
        "that is deleted afterwards",
    )
    p.add_argument("--verbose", action="store_true", help="keep CAREamics/Lightning output")
    args = p.parse_args(argv)
    if args.steps < 1:
        p.error("--steps must be >= 1")
    if args.seed < 0:
        p.error("--seed must be >= 0")
    return args


def parse_size(text: str | None, ndim: int) -> tuple[int, ...] | None:
    """Turn '64' or '16,64,64' into a tuple with one entry per spatial axis."""
    if text is None:
        return None
    parts = [int(v) for v in str(text).split(",") if v.strip()]
    if len(parts) == 1:
        parts = parts * ndim
    if len(parts) != ndim:
        raise ValueError(f"size {text!r} does not match {ndim} spatial axes")
    return tuple(parts)


# ------------------------------------------------------------------ environment
def make_quiet(verbose: bool) -> None:
    """Silence progress bars, Lightning's info lines and CAREamics' loggers."""
    if verbose:
        return
    for name in (
        "lightning",
        "lightning.pytorch",
        "lightning.fabric",
        "pytorch_lightning",
        "lightning_utilities",
        "careamics",
    ):
        logging.getLogger(name).setLevel(logging.ERROR)
    # CAREamics' get_logger() makes non-propagating loggers with their own INFO
    # handlers (e.g. "Statistics" prints the computed mean/std); this script is
    # a standalone process, so simply drop every record below ERROR.
    logging.disable(logging.WARNING)
    os.environ.setdefault("TQDM_DISABLE", "1")


def seed_all(seed: int) -> None:
    """Seed python, numpy and torch (CAREamist also calls Lightning's
    seed_everything with the config seed; ``deterministic=True`` in the trainer
    parameters makes torch use deterministic kernels)."""
    import random

    import torch

    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - careamics draws from the global generator
    torch.manual_seed(seed)


# ---------------------------------------------------------------- configuration
def build_config(
    *,
    axes: str,
    patch: tuple[int, ...],
    batch: int,
    steps: int,
    seed: int,
    depth: int | None,
    channels: int | None,
    lr: float | None,
    loss: str,
    augment: bool,
    n_val_patches: int,
    num_workers: int,
    verbose: bool,
    drop_last: bool = False,
):
    """Build a CAREamics N2N configuration that trains for exactly ``steps`` steps."""
    from careamics.config import create_advanced_n2n_config

    model_params: dict[str, Any] = {}
    if depth is not None:
        model_params["depth"] = depth
    if channels is not None:
        model_params["num_channels_init"] = channels

    trainer_params: dict[str, Any] = {
        # exact step budget: max_epochs stays None -> Lightning treats it as -1
        "max_steps": steps,
        "accelerator": "cpu",
        "devices": 1,
        # skip the 2 sanity-check validation batches before training
        "num_sanity_val_steps": 0,
        "enable_model_summary": bool(verbose),
        "deterministic": True,
        # log every step so the CSV log has one row per step (cheap)
        "log_every_n_steps": 1,
    }

    config = create_advanced_n2n_config(
        experiment_name="careamics_n2n_benchmark",
        data_type="array",
        axes=axes,
        patch_size=list(patch),
        batch_size=batch,
        num_epochs=None,  # do not set max_epochs (default would be 30)
        augmentations=None if augment else [],
        n_val_patches=n_val_patches,
        model_params=model_params or None,
        optimizer="Adam",
        optimizer_params={"lr": lr} if lr is not None else None,
        num_workers=num_workers,
        train_dataloader_params={"shuffle": True, "drop_last": drop_last},
        trainer_params=trainer_params,
        logger="none",
        # CAREamics requires seed > 0, so shift the CLI seed by one
        seed=seed + 1,
    )
    config.algorithm_config.loss = loss
    return config


def count_parameters(careamist) -> int:
    """Number of trainable parameters of the network."""
    module = careamist.model
    net = getattr(module, "model", module)
    return int(sum(p.numel() for p in net.parameters() if p.requires_grad))


# ------------------------------------------------------------------------- run
def load_array(path: str) -> np.ndarray:
    """Load a .npy file as float32."""
    arr = np.load(path)
    return np.ascontiguousarray(arr, dtype=np.float32)


def pad_to_multiple(
    arr: np.ndarray, multiple: int, axes: str
) -> tuple[np.ndarray, tuple[slice, ...]]:
    """Reflect-pad the spatial (Z/Y/X) axes up to a multiple of ``multiple``.

    CAREamics refuses whole-image prediction when a spatial size is not a
    multiple of 2**depth of the UNet (it asks for tiling instead); padding and
    cropping back keeps whole-image semantics.
    """
    pads = [(0, (-n) % multiple if a in "ZYX" else 0) for n, a in zip(arr.shape, axes)]
    crop = tuple(slice(0, n) for n in arr.shape)
    if not any(after for _, after in pads):
        return arr, crop
    mode = "reflect" if all(n > after for n, (_, after) in zip(arr.shape, pads)) else "symmetric"
    return np.pad(arr, pads, mode=mode), crop


def to_input_shape(pred: Any, shape: tuple[int, ...]) -> np.ndarray:
    """CAREamics returns a list of arrays (possibly with S/C axes); squeeze back."""
    if isinstance(pred, (list, tuple)):
        if len(pred) != 1:
            pred = np.stack([np.asarray(p) for p in pred])
        else:
            pred = pred[0]
    out = np.asarray(pred, dtype=np.float32)
    if out.shape != shape:
        out = np.squeeze(out)
    if out.shape != shape:
        raise RuntimeError(f"prediction shape {out.shape} != input shape {shape}")
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Train, predict, save; return the JSON summary."""
    t_import = time.perf_counter()
    make_quiet(args.verbose)
    import careamics
    import torch
    from careamics import CAREamist

    import_seconds = time.perf_counter() - t_import

    if args.threads is not None:
        torch.set_num_threads(args.threads)

    x = load_array(args.input)
    y = load_array(args.target)
    p = load_array(args.predict_on)
    if x.shape != y.shape:
        raise ValueError(f"input {x.shape} and target {y.shape} differ in shape")
    axes = args.axes or DEFAULT_AXES.get(x.ndim)
    if axes is None or len(axes) != x.ndim:
        raise ValueError(f"cannot use axes {axes!r} for an array of shape {x.shape}")
    if p.ndim != x.ndim:
        raise ValueError("--predict-on must have the same number of axes as --input")
    n_spatial = sum(a in "ZYX" for a in axes)
    patch = parse_size(args.patch, n_spatial)
    tile = parse_size(args.tile, n_spatial)
    overlap = parse_size(args.tile_overlap, n_spatial)
    if tile is not None and overlap is None:
        overlap = (16,) * (n_spatial - 2) + (48, 48)

    seed_all(args.seed)

    own_workdir = args.workdir is None
    workdir = (
        Path(tempfile.mkdtemp(prefix="careamics_bench_")) if own_workdir else Path(args.workdir)
    )
    caught: list[str] = []
    try:
        with warnings.catch_warnings(record=True) as wlist:
            warnings.simplefilter("always")
            t0 = time.perf_counter()
            config = build_config(
                axes=axes,
                patch=patch,
                batch=args.batch,
                steps=args.steps,
                seed=args.seed,
                depth=args.depth,
                channels=args.channels,
                lr=args.lr,
                loss=args.loss,
                augment=not args.no_augment,
                n_val_patches=args.n_val_patches,
                num_workers=args.num_workers,
                verbose=args.verbose,
                drop_last=args.drop_last,
            )
            careamist = CAREamist(config, work_dir=workdir, enable_progress_bar=bool(args.verbose))
            setup_seconds = time.perf_counter() - t0

            t0 = time.perf_counter()
            careamist.train(train_data=x, train_data_target=y)
            train_seconds = time.perf_counter() - t0

            trainer = careamist.trainer
            steps_done = int(trainer.global_step)
            n_train_batches = int(trainer.num_training_batches)
            # trainer.current_epoch is incremented even when max_steps stops the
            # loop mid-epoch, so derive the epoch count from the step count
            full_epochs, rest = divmod(steps_done, max(n_train_batches, 1))
            n_train_patches = None
            try:
                n_train_patches = len(careamist.train_datamodule.train_dataset)
            except Exception:
                pass

            t0 = time.perf_counter()
            predict_kwargs: dict[str, Any] = {"data_type": "array", "axes": axes}
            if tile is not None:
                predict_kwargs["tile_size"] = tile
                predict_kwargs["tile_overlap"] = overlap
                p_in, crop = p, tuple(slice(0, n) for n in p.shape)
            else:
                depth = int(config.algorithm_config.model.depth)
                p_in, crop = pad_to_multiple(p, 2**depth, axes)
            pred, _sources = careamist.predict(p_in, **predict_kwargs)
            out = to_input_shape(pred, p_in.shape)[crop]
            predict_seconds = time.perf_counter() - t0

        for w in wlist:
            msg = f"{w.category.__name__}: {str(w.message).splitlines()[0][:200]}"
            if msg not in caught:
                caught.append(msg)
        if args.verbose:
            for m in caught:
                print(m, file=sys.stderr)
    finally:
        if own_workdir:
            shutil.rmtree(workdir, ignore_errors=True)

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    np.save(args.out, out.astype(np.float32, copy=False))

    norm = config.data_config.normalization
    try:
        norm_info = careamist.train_datamodule.config.normalization.model_dump()
        norm_info = {k: v for k, v in norm_info.items() if v is not None}
    except Exception:
        norm_info = {"name": getattr(norm, "name", str(norm))}

    notes = (
        f"CAREamics N2N via create_advanced_n2n_config + CAREamist on CPU. "
        f"Steps controlled with Lightning max_steps={args.steps} (max_epochs unset); "
        f"{n_train_batches} train batches/epoch from {n_train_patches} stratified "
        f"patches, so {full_epochs} full epoch(s) + {rest} step(s). Validation on "
        f"{args.n_val_patches} patches split from the training data runs at each "
        f"epoch end (needed by ReduceLROnPlateau) and is included in train_seconds; "
        f"sanity validation disabled. Loss={args.loss}, normalisation={norm_info.get('name')} "
        f"(stats from training data), augmentations={'off' if args.no_augment else 'flips+rot90'}, "
        f"drop_last={args.drop_last}, num_workers={args.num_workers}, CAREamics seed={args.seed + 1} (must be > 0). "
        f"Prediction {'tiled ' + str(tile) if tile else 'whole image (reflect-padded to a multiple of 2**depth, cropped back)'}, reloads the "
        f"'last' checkpoint (included in predict_seconds)."
    )

    return {
        "careamics_version": careamics.__version__,
        "torch_version": torch.__version__,
        "train_seconds": round(train_seconds, 4),
        "predict_seconds": round(predict_seconds, 4),
        "steps": steps_done,
        "n_parameters": count_parameters(careamist),
        "patch": list(patch),
        "batch": args.batch,
        "notes": notes,
        # extras
        "requested_steps": args.steps,
        "epochs": round(steps_done / max(n_train_batches, 1), 4),
        "train_batches_per_epoch": n_train_batches,
        "train_patches_per_epoch": n_train_patches,
        "setup_seconds": round(setup_seconds, 4),
        "import_seconds": round(import_seconds, 4),
        "axes": axes,
        "input_shape": list(x.shape),
        "predict_shape": list(p.shape),
        "seed": args.seed,
        "loss": args.loss,
        "normalization": norm_info,
        "torch_threads": torch.get_num_threads(),
        "num_workers": args.num_workers,
        "device": "cpu",
        "warnings": caught,
    }


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = parse_args(argv)
    result = run(args)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    with open(args.json, "w") as fh:
        json.dump(result, fh, indent=2, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
