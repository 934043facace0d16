"""``napari-n2n synth``: two noisy copies of a clean image."""

from __future__ import annotations

from ..core.errors import InputError
from ._common import add_pair_outputs, read_image, write_image

#: the noise models offered on the command line (``salt_pepper`` is impulse noise of kind salt_pepper)
NOISES = ("gaussian", "poisson", "poisson_gaussian", "impulse", "salt_pepper", "bernoulli")
#: every noise parameter the command takes
PARAMS = ("sigma", "peak", "gain", "read_sigma", "fraction", "kind", "p")


def register(sub) -> None:
    s = sub.add_parser("synth", help="make two noisy copies of a clean image")
    s.add_argument("clean", help="clean image (TIFF or .npy)")
    s.add_argument("--noise", default="gaussian", choices=NOISES)
    s.add_argument("--sigma", type=float, help="gaussian: standard deviation, image units")
    s.add_argument("--peak", type=float, help="poisson: photons at the brightest pixel")
    s.add_argument("--gain", type=float, help="poisson_gaussian: image units per electron")
    s.add_argument("--read-sigma", dest="read_sigma", type=float, help="poisson_gaussian: read noise, image units")
    s.add_argument("--fraction", type=float, help="impulse/salt_pepper: fraction of pixels hit")
    s.add_argument("--kind", choices=["salt_pepper", "random"], help="impulse: value kind")
    s.add_argument("--p", type=float, help="bernoulli: drop probability")
    add_pair_outputs(s)
    s.set_defaults(func=run)


def run(args) -> int:
    from ..core.noise import make_noise, noise_params, synthesize_pair

    clean = read_image(args.clean, "clean image")
    given = {k: getattr(args, k) for k in PARAMS if getattr(args, k) is not None}
    allowed = noise_params(args.noise)
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
