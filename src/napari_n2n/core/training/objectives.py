"""One training objective per mode, all with the same call signature.

An objective turns a batch into a loss, so the training loop never branches on the mode:

``loss(model, x, y, *, progress, generator)``
    the training loss of a batch (``y`` is ``None`` for single-image training);
``validation(model, x, y)``
    ``(loss, prediction)`` on a held-out batch, with the prediction of ``x`` for PSNR.

:class:`PixelObjective` is Noise2Noise and Noise2Clean (a pixel loss between the prediction of
the input and the target, see :mod:`napari_n2n.core.training.losses`); :class:`Neighbor2NeighborObjective`
trains on single images by neighbour sub-sampling (Huang et al., CVPR 2021).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch

from ..config import TrainConfig
from .losses import neighbor2neighbor_loss, pixel_loss


class Objective(Protocol):
    """What the training loop needs from a mode."""

    def loss(
        self,
        model,
        x: torch.Tensor,
        y: torch.Tensor | None,
        *,
        progress: float,
        generator: torch.Generator | None,
    ) -> torch.Tensor:
        """The training loss of a batch.

        Parameters
        ----------
        model : torch.nn.Module
            The network being trained.
        x : torch.Tensor
            The input patches.
        y : torch.Tensor or None
            The target patches; ``None`` for single-image training.
        progress : float
            The share of the run done (annealed losses change shape with it).
        generator : torch.Generator or None
            For the objective's own random choices (sub-sampling masks).

        Returns
        -------
        torch.Tensor
            The scalar loss.
        """
        ...

    def validation(
        self, model, x: torch.Tensor, y: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The loss on a held-out batch, and the prediction of ``x`` for PSNR.

        Parameters
        ----------
        model : torch.nn.Module
            The network, in eval mode.
        x : torch.Tensor
            The input patches.
        y : torch.Tensor or None
            The target patches; ``None`` for single-image training.

        Returns
        -------
        tuple of torch.Tensor
            ``(loss, prediction)``.
        """
        ...


@dataclass(frozen=True)
class PixelObjective:
    """``loss(f(x), y)`` for Noise2Noise (``y`` another noisy copy) and Noise2Clean (``y`` clean).

    Validation scores with the same loss, except annealed L0, whose loss changes shape over
    training and is scored with L1 (its limit's closest stable relative). ``masked``: NaN target
    pixels are left out (registered neighbour pairs).
    """

    loss_name: str = "l2"
    masked: bool = False

    def loss(self, model, x, y, *, progress, generator=None):
        """The pixel loss between ``f(x)`` and ``y`` (see :meth:`Objective.loss`)."""
        return pixel_loss(
            model(x).float(), y, self.loss_name, progress=progress, masked=self.masked
        )

    def validation(self, model, x, y):
        """``(loss, f(x))``, L0 scored with L1 (see :meth:`Objective.validation`)."""
        pred = model(x)
        name = "l1" if self.loss_name == "l0" else self.loss_name
        return pixel_loss(pred.float(), y, name, masked=self.masked), pred


@dataclass(frozen=True)
class Neighbor2NeighborObjective:
    """The regularised Neighbor2Neighbor loss on single noisy images (``y`` is ignored).

    Validation scores the reconstruction term only (``gamma = 0``) with sub-sampling masks from
    a generator seeded with ``validation_seed`` on every call, so every validation of a run sees
    the same masks and the scores compare.
    """

    gamma: float = 2.0
    validation_seed: int = 0

    def loss(self, model, x, y, *, progress, generator=None):
        """The regularised loss, masks from ``generator`` (see :meth:`Objective.loss`)."""
        return neighbor2neighbor_loss(model, x, gamma=self.gamma, generator=generator)

    def validation(self, model, x, y):
        """``(reconstruction loss, f(x))`` with the same masks each call."""
        generator = torch.Generator().manual_seed(self.validation_seed)
        loss = neighbor2neighbor_loss(model, x, gamma=0.0, generator=generator)
        return loss, model(x)


def objective_for(config: TrainConfig, *, validation_seed: int = 0) -> Objective:
    """The objective of a run's mode.

    Parameters
    ----------
    config : TrainConfig
        Its ``mode``, ``loss``, ``nb2nb_gamma`` and ``register`` are used.
    validation_seed : int, optional
        Seeds Neighbor2Neighbor's validation masks.

    Returns
    -------
    Objective
        A :class:`Neighbor2NeighborObjective` for ``"nb2nb"``, else a :class:`PixelObjective`.
    """
    if config.mode == "nb2nb":
        return Neighbor2NeighborObjective(gamma=config.nb2nb_gamma, validation_seed=validation_seed)
    return PixelObjective(config.loss, masked=config.register != "none")
