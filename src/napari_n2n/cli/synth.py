"""``napari-n2n synth``: two noisy copies of a clean image."""

from __future__ import annotations

from ..core.errors import InputError
from ._common import (
    add_command,
    add_pair_outputs,
    pair_destinations,
    positive_float,
    read_image,
    write_pair,
)

#: the noise models offered on the command line (``salt_pepper`` is impulse noise of kind salt_pepper)
NOISES = ("gaussian", "poisson", "poisson_gaussian", "impulse", "salt_pepper", "bernoulli")
#: every noise parameter the command takes
PARAMS = ("sigma", "peak", "gain", "read_sigma", "fraction", "kind", "p")


def _default(noise: str, param: str) -> str:
    """``"(default: 25.0)"``: the noise model's own default, so it is written in one place."""
    from ..core.data.noise import make_noise

    return f"(default: {getattr(make_noise(noise), param)})"


def register(sub) -> None:
    s = add_command(sub, "synth", "make two noisy copies of a clean image")
    s.add_argument("clean", help="clean image (TIFF or .npy); it is only read")
    s.add_argument("--noise", default="gaussian", choices=NOISES, help="noise model")
    s.add_argument(
        "--sigma",
        type=positive_float,
        help="gaussian: standard deviation, image units " + _default("gaussian", "sigma"),
    )
    s.add_argument(
        "--peak",
        type=positive_float,
        help="poisson: photons at the brightest pixel " + _default("poisson", "peak"),
    )
    s.add_argument(
        "--gain",
        type=positive_float,
        help="poisson_gaussian: image units per electron " + _default("poisson_gaussian", "gain"),
    )
    s.add_argument(
        "--read-sigma",
        dest="read_sigma",
        type=float,
        help="poisson_gaussian: read noise, image units "
        + _default("poisson_gaussian", "read_sigma"),
    )
    s.add_argument(
        "--fraction",
        type=float,
        help="impulse/salt_pepper: fraction of pixels hit " + _default("impulse", "fraction"),
    )
    s.add_argument(
        "--kind",
        choices=["salt_pepper", "random"],
        help="impulse: value kind " + _default("impulse", "kind"),
    )
    s.add_argument(
        "--p", type=float, help="bernoulli: drop probability " + _default("bernoulli", "p")
    )
    add_pair_outputs(s, "noisy copy")
    s.set_defaults(func=run)


def run(args) -> int:
    from ..core.data.noise import make_noise, noise_params, synthesize_pair

    given = {k: getattr(args, k) for k in PARAMS if getattr(args, k) is not None}
    allowed = noise_params(args.noise)
    unused = sorted(set(given) - set(allowed))
    if unused:
        raise InputError(
            f"--{unused[0].replace('_', '-')} does not apply to {args.noise} noise; it takes "
            f"{', '.join('--' + a.replace('_', '-') for a in allowed)}."
        )
    noise = make_noise(args.noise, **given)
    outputs = pair_destinations(args, "noisy copy", inputs=[args.clean])
    clean = read_image(args.clean, "clean image")
    a, b = synthesize_pair(clean.data, noise, seed=args.seed)
    write_pair(outputs, (a, b), like=clean)
    print(
        f"wrote {args.out_a} and {args.out_b}: {noise.describe()}, seed {args.seed}, shape {a.shape}"
    )
    return 0
