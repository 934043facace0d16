"""Reading a Zoo package and choosing weights that can run here (see :func:`napari_n2n.bmz.load_bmz`)."""

from __future__ import annotations

import importlib.util
import zipfile
from pathlib import Path

from ..core.errors import ModelFileError
from ._common import (
    FROZEN_ARCHITECTURES,
    CodeConsentRequired,
    first_line,
    has_onnx_runtime,
    sha256_of,
)

#: the order in which weights are tried (a state dict of napari-n2n's own frozen network comes first,
#: then those that run no code from the package): ONNX runtime is the faster on the CPU (TorchScript
#: spends seconds re-optimising for every new block shape), TorchScript on GPUs
WEIGHTS_ORDER = {
    "cpu": ("onnx", "torchscript", "pytorch_state_dict"),
    "gpu": ("torchscript", "onnx", "pytorch_state_dict"),
}
OTHER_FORMATS = ("keras_hdf5", "keras_v3", "tensorflow_saved_model_bundle", "tensorflow_js")
FROZEN_CALLABLES = ("N2NUNet", "N2NUNetPerChannel")


def read_package(path: Path):
    """The package's model description (converted to the newest format); one-line errors otherwise."""
    from bioimageio.spec import InvalidDescr, load_description

    try:
        descr = load_description(path, format_version="latest", perform_io_checks=False)
    except Exception as exc:  # unreadable yaml, broken zip members, ...
        raise ModelFileError(
            f"{path.name} is not a readable BioImage Model Zoo package: {first_line(exc)}."
        ) from exc
    if isinstance(descr, InvalidDescr):
        errors = descr.validation_summary.errors
        why = (
            f"{'.'.join(map(str, errors[0].loc))}: {first_line(errors[0].msg)}"
            if errors
            else "invalid description"
        )
        raise ModelFileError(
            f"{path.name} is not a valid BioImage Model Zoo package ({why}). Ask its authors for a valid one."
        )
    if descr.type != "model":
        raise ModelFileError(
            f"{path.name} describes a BioImage Model Zoo {descr.type}, not a model."
        )
    return descr


def choose_weights(descr, path: Path, *, allow_code: bool = False, device_type: str = "cpu") -> str:
    """The first weights format that can run here; raise with every reason when none can."""
    sd = descr.weights.pytorch_state_dict
    if (
        sd is not None
        and is_frozen_architecture(sd.architecture, path)
        and (allow_code or remote_source(sd) is None)
    ):
        return "pytorch_state_dict"
    reasons = []
    needs_consent = False
    for fmt in WEIGHTS_ORDER["cpu" if device_type == "cpu" else "gpu"]:
        entry = getattr(descr.weights, fmt, None)
        if entry is None:
            continue
        why, consent = _why_not(fmt, entry, allow_code=allow_code)
        if why is None:
            return fmt
        reasons.append(why)
        needs_consent = needs_consent or consent
    others = [f for f in OTHER_FORMATS if getattr(descr.weights, f, None) is not None]
    if others:
        reasons.append(
            f"{' and '.join(others)} weights need TensorFlow/Keras, which napari-n2n does not run"
        )
    if needs_consent:
        raise CodeConsentRequired(
            f"{path.name} needs your permission to run: {'; '.join(reasons)}. Allow it (--allow-code, "
            "or confirm in napari) only if you trust where the package comes from."
        )
    raise ModelFileError(
        f"{path.name} has no weights that can run here: {'; '.join(reasons) or 'none listed'}."
    )


def _why_not(fmt: str, entry, *, allow_code: bool) -> tuple[str | None, bool]:
    """``(why the weights entry cannot run here, whether the user's consent would let it)``;
    ``(None, False)`` when it can run."""
    from bioimageio.spec.model import v0_5

    url = remote_source(entry)
    if url is not None and not allow_code:
        return (
            f"its {fmt} weights are not in the package but fetched from {url} (that server learns "
            "your address and what you run)",
            True,
        )
    if fmt == "onnx" and not has_onnx_runtime():
        return "its ONNX weights need onnxruntime (pip install 'napari-n2n[onnx]')", False
    if fmt != "pytorch_state_dict":
        return None, False
    arch = entry.architecture
    if isinstance(arch, v0_5.ArchitectureFromLibraryDescr):
        top = arch.import_from.split(".")[0]
        if importlib.util.find_spec(top) is None:
            return (
                f"its PyTorch weights need the Python package '{top}' (for {arch.import_from}.{arch.callable}), "
                f"which is not installed here: install it, or ask the authors for TorchScript or ONNX weights",
                False,
            )
        if not allow_code:
            return (
                f"its PyTorch weights call {arch.import_from}.{arch.callable} with arguments from the package",
                True,
            )
        return None, False
    if not allow_code:
        return f"its PyTorch weights run the Python file {arch.source} shipped in the package", True
    return None, False


