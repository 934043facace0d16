"""The ``napari-n2n`` command: synthesise pairs, train, predict and run a demo on TIFF files.

Every user error (missing file, mismatched shapes, bad axes, ...) ends with a one-line message
on stderr and exit status 2; no traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from .core.errors import InputError, N2NError

EXIT_USER_ERROR = 2


# ---- I/O --------------------------------------------------------------------------------------
def read_image(path: str, what: str = "image") -> np.ndarray:
    """Read a TIFF (or .npy) file; user errors become :class:`InputError`."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{what.capitalize()} file {path} does not exist. Check the path.")
    if p.suffix.lower() == ".npy":
        try:
            arr = np.load(p, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise InputError(f"{path} is not a readable .npy array ({exc}). Save it with numpy.save.") from exc
    else:
        import tifffile

        try:
            arr = tifffile.imread(p)
        except Exception as exc:  # tifffile raises several types for non-TIFF files
            raise InputError(
                f"{path} is not a TIFF image ({type(exc).__name__}). Give a .tif/.tiff file (or a .npy array)."
            ) from exc
    if arr.dtype.kind not in "biuf":
        raise InputError(f"{path} holds {arr.dtype} data, not numbers; give a grayscale or multi-channel image.")
    if arr.ndim < 2:
        raise InputError(f"{path} is {arr.ndim}D; an image needs at least 2 dimensions (Y, X).")
    return arr


def write_image(path: str, array: np.ndarray) -> None:
    p = Path(path)
    if not p.parent.exists():
        raise InputError(f"Cannot write {path}: folder {p.parent} does not exist. Create it first.")
    if p.suffix.lower() == ".npy":
        np.save(p, array)
        return
    import tifffile

    tifffile.imwrite(p, array)


# ---- progress ---------------------------------------------------------------------------------
class ProgressBar:
    """A one-line text progress bar on stderr (redrawn in place on a terminal)."""

    def __init__(self, label: str, stream=None, width: int = 30):
        self.label, self.stream, self.width = label, stream or sys.stderr, width
        self.tty = getattr(self.stream, "isatty", lambda: False)()
        self._last_pct = -10

    def update(self, fraction: float, text: str = "") -> None:
        fraction = min(max(fraction, 0.0), 1.0)
        pct = int(fraction * 100)
        if not self.tty and pct < self._last_pct + 10 and fraction < 1.0:
            return
        self._last_pct = pct
        filled = int(self.width * fraction)
        line = f"{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {pct:3d}% {text}"
        if self.tty:
            self.stream.write("\r" + line[:200].ljust(100))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _fmt_time(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def run_training(trainer, label: str = "train", quiet: bool = False):
    """Consume a Trainer's events with a progress bar; Ctrl-C stops and keeps the best model."""
    from .core.train import Finished, Progress, Started, Validated

    bar = None if quiet else ProgressBar(label)
    last_val = ""
    finished = None
    gen = trainer.run()
    try:
        for ev in gen:
            if isinstance(ev, Started) and not quiet:
                notes = f"; {'; '.join(ev.notes)}" if ev.notes else ""
                print(f"{label}: {ev.n_parameters / 1e6:.2f} M parameters on {ev.device}{notes}", file=sys.stderr)
            elif isinstance(ev, Validated):
                last_val = f"val {ev.val_loss:.4g}" + (f" PSNR {ev.psnr:.2f} dB" if ev.psnr is not None else "")
            elif isinstance(ev, Progress) and bar:
                bar.update(ev.fraction, f"step {ev.step}/{ev.total_steps} loss {ev.train_loss:.4g} {last_val} "
                                        f"{ev.patches_per_s:.0f} patches/s ETA {_fmt_time(ev.eta_s)}")
            elif isinstance(ev, Finished):
                finished = ev
    except KeyboardInterrupt:
        trainer.request_stop()
        gen.close()
        print(f"\n{label}: interrupted; keeping the best model so far", file=sys.stderr)
    finally:
        if bar:
            bar.close()
    return trainer.denoiser(), finished


def run_prediction(denoiser, image, quiet: bool = False, label: str = "predict", **kwargs):
    bar = None if quiet else ProgressBar(label)
    gen = denoiser.predict_iter(image, **kwargs)
    try:
        while True:
            try:
                ev = next(gen)
            except StopIteration as stop:
                return stop.value
            if bar:
                bar.update(ev.done / ev.total, f"tile {ev.done}/{ev.total}")
    finally:
        if bar:
            bar.close()


# ---- commands ---------------------------------------------------------------------------------
NOISE_PARAMS = {
    "gaussian": ["sigma"],
    "poisson": ["peak"],
    "poisson_gaussian": ["gain", "read_sigma"],
    "impulse": ["fraction", "kind"],
    "salt_pepper": ["fraction"],
    "bernoulli": ["p"],
}


def cmd_synth(args) -> int:
    from .core.noise import make_noise, synthesize_pair

    clean = read_image(args.clean, "clean image")
    given = {k: getattr(args, k) for k in ("sigma", "peak", "gain", "read_sigma", "fraction", "kind", "p")
             if getattr(args, k) is not None}
    allowed = NOISE_PARAMS[args.noise]
    unused = sorted(set(given) - set(allowed))
    if unused:
        raise InputError(f"--{unused[0].replace('_', '-')} does not apply to {args.noise} noise; it takes "
                         f"{', '.join('--' + a.replace('_', '-') for a in allowed)}.")
    noise = make_noise(args.noise, **given)
    a, b = synthesize_pair(clean, noise, seed=args.seed)
    write_image(args.out_a, a)
    write_image(args.out_b, b)
    print(f"wrote {args.out_a} and {args.out_b}: {noise.describe()}, seed {args.seed}, shape {a.shape}")
    return 0


def cmd_train(args) -> int:
    from .core.config import TrainConfig
    from .core.train import Trainer

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
                         base_channels=args.base_channels)
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


def cmd_predict(args) -> int:
    from .core.denoiser import Denoiser

    den = Denoiser.load(args.model)
    image = read_image(args.input, "input")
    kwargs = dict(axes=args.axes, tile=args.tile, device=args.device, dtype=args.dtype)
    t0 = time.perf_counter()
    result = run_prediction(den, image, quiet=args.quiet, **kwargs)
    if args.pair_with:
        other = read_image(args.pair_with, "second image of the pair")
        if other.shape != image.shape:
            raise InputError(f"--pair-with image has shape {other.shape} but --input has {image.shape}; they must match.")
        second = run_prediction(den, other, quiet=args.quiet, label="predict B", **kwargs)
        result = (0.5 * (np.asarray(result, np.float32) + np.asarray(second, np.float32))).astype(result.dtype)
    write_image(args.output, result)
    print(f"wrote {args.output} ({result.shape}, {result.dtype}) in {time.perf_counter() - t0:.1f} s")
    return 0


def cmd_demo(args) -> int:
    from .demo import run_demo

    run_demo(out_dir=args.out, seconds=args.seconds, device=args.device, seed=args.seed, quiet=args.quiet)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .core.config import LOSSES

    p = argparse.ArgumentParser(prog="napari-n2n", description="Noise2Noise denoising: learn from pairs of noisy images.")
    p.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("synth", help="make two noisy copies of a clean image")
    s.add_argument("clean", help="clean image (TIFF or .npy)")
    s.add_argument("--noise", default="gaussian", choices=sorted(NOISE_PARAMS))
    s.add_argument("--sigma", type=float, help="gaussian: standard deviation, image units")
    s.add_argument("--peak", type=float, help="poisson: photons at the brightest pixel")
    s.add_argument("--gain", type=float, help="poisson_gaussian: image units per electron")
    s.add_argument("--read-sigma", dest="read_sigma", type=float, help="poisson_gaussian: read noise, image units")
    s.add_argument("--fraction", type=float, help="impulse/salt_pepper: fraction of pixels hit")
    s.add_argument("--kind", choices=["salt_pepper", "random"], help="impulse: value kind")
    s.add_argument("--p", type=float, help="bernoulli: drop probability")
    s.add_argument("--out-a", required=True)
    s.add_argument("--out-b", required=True)
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=cmd_synth)

    t = sub.add_parser("train", help="train a denoiser on a noisy pair (or one noisy image)")
    t.add_argument("--input", required=True, help="noisy image A")
    t.add_argument("--target", help="noisy image B (n2n) or clean image (n2c); omit for nb2nb")
    t.add_argument("--model", required=True, help="where to save the model (.n2n)")
    t.add_argument("--mode", default="n2n", choices=["n2n", "n2c", "nb2nb"])
    t.add_argument("--clean", help="optional clean reference, to report validation PSNR")
    t.add_argument("--steps", type=int, default=2000)
    t.add_argument("--time-budget", type=float, default=None, help="stop after this many seconds")
    t.add_argument("--patch", type=int, default=64)
    t.add_argument("--batch", type=int, default=16)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--loss", default="l2", choices=list(LOSSES),
                   help="l2: Gaussian/Poisson; l1: salt-and-pepper; l0: random impulses; hdr: renderings")
    t.add_argument("--depth", type=int, default=None, help="U-Net poolings (default 4 in 2D, 3 in 3D)")
    t.add_argument("--base-channels", type=int, default=None, help="U-Net width (default 32 in 2D, 16 in 3D)")
    t.add_argument("--channels", default="joint", choices=["joint", "separate"])
    t.add_argument("--device", default="auto")
    t.add_argument("--axes", default=None, help="e.g. YX, ZYX, TYX, CYX (inferred for 2D/3D)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--quiet", action="store_true")
    t.set_defaults(func=cmd_train)

    r = sub.add_parser("predict", help="denoise an image with a trained model")
    r.add_argument("--model", required=True)
    r.add_argument("--input", required=True)
    r.add_argument("--output", required=True)
    r.add_argument("--pair-with", help="second noisy copy: output the average of both predictions")
    r.add_argument("--tile", type=int, default=None, help="tile size (default: automatic)")
    r.add_argument("--axes", default=None)
    r.add_argument("--device", default=None)
    r.add_argument("--dtype", default="float32", choices=["float32", "input"])
    r.add_argument("--quiet", action="store_true")
    r.set_defaults(func=cmd_predict)

    d = sub.add_parser("demo", help="train N2N and N2C on a bundled image and compare (about 2 minutes)")
    d.add_argument("--out", default="demo_out", help="folder for the figure and models")
    d.add_argument("--seconds", type=float, default=50.0, help="training time per method")
    d.add_argument("--device", default="auto")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--quiet", action="store_true")
    d.set_defaults(func=cmd_demo)
    return p


def _version() -> str:
    from . import __version__

    return __version__


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except N2NError as exc:
        print(f"napari-n2n: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("napari-n2n: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
