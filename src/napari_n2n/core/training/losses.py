"""Training losses of the Noise2Noise paper, and the Neighbor2Neighbor loss.

Which loss for which noise
--------------------------
``l2`` (default)
    Mean-seeking. Correct for any zero-mean noise: Gaussian, Poisson, Poisson–Gaussian,
    unbiased Bernoulli drop-out. Converges to the clean image in expectation.
``l1``
    Median-seeking. For noise whose *median* is the clean value: salt-and-pepper with a
    fraction below one half, heavy-tailed noise, outliers in the targets.
``l0``
    Annealed L0, ``(|f(x) - y| + eps) ** gamma`` with ``gamma`` going linearly from 2 to 0
    over training: mode-seeking, for random-valued impulse noise where most of the pixels
    are right and the rest are arbitrary (the paper's "random impulse" experiment).
``hdr``
    Relative L2, ``(f(x) - y)**2 / (f(x) + 0.01)**2`` with the denominator held constant:
    for high-dynamic-range data such as Monte-Carlo renderings, where errors in dark
    regions matter as much as in bright ones.
"""

from __future__ import annotations

import torch

from ..config import LOSSES


def pixel_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    name: str,
    *,
    progress: float = 1.0,
    masked: bool = False,
) -> torch.Tensor:
    """A mean pixel loss between prediction and target.

    Parameters
    ----------
    pred, target : torch.Tensor
        The prediction and the target, same shape.
    name : {"l2", "l1", "l0", "hdr"}
        The loss.
    progress : float, optional
        0 → 1 over training: sets gamma of the annealed L0 loss.
    masked : bool, optional
        Leave NaN target pixels out of the mean (registered neighbour pairs mark the pixels
        the warp could not fill or trust so); a batch with none left has loss 0.

    Returns
    -------
    torch.Tensor
        The scalar loss.

    Raises
    ------
    ValueError
        If the loss is unknown.
    """
    valid = None
    if masked:
        valid = torch.isfinite(target)
        target = torch.where(valid, target, pred.detach())
    diff = pred - target
    if name == "l2":
        loss = diff.square()
    elif name == "l1":
        loss = diff.abs()
    elif name == "l0":
        gamma = max(2.0 * (1.0 - progress), 0.0)
        loss = (diff.abs() + 1e-8).pow(gamma)
    elif name == "hdr":
        loss = diff.square() / (pred.detach() + 0.01).square()
    else:
        raise ValueError(f"Unknown loss {name!r}; choose one of {', '.join(LOSSES)}.")
    if valid is None:
        return loss.mean()
    return (loss * valid).sum() / valid.sum().clamp(min=1)


def subsample_indices(
    y: torch.Tensor, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random cell indices (0..3) for the two sub-images of Neighbor2Neighbor (Huang et al., CVPR 2021).

    In every 2×2 cell of the last two axes, two *different* neighbours are picked at random
    (one choice per cell, shared across channels); apply them with :func:`apply_subsample`.

    Parameters
    ----------
    y : torch.Tensor
        The batch ``(B, C, ..., Y, X)``.
    generator : torch.Generator, optional
        For the random choices.

    Returns
    -------
    tuple of torch.Tensor
        Two index arrays, each shaped like one sub-image (half the size in Y and X).
    """
    h = y.shape[-2] // 2
    w = y.shape[-1] // 2
    shape = y.shape[:-2] + (h, w)
    # the 8 ordered pairs of 4-neighbours in a 2x2 cell: (0,1),(1,0),(0,2),(2,0),(1,3),(3,1),(2,3),(3,2)
    pairs = torch.tensor(
        [[0, 1], [1, 0], [0, 2], [2, 0], [1, 3], [3, 1], [2, 3], [3, 2]], device=y.device
    )
    # one choice per cell, shared across channels
    choice_shape = (y.shape[0],) + (1,) + tuple(y.shape[2:-2]) + (h, w)
    # drawn where the generator lives (the device itself, normally: no host round trip per step)
    gen_device = generator.device if generator is not None else y.device
    choice = torch.randint(0, 8, choice_shape, generator=generator, device=gen_device).to(y.device)
    sel = pairs[choice]  # (..., 2)
    idx1 = sel[..., 0].expand(shape)
    idx2 = sel[..., 1].expand(shape)
    return idx1, idx2


def apply_subsample(y: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Pick one neighbour in every 2×2 cell of the last two axes.

    Parameters
    ----------
    y : torch.Tensor
        The batch.
    idx : torch.Tensor
        The neighbour of each cell (0 top-left … 3 bottom-right), shaped like the sub-image.

    Returns
    -------
    torch.Tensor
        The sub-image, half the size in Y and X.
    """
    h = y.shape[-2] // 2
    w = y.shape[-1] // 2
    y = y[..., : 2 * h, : 2 * w]
    cells = torch.stack(
        [y[..., 0::2, 0::2], y[..., 0::2, 1::2], y[..., 1::2, 0::2], y[..., 1::2, 1::2]], dim=-1
    )
    return torch.gather(cells, -1, idx.unsqueeze(-1)).squeeze(-1)


def neighbor2neighbor_loss(
    model: torch.nn.Module,
    y: torch.Tensor,
    *,
    gamma: float = 2.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The regularised Neighbor2Neighbor loss on a batch of single noisy images ``y``.

    ``||f(g1(y)) - g2(y)||² + gamma * ||f(g1(y)) - g2(y) - (g1(f(y)) - g2(f(y)))||²`` with
    ``f(y)`` computed without gradient, as in the paper (gamma = 2).

    Parameters
    ----------
    model : torch.nn.Module
        The network ``f``.
    y : torch.Tensor
        The noisy batch.
    gamma : float, optional
        Weight of the regulariser.
    generator : torch.Generator, optional
        For the sub-sampling masks.

    Returns
    -------
    torch.Tensor
        The scalar loss.
    """
    idx1, idx2 = subsample_indices(y, generator)
    g1 = apply_subsample(y, idx1)
    g2 = apply_subsample(y, idx2)
    with torch.no_grad():
        fy = model(y)
    out = model(g1)
    diff = out - g2
    rec = diff.square().mean()
    reg = (diff - (apply_subsample(fy, idx1) - apply_subsample(fy, idx2))).square().mean()
    return rec + gamma * reg
