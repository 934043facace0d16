"""napari-n2n: learn a denoiser from pairs of noisy images (Noise2Noise), in napari or in Python.

The public API (imported lazily, so ``import napari_n2n`` is cheap and never imports Qt or
napari)::

    from napari_n2n import Gaussian, synthesize_pair, TrainConfig, train, Denoiser, psnr
    a, b = synthesize_pair(clean, Gaussian(sigma=25), seed=0)
    denoiser = train(a, b, config=TrainConfig(steps=1000))
    result = denoiser.predict(a)
    denoiser.save("model.n2n"); Denoiser.load("model.n2n")

``__init__.pyi`` lists the same names with their real homes, for IDEs and type checkers.
"""

from __future__ import annotations

import importlib
import warnings

from ._version import __version__

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
    # opening a model file of either kind
    "load_model": "loading",
}

#: old names that still work but warn: name -> (module, what to use instead)
_DEPRECATED = {
    "synthetic_pair": ("core.data.pairs", "napari_n2n.Pair.synthetic"),
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        module = importlib.import_module(f".{_EXPORTS[name]}", __name__)
        return getattr(module, name)
    if name in _DEPRECATED:
        module_name, use = _DEPRECATED[name]
        warnings.warn(
            f"napari_n2n.{name} is deprecated and will be removed; use {use} instead.",
            DeprecationWarning,
            stacklevel=2,
        )
        module = importlib.import_module(f".{module_name}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module 'napari_n2n' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
