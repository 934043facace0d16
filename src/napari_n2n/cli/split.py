"""``napari-n2n split``: a Noise2Noise pair from one photon-count image (binomial photon splitting).

The alternative to single-image Neighbor2Neighbor training (``train --mode nb2nb``) when the
image counts photons: each photon goes to A or B at random, so the two halves have
independent noise. Train on them like on any pair (``train --input A --target B``).
"""

from __future__ import annotations

from ._common import (
    add_command,
    add_pair_outputs,
    pair_destinations,
    positive_float,
    read_image,
    write_pair,
)


def register(sub) -> None:
    s = add_command(
        sub,
        "split",
        "split one photon-count image into a pair (alternative to --mode nb2nb)",
        description="Split a photon-count image into two images with independent noise (each "
        "photon goes to A or B at random), then train on them: "
        "napari-n2n train --input A.tif --target B.tif. Each half is at the input's "
        "brightness with the noise of half the light.",
    )
    s.add_argument(
        "image",
        help="the raw photon-count image (TIFF or .npy), not background-subtracted; it is only read",
    )
    s.add_argument(
        "--gain",
        type=positive_float,
        default=None,
        help="image units per photon (camera ADU per electron) (default: estimated from the image)",
    )
    s.add_argument(
        "--offset",
        type=float,
        default=None,
        help="the value of zero photons (camera baseline) (default: estimated from the image)",
    )
    s.add_argument(
        "--allow-rounding",
        action="store_true",
        help="round values that are not whole photon counts (only for read noise far below a photon)",
    )
    add_pair_outputs(s, "half")
    s.set_defaults(func=run)


def run(args) -> int:
    import numpy as np

    from ..core.checks import require_finite
    from ..core.data.photon import photon_scale_for, photon_split

    outputs = pair_destinations(args, "half", inputs=[args.image])
    image = read_image(args.image, "image")
    data = np.asarray(image.data)  # split whole
    # before the noise is estimated from it: a NaN is what is wrong, not the noise
    require_finite(data, f"image {args.image}")
    gain, offset, how = photon_scale_for(
        data, gain=args.gain, offset=args.offset, allow_rounding=args.allow_rounding
    )
    pair = photon_split(
        data, gain=gain, offset=offset, seed=args.seed, allow_rounding=args.allow_rounding
    )
    write_pair(outputs, pair, like=image)
    print(
        f"wrote {args.out_a} and {args.out_b}: photon split with gain {gain:g}, offset {offset:g} ({how}); "
        f"train with: napari-n2n train --input {args.out_a} --target {args.out_b} --model MODEL.n2n"
    )
    return 0
