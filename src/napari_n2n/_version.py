"""The package's version: the one home of ``napari_n2n.__version__``.

Read from the installed package's metadata (so ``pyproject.toml`` is its only source), or
``"0+unknown"`` when the package runs from a source tree that is not installed (for example
``PYTHONPATH=src``). Cheap to import: no torch, no napari.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__: str = version("napari-n2n")
except PackageNotFoundError:
    __version__ = "0+unknown"
