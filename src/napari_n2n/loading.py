"""Open a model file, whatever its kind: :func:`load_model`."""

from __future__ import annotations

import os

__all__ = ["load_model"]


def load_model(path: str | os.PathLike, *, allow_code: bool = False, device: str | None = None):
    """Load a ``.n2n`` file as a :class:`Denoiser`, a BioImage Model Zoo package as a ``BmzModel``.

    Both have the same ``predict`` / ``predict_iter`` / ``predict_pair`` interface. Loading never
    unpickles.

    Parameters
    ----------
    path : str or os.PathLike
        A ``.n2n`` file, or a Zoo package (a zip file such as ``model.bioimageio.zip``; it
        needs the extra ``napari-n2n[bmz]``).
    allow_code : bool
        Let a Zoo package whose only runnable weights execute Python code from the package (or
        from a library it names) run that code; without it such a package raises
        :class:`~napari_n2n.bmz.CodeConsentRequired`.
    device : str, optional
        The device a Zoo package runs on (``"cpu"``, ``"cuda"``, …; default: chosen for you). A
        ``Denoiser`` takes its device per prediction instead.

    Returns
    -------
    Denoiser or BmzModel
        The model, ready to predict.

    See Also
    --------
    napari_n2n.Denoiser.load : load a ``.n2n`` file only.
    napari_n2n.bmz.load_bmz : load a Zoo package only.
    """
    from .bmz._common import is_bmz_path

    if is_bmz_path(path):
        from .bmz.load import load_bmz

        return load_bmz(path, allow_code=allow_code, device=device)
    from .core.inference.denoiser import Denoiser

    return Denoiser.load(path)
