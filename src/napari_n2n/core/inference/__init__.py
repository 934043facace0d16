"""Inference: prediction with a trained model, and how far to trust it.

The trained model (``denoiser``), tiled prediction with its options and their
defaults (``predict``), test-time augmentation and uncertainty maps (``tta``), out-of-core
units and their ledger (``chunked``), the out-of-distribution warning (``ood``) and the PSNR
estimated without a clean image (``estimate``). Imports the foundation and
:mod:`~napari_n2n.core.data`, never training.
"""
