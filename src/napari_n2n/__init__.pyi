"""The public names of :mod:`napari_n2n` and their real homes, for IDEs and type checkers.

At run time ``__init__.py`` imports each one lazily, on first use;
``tests/core/test_package_face.py`` checks that both files list the same names.
"""

from typing_extensions import deprecated

from ._version import __version__ as __version__
from .core.config import TrainConfig as TrainConfig
from .core.data.noise import Bernoulli as Bernoulli
from .core.data.noise import Gaussian as Gaussian
from .core.data.noise import Impulse as Impulse
from .core.data.noise import NoiseModel as NoiseModel
from .core.data.noise import Poisson as Poisson
from .core.data.noise import PoissonGaussian as PoissonGaussian
from .core.data.noise import estimate_noise_sigma as estimate_noise_sigma
from .core.data.noise import make_noise as make_noise
from .core.data.noise import synthesize_pair as synthesize_pair
from .core.data.paircheck import check_pair as check_pair
from .core.data.pairs import Pair as Pair
from .core.data.pairs import single_image as single_image
from .core.data.pairs import stack_neighbours as stack_neighbours
from .core.data.pairs import two_images as two_images
from .core.data.photon import estimate_photon_scale as estimate_photon_scale
from .core.data.photon import photon_split as photon_split
from .core.device import select_device as select_device
from .core.errors import DenoisingError as DenoisingError
from .core.errors import DeviceError as DeviceError
from .core.errors import InputError as InputError
from .core.errors import ModelFileError as ModelFileError
from .core.errors import N2NError as N2NError
from .core.errors import TrainingError as TrainingError
from .core.inference.denoiser import Denoiser as Denoiser
from .core.inference.estimate import estimate_psnr as estimate_psnr
from .core.inference.tta import denoise_pair as denoise_pair
from .core.inference.tta import predict_tta as predict_tta
from .core.metrics import psnr as psnr
from .core.metrics import ssim as ssim
from .core.training.presets import PRESETS as PRESETS
from .core.training.presets import preset as preset
from .core.training.resume import Checkpointing as Checkpointing
from .core.training.train import Trainer as Trainer
from .core.training.train import train as train
from .loading import load_model as load_model

__all__ = [
    "__version__",
    "NoiseModel",
    "Gaussian",
    "Poisson",
    "PoissonGaussian",
    "Impulse",
    "Bernoulli",
    "make_noise",
    "synthesize_pair",
    "estimate_noise_sigma",
    "Pair",
    "two_images",
    "stack_neighbours",
    "single_image",
    "check_pair",
    "photon_split",
    "estimate_photon_scale",
    "TrainConfig",
    "Trainer",
    "train",
    "Checkpointing",
    "Denoiser",
    "select_device",
    "psnr",
    "ssim",
    "estimate_psnr",
    "predict_tta",
    "denoise_pair",
    "N2NError",
    "InputError",
    "ModelFileError",
    "TrainingError",
    "DenoisingError",
    "DeviceError",
    "preset",
    "PRESETS",
    "load_model",
]

# deprecated (not in __all__): warns at run time, see _DEPRECATED in __init__.py
@deprecated("napari_n2n.synthetic_pair is deprecated; use napari_n2n.Pair.synthetic instead.")
def synthetic_pair(
    clean: object, noise: NoiseModel, *, axes: str | None = None, seed: int | None = 0
) -> Pair: ...
