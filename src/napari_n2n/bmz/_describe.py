"""The parts of a model description: name, tensors with their axes and processing, citations, README.

These builders import ``bioimageio.spec`` lazily and hold the format rules of an exported
package in one place (see :func:`napari_n2n.bmz.export_bmz`).
"""

from __future__ import annotations

import re
import string

import numpy as np

from .._version import __version__
from ..core.errors import InputError
from ..core.inference.tiling import BORDER_MODE, border_width

NAME_CHARACTERS = set(string.ascii_letters + string.digits + "_+- ()")
NAME_MIN = 5
NAME_MAX = 128

CITATIONS = {
    "n2n": (
        "Lehtinen et al. (2018): Noise2Noise: Learning Image Restoration without Clean Data. ICML 2018.",
        "10.48550/arXiv.1803.04189",
    ),
    "nb2nb": (
        "Huang et al. (2021): Neighbor2Neighbor: Self-Supervised Denoising from Single Noisy Images. CVPR 2021.",
        "10.1109/CVPR46437.2021.01454",
    ),
}
METHOD_TAGS = {
    "n2n": ["noise2noise"],
    "n2c": ["noise2clean"],
    "nb2nb": ["neighbor2neighbor", "self-supervised"],
}


def sanitize_name(name: str) -> str:
    """A model name the spec accepts: letters, digits, ``_+- ()`` and spaces, 5–128 characters.

    Other characters become spaces (the ``·`` of napari-n2n's layer names a dash); a name left
    too short is completed with " denoiser".

    Parameters
    ----------
    name : str
        Any name, e.g. a layer's.

    Returns
    -------
    str

    Examples
    --------
    >>> sanitize_name("A · denoised (n2n)")
    'A - denoised (n2n)'
    """
    text = "".join(c if c in NAME_CHARACTERS else ("-" if c == "·" else " ") for c in str(name))
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"(- )+-", "-", text)
    if len(text) < NAME_MIN:
        text = (text + " denoiser").strip()
    return text[:NAME_MAX].rstrip()


