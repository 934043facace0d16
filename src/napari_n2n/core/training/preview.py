"""Live previews during training: the request a viewer makes, and the prediction that answers it.

The request lives in a :class:`PreviewSlot`, a one-item mailbox between threads: the viewer's
thread puts the region it shows (replacing any older request), the training thread reads the
latest one between steps. Nothing queues up, so a viewer that pans quickly costs one preview
per interval, never a backlog.
"""

from __future__ import annotations

import threading

import numpy as np

from ..data.normalization import Normalization


class PreviewSlot:
    """The latest preview request: a region of the input and how often to answer it (thread-safe)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._region: np.ndarray | None = None
        self.every_s = 2.0

    def put(self, region, *, every_s: float = 2.0) -> None:
        """Ask for previews of a region.

        Parameters
        ----------
        region : array-like or None
            The region; ``None`` turns previews off.
        every_s : float, optional
            The least time between two previews, in seconds.
        """
        with self._lock:
            self._region = None if region is None else np.asarray(region, dtype=np.float32)
            self.every_s = float(every_s)

    def get(self) -> np.ndarray | None:
        """The region asked for last.

        Returns
        -------
        numpy.ndarray or None
            The region (float32), or ``None`` when previews are off.
        """
        with self._lock:
            return self._region


def predict_region(
    model,
    region: np.ndarray,
    *,
    norm: Normalization,
    channels: list[int],
    has_channel_axis: bool,
    spatial_ndim: int,
    device,
) -> np.ndarray | None:
    """A model's prediction of a region, in image units.

    Parameters
    ----------
    model : torch.nn.Module
        The network, as trained so far.
    region : numpy.ndarray
        The region, with the input's axes minus the sample axes.
    norm : Normalization
        The run's normalisation.
    channels : list of int
        The channels the model takes.
    has_channel_axis : bool
        Whether the region has a channel axis (first).
    spatial_ndim : int
        2 or 3.
    device : torch.device
        Where the model is.

    Returns
    -------
    numpy.ndarray or None
        The prediction; ``None`` when the region does not have the dimensions the model needs
        (the viewer asked for a region of another layer shape; the next request will fit).
    """
    import torch

    arr = region if has_channel_axis else region[None]
    if arr.ndim != spatial_ndim + 1:
        return None
    arr = arr[channels] if has_channel_axis else arr
    x = torch.from_numpy(
        np.ascontiguousarray(norm.apply(arr, channels)[None], dtype=np.float32)
    ).to(device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            y = norm.undo(model(x)[0].float().cpu().numpy(), channels)
    finally:
        model.train(was_training)
    return y if has_channel_axis else y[0]
