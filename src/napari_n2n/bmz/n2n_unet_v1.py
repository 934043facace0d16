"""The napari-n2n U-Net, version 1: a frozen, standalone copy for BioImage Model Zoo packages.

FROZEN FILE. It is copied as it is into every exported package, and its sha256 is pinned in
``napari_n2n.bmz._frozen``: never edit it. If the network changes, add ``n2n_unet_v2.py``.

It needs only torch (no napari-n2n), so a package made with it runs wherever PyTorch does, and
no later change of napari-n2n can break it. The network is the U-Net of the Noise2Noise paper
(Lehtinen et al., 2018): 3x3 convolutions with leaky ReLU (0.1), max-pooling down, nearest
upsampling and skip concatenation up, a linear 1x1 output. Its state-dict keys are those of
``napari_n2n.core.model.UNet``.

Input sizes must be multiples of ``2**depth`` and at least ``2 * 2**depth`` along every
spatial axis (the package's axis sizes say so); the network does no padding of its own, so it
traces to TorchScript and exports to ONNX with dynamic sizes.
"""

from collections.abc import Sequence

import torch
from torch import nn


def _conv(ndim: int, cin: int, cout: int, k: int, padding: str) -> nn.Module:
    cls = nn.Conv2d if ndim == 2 else nn.Conv3d
    return cls(cin, cout, k, padding=k // 2, padding_mode=padding)


class _Block(nn.Sequential):
    def __init__(self, ndim: int, cin: int, cout: int, padding: str):
        super().__init__(
            _conv(ndim, cin, cout, 3, padding), nn.LeakyReLU(0.1, inplace=True),
            _conv(ndim, cout, cout, 3, padding), nn.LeakyReLU(0.1, inplace=True),
        )


class N2NUNet(nn.Module):
    """``(B, C, *spatial)`` in, ``(B, out_channels, *spatial)`` out; 2D or 3D."""

    def __init__(self, in_channels: int = 1, out_channels: int = 1, ndim: int = 2, depth: int = 4,
                 base_channels: int = 32, max_channels: int = 128, padding: str = "reflect"):
        super().__init__()
        if ndim not in (2, 3):
            raise ValueError(f"ndim must be 2 or 3, got {ndim}")
        widths = [min(base_channels * 2**i, max_channels) for i in range(depth + 1)]
        self.down = nn.ModuleList()
        cin = in_channels
        for w in widths[:-1]:
            self.down.append(_Block(ndim, cin, w, padding))
            cin = w
        self.bottom = _Block(ndim, cin, widths[-1], padding)
        self.up = nn.ModuleList()
        cin = widths[-1]
        for w in reversed(widths[:-1]):
            self.up.append(_Block(ndim, cin + w, w, padding))
            cin = w
        self.head = _conv(ndim, cin, out_channels, 1, "zeros")
        self.pool = nn.MaxPool2d(2) if ndim == 2 else nn.MaxPool3d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips: list[torch.Tensor] = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottom(x)
        for block, skip in zip(self.up, reversed(skips)):
            x = nn.functional.interpolate(x, scale_factor=2.0, mode="nearest")
            x = block(torch.cat([x, skip], dim=1))
        return self.head(x)


class N2NUNetPerChannel(nn.Module):
    """One :class:`N2NUNet` per group of channels (models trained with ``channels="separate"``).

    ``channel_groups[i]`` lists the input channels of network ``i``; its outputs go to the
    same channels of the result.
    """

    def __init__(self, channel_groups: Sequence[Sequence[int]], ndim: int = 2, depth: int = 4,
                 base_channels: int = 32, max_channels: int = 128, padding: str = "reflect"):
        super().__init__()
        self.channel_groups = [[int(c) for c in g] for g in channel_groups]
        self.nets = nn.ModuleList(
            N2NUNet(len(g), len(g), ndim, depth, base_channels, max_channels, padding)
            for g in self.channel_groups
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts: list[torch.Tensor] = []
        for net, group in zip(self.nets, self.channel_groups):
            parts.append(net(x[:, group]))
        order = [c for g in self.channel_groups for c in g]
        out = torch.cat(parts, dim=1)
        return out[:, [order.index(c) for c in range(len(order))]]