def space_sizes(depth: int, ndim: int) -> tuple[int, int, int]:
    """``(min, step, halo)`` of the space axes: multiples of ``2**depth``, larger than twice the halo."""
    step = 2**depth
    # the border napari-n2n's own prediction reflects (one home: core.inference.predict); twice
    # it is a multiple of the step, so padded blocks stay valid
    halo = border_width(ndim, depth)
    smallest = max(2 * step, 2 * halo + 1)
    return -(-smallest // step) * step, step, halo


def valid_size(size: int, min_size: int, step: int) -> int:
    """The largest size ``min + n * step`` not above ``size`` (at least ``min``)."""
    return min_size + max(0, (size - min_size) // step) * step


def tensors(
    *, n_channels: int, ndim: int, depth: int, offset, scale, files: dict, output_max: float
):
    """``(inputs, outputs, config)``: tensors with the normalisation as pre- and postprocessing.

    ``files`` maps ``test_input``, ``test_output`` (``.npy``) and ``sample_input``,
    ``sample_output`` (``.tif``) to their paths.
    """
    from bioimageio.spec.model import v0_5 as s

    if min(scale) < 1e-6:
        raise InputError(
            f"The model's normalisation scale {min(scale):g} is below 1e-6, which the BioImage Model Zoo "
            "format cannot store. Rescale the images (e.g. to 0-1 or 0-65535) and retrain."
        )
    min_size, step, halo = space_sizes(depth, ndim)
    names = [s.Identifier(f"channel{c}") for c in range(n_channels)]
    space = ["z", "y", "x"][-ndim:]
    in_id = s.TensorId("input")
    out_id = s.TensorId("output")
    in_axes = [s.BatchAxis(), s.ChannelAxis(channel_names=names)] + [
        s.SpaceInputAxis(id=s.AxisId(a), size=s.ParameterizedSize(min=min_size, step=step))
        for a in space
    ]
    out_axes = [s.BatchAxis(), s.ChannelAxis(channel_names=names)] + [
        s.SpaceOutputAxisWithHalo(
            id=s.AxisId(a), size=s.SizeReference(tensor_id=in_id, axis_id=s.AxisId(a)), halo=halo
        )
        for a in space
    ]
    channel = s.AxisId("channel")
    pre = [
        s.EnsureDtypeDescr(kwargs=s.EnsureDtypeKwargs(dtype="float32")),
        s.FixedZeroMeanUnitVarianceDescr(
            kwargs=s.FixedZeroMeanUnitVarianceAlongAxisKwargs(
                mean=[float(v) for v in offset], std=[float(v) for v in scale], axis=channel
            )
        ),
    ]
    post = []
    if any(g != 1.0 for g in scale) or any(o != 0.0 for o in offset):
        post.append(
            s.ScaleLinearDescr(
                kwargs=s.ScaleLinearAlongAxisKwargs(
                    gain=[float(v) for v in scale], offset=[float(v) for v in offset], axis=channel
                )
            )
        )
    post.append(s.EnsureDtypeDescr(kwargs=s.EnsureDtypeKwargs(dtype="float32")))
    inp = s.InputTensorDescr(
        id=in_id,
        axes=in_axes,
        test_tensor=s.FileDescr(source=files["test_input"]),
        preprocessing=pre,
        sample_tensor=s.FileDescr(source=files["sample_input"]),
        # image borders extended by reflection with the output halo, as napari-n2n's own prediction
        # extends them (core.inference.tiling.BORDER_MODE): the two agree at the border too. The mode
        # is given explicitly: bioimageio.spec 0.5.12 writes fields left at their default as `pad: {}`,
        # which reads back as zero padding
        pad=s.ReflectPadding(mode=BORDER_MODE),
        description="noisy image, in its own intensity units (normalised by the preprocessing)",
    )
    out = s.OutputTensorDescr(
        id=out_id,
        axes=out_axes,
        test_tensor=s.FileDescr(source=files["test_output"]),
        postprocessing=post,
        sample_tensor=s.FileDescr(source=files["sample_output"]),
        description="denoised image, in the input's intensity units",
    )
    return [inp], [out], reproducibility(output_max)


def reproducibility(output_max: float):
    """Tolerances of the test: relative 1e-3, absolute 1e-3 of the output's largest magnitude."""
    from bioimageio.spec.model import v0_5 as s

    atol = max(1e-3 * float(output_max), 1e-9)
    return s.Config(
        bioimageio=s.BioimageioConfig(
            reproducibility_tolerance=[
                s.ReproducibilityTolerance(relative_tolerance=1e-3, absolute_tolerance=atol)
            ]
        )
    )


def citations(mode: str | None):
    from bioimageio.spec.model import v0_5 as s

    keys = ["n2n"] + (["nb2nb"] if mode == "nb2nb" else [])
    return [s.CiteEntry(text=CITATIONS[k][0], doi=s.Doi(CITATIONS[k][1])) for k in keys]


def tags(ndim: int, mode: str | None, extra=()) -> list[str]:
    base = [f"{ndim}d", "pytorch", "unet", "denoising", "image-restoration", "napari-n2n", "napari"]
    return list(dict.fromkeys(base + METHOD_TAGS.get(mode or "", []) + [str(t) for t in extra]))


def authors(entries):
    """``Author`` descriptions from names (``"Name"``) or dicts (``name``, ``affiliation``, ``orcid``, ...)."""
    from bioimageio.spec.model import v0_5 as s

    out = []
    for e in entries or ():
        d = {"name": e} if isinstance(e, str) else dict(e)
        if not str(d.get("name", "")).strip() or "/" in str(d.get("name")):
            raise InputError(f"An author needs a name without '/'; got {e!r}.")
        out.append(s.Author(**d))
    return out


#: what a package is tested with, as its README says to install it: bioimageio.core 0.11 pins
#: bioimageio.spec 0.5.12, which fails to validate under pydantic 2.14 (the version pip picks without
#: a bound); 2.10.3 is the spec's own lower bound (pyproject's ``bmz`` extra has the same upper bound)
TEST_REQUIREMENTS = ("bioimageio.core==0.11.*", "pydantic>=2.10.3,<2.14")

#: a GitHub user name: letters, digits and single hyphens inside, at most 39 characters
GITHUB_USER = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")


def maintainers(github_user: str | None, author_names=()):
    """The package's maintainer: the GitHub user who answers for it on the Zoo (``[]`` without one).

    The name is checked for GitHub's format here, not looked up on GitHub: export works offline,
    and the Zoo's upload checks the user. bioimageio.spec looks every ``github_user`` up on
    GitHub when it validates; the name is recorded as known so that export's own validation
    does not (offline that lookup fails, online it costs a request per validation).
    """
    from bioimageio.spec.model import v0_5 as s

    if not github_user:
        return []
    if not GITHUB_USER.match(github_user):
        raise InputError(
            f"{github_user!r} is not a GitHub user name (letters, digits and single hyphens, at most 39 "
            "characters). Give the name of your GitHub account, e.g. --github-user jdoe."
        )
    _record_known_github_user(github_user)
    names = [n for n in author_names if n]
    return [s.Maintainer(github_user=github_user, name=names[0] if names else None)]


def _record_known_github_user(name: str) -> None:
    try:
        from bioimageio.spec._internal.field_validation import KNOWN_GITHUB_USERS
    except ImportError:  # pragma: no cover - another bioimageio.spec: it looks the user up
        return
    KNOWN_GITHUB_USERS.add(name.lower())


def readme(
    *,
    name: str,
    description: str,
    denoiser,
    weights: list[str],
    halo: int,
    min_size: int,
    step: int,
) -> str:
    """The package's README, with the ``# Validation`` section the Zoo asks for."""
    cfg = denoiser.config
    hist = denoiser.history or {}
    mode = cfg.mode if cfg else "unknown"
    lines = [
        f"# {name}",
        "",
        description,
        "",
        "## Model",
        "",
        f"- {denoiser.summary()}.",
        f"- Network: the U-Net of Noise2Noise (Lehtinen et al., 2018), depth {denoiser.unet.depth}, "
        f"{denoiser.unet.base_channels} base channels, {denoiser.unet.padding} padding; "
        + (
            "one network per channel."
            if len(denoiser.models) > 1
            else "one network for all channels."
        ),
        f"- Training mode: {mode}"
        + (
            f", loss {cfg.loss}, {hist.get('steps_done', '?')} steps, "
            f"patch {cfg.patch_size}, batch {cfg.batch_size}"
            if cfg
            else ""
        )
        + ".",
        f"- Weights: {', '.join(weights)}. The architecture file (`n2n_unet_v1.py`) needs only PyTorch.",
        "- Input: the noisy image in its own intensity units; the preprocessing standardises each channel "
        "with the median and robust spread of the training data, the postprocessing restores the units.",
        f"- Tile sizes: {min_size} + n x {step} voxels per space axis; {halo} voxels of each tile's border "
        "are discarded (halo).",
        "",
        "## Validation",
        "",
    ]
    val = hist.get("best_val_loss")
    if val is not None:
        lines.append(
            f"During training a held-out band of {100 * cfg.val_fraction:.0f}% of the image width was used for "
            f"validation; the kept weights (step {hist.get('best_step', '?')}) had a validation loss of {val:.4g} "
            "(normalised units)."
        )
        psnrs = [p for p in hist.get("val_psnr", []) if p is not None]
        if psnrs:
            lines.append(
                f" Against the clean reference given at training, the validation PSNR reached "
                f"{max(psnrs):.2f} dB."
            )
    else:
        lines.append("No validation data were held out during training.")
    lines += [
        "",
        "To validate on your own data without clean images, take two noisy acquisitions A and B of the "
        "same field: the denoised A should be closer to B than A is (lower mean squared error), by about "
        "the variance of the noise. With a clean reference, compare PSNR or SSIM before and after denoising.",
        "",
        "The package's test input and output reproduce to a relative tolerance of 1e-3.",
        "",
        *test_instructions(),
        "## Made with",
        "",
        f"napari-n2n {__version__} (BSD-3-Clause).",
        "",
    ]
    return "\n".join(lines)


def test_instructions() -> list[str]:
    """The README's lines saying which bioimageio.core and pydantic test the package."""
    from bioimageio.core import __version__ as core_version
    from bioimageio.spec import __version__ as spec_version

    core, pydantic = TEST_REQUIREMENTS
    return [
        "## Testing this package",
        "",
        f"It was made and tested with bioimageio.core {core_version} (bioimageio.spec {spec_version}). "
        "To test it, install these (PyTorch too, for its weights) and run the Zoo's test:",
        "",
        "```",
        f'pip install "{core}" "{pydantic}" torch',
        "bioimageio test PACKAGE.bioimageio.zip",
        "```",
        "",
        "The pydantic bound matters: without it pip installs pydantic 2.14 with bioimageio.core 0.11, "
        "and the package then fails validation (bioimageio.spec 0.5.12 does not work with pydantic 2.14).",
        "",
    ]


def synthetic_test_image(shape: tuple[int, ...], offset, scale, *, seed: int = 0) -> np.ndarray:
    """A smooth pattern plus noise, ``(C, *spatial)``, with each channel's median and spread."""
    rng = np.random.default_rng(seed)
    grids = np.meshgrid(*[np.linspace(0, 1, s, dtype=np.float32) for s in shape], indexing="ij")
    out = []
    for off, sc in zip(offset, scale):
        phase = rng.uniform(0, 2 * np.pi, size=len(shape))
        pattern = sum(
            np.sin(2 * np.pi * (2 + i) * g + p) for i, (g, p) in enumerate(zip(grids, phase))
        )
        pattern = pattern / max(float(np.abs(pattern).max()), 1e-6)
        out.append(off + sc * (1.5 * pattern + 0.5 * rng.standard_normal(shape)))
    return np.stack(out).astype(np.float32)
