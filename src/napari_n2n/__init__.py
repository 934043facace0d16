"""napari-n2n: learn a denoiser from pairs of noisy images (Noise2Noise), in napari or in Python.

The public API (imported lazily, so ``import napari_n2n`` is cheap and never imports Qt or
napari)::

    from napari_n2n import Gaussian, synthesize_pair, TrainConfig, train, Denoiser, psnr
    a, b = synthesize_pair(clean, Gaussian(sigma=25), seed=0)
    denoiser = train(a, b, config=TrainConfig(steps=1000))
    result = denoiser.predict(a)
    denoiser.save("model.n2n"); Denoiser.load("model.n2n")
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version

try:  # the one source of the version: the package metadata (pyproject.toml)
    __version__ = version("napari-n2n")
except PackageNotFoundError:  # run from a source tree that is not installed (e.g. PYTHONPATH=src)
    __version__ = "0+unknown"

_EXPORTS = {
    # noise and pairs
    "NoiseModel": "core.data.noise",
    "Gaussian": "core.data.noise",
    "Poisson": "core.data.noise",
    "PoissonGaussian": "core.data.noise",
    "Impulse": "core.data.noise",
    "Bernoulli": "core.data.noise",
    "make_noise": "core.data.noise",
    "synthesize_pair": "core.data.noise",
    "estimate_noise_sigma": "core.data.noise",
    "Pair": "core.data.pairs",
    "synthetic_pair": "core.data.pairs",
    "two_images": "core.data.pairs",
    "stack_neighbours": "core.data.pairs",
    "single_image": "core.data.pairs",
    "check_pair": "core.data.paircheck",
    "photon_split": "core.data.photon",
    "estimate_photon_scale": "core.data.photon",
    # training and prediction
    "TrainConfig": "core.config",
    "Trainer": "core.training.train",
    "train": "core.training.train",
    "Checkpointing": "core.training.resume",
    "Denoiser": "core.inference.denoiser",
    "select_device": "core.device",
    "psnr": "core.metrics",
    "ssim": "core.metrics",
    "estimate_psnr": "core.inference.estimate",
    "predict_tta": "core.inference.tta",
    "denoise_pair": "core.inference.tta",
    "N2NError": "core.errors",
    "InputError": "core.errors",
    "ModelFileError": "core.errors",
    "TrainingError": "core.errors",
    "DenoisingError": "core.errors",
    "DeviceError": "core.errors",
    "preset": "core.training.presets",
    "PRESETS": "core.training.presets",
}

__all__ = ["__version__", "load_model", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        module = importlib.import_module(f".{_EXPORTS[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module 'napari_n2n' has no attribute {name!r}")


def load_model(path, *, allow_code: bool = False, device: str | None = None):
    """Load a model file: a ``.n2n`` file as a :class:`Denoiser`, a BioImage Model Zoo package as a ``BmzModel``.

    Both have the same ``predict`` / ``predict_iter`` / ``predict_pair`` interface. Loading never
    unpickles; a Zoo package whose only runnable weights would execute Python code from the
    package needs ``allow_code=True`` (see :func:`napari_n2n.bmz.load_bmz`, which needs the extra
    ``napari-n2n[bmz]``). ``device`` applies to Zoo packages; a ``Denoiser`` takes it per prediction.
    """
    from .bmz._common import is_bmz_path

    if is_bmz_path(path):
        from .bmz.load import load_bmz

        return load_bmz(path, allow_code=allow_code, device=device)
    from .core.inference.denoiser import Denoiser

    return Denoiser.load(path)
