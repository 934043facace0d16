"""Share denoisers through the BioImage Model Zoo (BMZ): export to and run ``.bioimageio.zip`` packages.

Export writes a package that ``bioimageio.core`` validates and runs anywhere the Zoo's
consumers do (Fiji/deepImageJ and QuPath through TorchScript, ONNX runtimes, Python tools
through the PyTorch state dict): the U-Net as a frozen architecture file, the normalisation as
the spec's pre- and postprocessing, test tensors, citations, the training configuration and
a README. Import runs packages made elsewhere, tiled, with their own pre- and postprocessing.

Needs the optional extra ``napari-n2n[bmz]`` (``bioimageio.core``); ONNX needs
``napari-n2n[onnx]``. Nothing here is imported by ``import napari_n2n``.

Examples
--------
>>> from napari_n2n import Denoiser
>>> from napari_n2n.bmz import export_bmz, load_bmz
>>> den = Denoiser.load("model.n2n")                                     # doctest: +SKIP
>>> export_bmz(den, "my-denoiser.bioimageio.zip", name="My denoiser",
...            authors=["A. Person"], torchscript=True)                  # doctest: +SKIP
>>> model = load_bmz("some-model.bioimageio.zip")                        # doctest: +SKIP
>>> result = model.predict(noisy, axes="YX")                             # doctest: +SKIP
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "export_bmz": "export",
    "sanitize_name": "_describe",
    "load_bmz": "load",
    "BmzModel": "load",
    "denoiser_from_bmz": "finetune",
    "CodeConsentRequired": "_common",
    "is_bmz_path": "_common",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'napari_n2n.bmz' has no attribute {name!r}")
