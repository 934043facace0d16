"""The napari-n2n library: numpy + torch only (no Qt, no napari).

The foundation modules sit here (``errors``, ``axes``, ``checks``, ``config``, ``device``,
``events``, ``progress``, ``files``, ``checkpoint``, ``model``, ``metrics``); above them, each
layer imports only the ones below it (checked by import-linter, see ``pyproject.toml``):

- :mod:`~napari_n2n.core.data`: normalisation, noise models, pairs, example data, pair checks;
- :mod:`~napari_n2n.core.inference`: the trained model and everything that predicts with it;
- :mod:`~napari_n2n.core.training`: the trainer and its parts.
"""
