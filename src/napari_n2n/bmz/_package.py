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
    from bioimageio.spec.model import v0_5

    sd = descr.weights.pytorch_state_dict
    if sd is not None and is_frozen_architecture(sd.architecture, path):
        return "pytorch_state_dict"
    reasons, needs_consent = [], False
    for fmt in WEIGHTS_ORDER["cpu" if device_type == "cpu" else "gpu"]:
        entry = getattr(descr.weights, fmt, None)
        if entry is None:
            continue
        if fmt == "onnx" and not has_onnx_runtime():
            reasons.append("its ONNX weights need onnxruntime (pip install 'napari-n2n[onnx]')")
            continue
        if fmt == "pytorch_state_dict":
            arch = entry.architecture
            if isinstance(arch, v0_5.ArchitectureFromLibraryDescr):
                top = arch.import_from.split(".")[0]
                if importlib.util.find_spec(top) is None:
                    reasons.append(
                        f"its PyTorch weights need the Python package '{top}' (for {arch.import_from}.{arch.callable}), "
                        f"which is not installed here: install it, or ask the authors for TorchScript or ONNX weights"
                    )
                    continue
                if not allow_code:
                    needs_consent = True
                    reasons.append(
                        f"its PyTorch weights call {arch.import_from}.{arch.callable} with arguments from the package"
                    )
                    continue
            elif not allow_code:
                needs_consent = True
                reasons.append(
                    f"its PyTorch weights run the Python file {arch.source} shipped in the package"
                )
                continue
        return fmt
    others = [f for f in OTHER_FORMATS if getattr(descr.weights, f, None) is not None]
    if others:
        reasons.append(
            f"{' and '.join(others)} weights need TensorFlow/Keras, which napari-n2n does not run"
        )
    if needs_consent:
        raise CodeConsentRequired(
            f"{path.name} can only run by executing Python code: {'; '.join(reasons)}. Allow it (--allow-code, or "
            "confirm in napari) only if you trust where the package comes from."
        )
    raise ModelFileError(
        f"{path.name} has no weights that can run here: {'; '.join(reasons) or 'none listed'}."
    )


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