def remote_source(entry) -> str | None:
    """The http(s) address ``entry``'s file is fetched from, ``None`` for a file in the package."""
    source = str(getattr(entry, "source", "") or "")
    return source if source.lower().startswith(("http://", "https://")) else None


def is_frozen_architecture(arch, path: Path) -> bool:
    """Whether a package's architecture file is byte-identical to one napari-n2n ships (so runs our code)."""
    source = getattr(arch, "source", None)  # an architecture from a library has none
    if source is None or getattr(arch, "callable", None) not in FROZEN_CALLABLES:
        return False
    try:
        with zipfile.ZipFile(path) as zf:
            data = zf.read(str(source))
    except (KeyError, OSError, zipfile.BadZipFile):
        return False
    return sha256_of(data) in FROZEN_ARCHITECTURES.values()


def missing_module(exc: BaseException | None) -> str | None:
    """The top-level name of a module that could not be imported, anywhere in ``exc``'s chain."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, ModuleNotFoundError) and exc.name:
            return exc.name.split(".")[0]
        exc = exc.__cause__ or exc.__context__
    return None


def fixed_halo(size: int) -> int:
    """The halo napari-n2n gives a fixed-size axis whose package declares none: a quarter of the block.

    A multiple of 16 from blocks of 64 (the blocks then start at multiples of 16, where a U-Net
    of depth up to 4 gives the same output as on the whole image), else of 4.
    """
    quarter = size // 4
    return quarter - quarter % (16 if size >= 64 else 4)


def tileable(descr):
    """A copy of ``descr`` that bioimageio.core can predict block by block, and the halos it added.

    Packages whose output space axes have a fixed size (CAREamics writes every space axis fixed
    to its test tensor's size) give bioimageio.core's blocking a fixed-size result, whatever the
    image. A fixed output size equal to the input's becomes a size tied to the input axis, and
    an axis whose package declares no halo gets :func:`fixed_halo` of its fixed input size: the
    blocks then overlap, and the border of each block, where its padding shows, is discarded.

    Parameters
    ----------
    descr : ModelDescr
        A model with one input and one output (as :class:`BmzModel` checks).

    Returns
    -------
    tuple
        ``(descr, added)``: the description to run (``descr`` itself when nothing changed) and
        the halo added per output axis id (empty when none).

    Raises
    ------
    ModelFileError
        If a fixed output size differs from the input's (not an image-to-image model).
    """
    from bioimageio.spec.model import v0_5

    inp = descr.inputs[0]
    out = descr.outputs[0]
    in_axes = {str(a.id): a for a in inp.axes if a.type == "space"}
    axes = []
    added = {}
    changed = False
    for a in out.axes:
        ref = in_axes.get(str(a.id))
        if a.type != "space" or ref is None or not isinstance(a.size, int):
            axes.append(a)
            continue
        if not isinstance(ref.size, int) or ref.size != a.size:
            raise ModelFileError(
                f"{descr.name}: its output axis {a.id} has a fixed size {a.size} that is not its input's; "
                "napari-n2n runs models that map an image to an image of the same size."
            )
        halo = int(getattr(a, "halo", 0) or 0) or fixed_halo(ref.size)
        if not getattr(a, "halo", 0):
            added[str(a.id)] = halo
        size = v0_5.SizeReference(tensor_id=inp.id, axis_id=ref.id)
        axes.append(
            v0_5.SpaceOutputAxisWithHalo(id=a.id, size=size, halo=halo, scale=a.scale, unit=a.unit)
        )
        changed = True
    if not changed:
        return descr, {}
    outputs = [out.model_copy(update={"axes": axes})]
    return descr.model_copy(update={"outputs": outputs}), added
