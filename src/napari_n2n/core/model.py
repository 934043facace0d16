"""The U-Net of the Noise2Noise paper (Lehtinen et al., 2018, appendix), in 2D and 3D.

As in the paper: 3×3 convolutions with leaky ReLU (slope 0.1), max-pooling down, nearest
upsampling and skip concatenation up, a linear 1×1 output, no normalisation layers. Depth
(number of poolings) and width are configurable; widths double per level up to
``max_channels``. The default (``depth=4, base_channels=32``) has about 1.9 M parameters in 2D; the 3D default (``depth=3,
base_channels=16``) about 1.5 M.
Any input size works: the input is reflect-padded to a multiple of ``2**depth`` and the output
cropped back.

Anisotropic volumes (a z-step coarser than the pixel size, as in most microscopy z-stacks) get
a network that pools only in Y and X at its top levels (``xy_only_levels``, a pooling kernel of
1 × 2 × 2), until a voxel's z-step and pixel size are about equal, as CARE does: pooling z like
x and y would lose a 24-slice stack's z resolution after two levels. The weights' shapes do not
depend on it, so a model trained on isotropic volumes starts a run on anisotropic ones
(:func:`xy_only_levels_for` decides; the model file keeps the choice).

The convolutions pad by reflection, not with zeros. With zero padding a network trained on
small patches can learn to use the distance to the patch border as a cue (every output voxel
of a 16³ patch sees the border, since the receptive field of even a depth-2 U-Net is 41
voxels), and then predicts large tiles with an offset: one 3D N2N model of our quality
benchmark scored 32.4 dB in 16³ tiles and 19.4 dB (+22 grey levels) as one 32×96×96 tile.
Reflection gives no such cue; in our runs it was also as good or better, and in 3D faster
on the CPU (see docs/benchmarks.md). (We tried a residual output and batch normalisation; on short CPU budgets
neither trained faster than this plain network on standardised inputs, see
:class:`~napari_n2n.core.data.normalization.Normalization`.)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from .errors import InputError

#: most channels of an image a U-Net takes, and most feature channels of a level
MAX_CHANNELS = 256
MAX_WIDTH = 4096


@dataclass(frozen=True)
class UNetConfig:
    """Architecture of a :class:`UNet` (stored in every checkpoint).

    Parameters
    ----------
    in_channels, out_channels : int
        Channels of the image in and out (1 to ``MAX_CHANNELS``).
    ndim : int
        2 or 3 spatial dimensions.
    depth : int
        Down-sampling levels, 1 to 6: inputs are padded to a multiple of ``2**depth``.
    base_channels : int
        Feature channels of the top level, doubled at each level below...
    max_channels : int
        ...up to this many.
    padding : {"reflect", "zeros"}
        See the attribute below.
    xy_only_levels : int
        In 3D, how many of the top levels pool in Y and X only (0 to ``depth``; see
        :func:`xy_only_levels_for`).
    """

    in_channels: int = 1
    out_channels: int = 1
    ndim: int = 2
    depth: int = 4
    base_channels: int = 32
    max_channels: int = 128
    #: how the 3×3 convolutions pad their input: "reflect" (default) or "zeros" (model files
    #: of format version 1 without this field were trained with zeros, see :class:`UNet`)
    padding: str = "reflect"
    #: 3D: the top levels that pool in Y and X only (model files without the field: 0)
    xy_only_levels: int = 0

    def __post_init__(self):
        for name in (
            "in_channels",
            "out_channels",
            "ndim",
            "depth",
            "base_channels",
            "max_channels",
            "xy_only_levels",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise InputError(f"U-Net {name} must be a whole number, got {value!r}.")
        if not (1 <= self.in_channels <= MAX_CHANNELS and 1 <= self.out_channels <= MAX_CHANNELS):
            raise InputError(
                f"U-Net channels must be between 1 and {MAX_CHANNELS}, got {self.in_channels} in, "
                f"{self.out_channels} out."
            )
        if not 4 <= self.max_channels <= MAX_WIDTH:
            raise InputError(
                f"U-Net max_channels must be between 4 and {MAX_WIDTH}, got {self.max_channels}."
            )
        if self.padding not in ("reflect", "zeros"):
            raise InputError(f"U-Net padding must be 'reflect' or 'zeros', got {self.padding!r}.")
        if self.ndim not in (2, 3):
            raise InputError(f"U-Net ndim must be 2 or 3, got {self.ndim}.")
        if not 1 <= self.depth <= 6:
            raise InputError(f"U-Net depth must be between 1 and 6, got {self.depth}.")
        if not 4 <= self.base_channels <= MAX_WIDTH:
            raise InputError(
                f"U-Net base_channels must be between 4 and {MAX_WIDTH}, got {self.base_channels}."
            )
        if not 0 <= self.xy_only_levels <= (self.depth if self.ndim == 3 else 0):
            raise InputError(
                f"U-Net xy_only_levels must be between 0 and the depth ({self.depth}) in 3D, and 0 in "
                f"2D; got {self.xy_only_levels}."
            )

    def for_channels(self, n: int) -> UNetConfig:
        """The same architecture for ``n`` input and output channels (one model of a per-channel run).

        Parameters
        ----------
        n : int
            The channels.

        Returns
        -------
        UNetConfig
        """
        return replace(self, in_channels=n, out_channels=n)

    def poolings(self) -> list[tuple[int, ...]]:
        """The pooling kernel of each level, from the top.

        Returns
        -------
        list of tuple
            ``depth`` kernels: ``(1, 2, 2)`` at the levels that pool in Y and X only.

        Examples
        --------
        >>> UNetConfig(ndim=3, depth=3, xy_only_levels=2).poolings()
        [(1, 2, 2), (1, 2, 2), (2, 2, 2)]
        """
        full = (2,) * self.ndim
        return [(1, 2, 2) if i < self.xy_only_levels else full for i in range(self.depth)]

    def multiples(self) -> tuple[int, ...]:
        """The factor each spatial size is padded to a multiple of (the product of its poolings).

        Examples
        --------
        >>> UNetConfig(ndim=3, depth=2, xy_only_levels=1).multiples()
        (2, 4, 4)
        """
        out = [1] * self.ndim
        for kernel in self.poolings():
            out = [m * k for m, k in zip(out, kernel)]
        return tuple(out)

    def to_dict(self) -> dict:
        """The fields, as stored in model files."""
        return asdict(self)

    def widths(self) -> list[int]:
        """Channels of each level, from the top to the bottom of the U.

        Returns
        -------
        list of int
            ``depth + 1`` widths.

        Examples
        --------
        >>> UNetConfig(depth=3, base_channels=32, max_channels=64).widths()
        [32, 64, 64, 64]
        """
        return [min(self.base_channels * 2**i, self.max_channels) for i in range(self.depth + 1)]

    def state_shapes(self) -> dict[str, tuple[int, ...]]:
        """The name and shape of every tensor of a :class:`UNet` of this configuration, computed without building it.

        A model file is checked against these before any network is built, so a small file
        whose metadata asks for a huge network is refused instead of allocated.

        Returns
        -------
        dict
            Tensor name → shape, as in ``UNet(config).state_dict()``.
        """
        k = (3,) * self.ndim
        shapes: dict[str, tuple[int, ...]] = {}

        def block(prefix, cin, cout):
            shapes.update(
                {
                    f"{prefix}.0.weight": (cout, cin, *k),
                    f"{prefix}.0.bias": (cout,),
                    f"{prefix}.2.weight": (cout, cout, *k),
                    f"{prefix}.2.bias": (cout,),
                }
            )

        widths = self.widths()
        cin = self.in_channels
        for i, w in enumerate(widths[:-1]):
            block(f"down.{i}", cin, w)
            cin = w
        block("bottom", cin, widths[-1])
        cin = widths[-1]
        for i, w in enumerate(reversed(widths[:-1])):
            block(f"up.{i}", cin + w, w)
            cin = w
        shapes.update(
            {
                "head.weight": (self.out_channels, cin, *(1,) * self.ndim),
                "head.bias": (self.out_channels,),
            }
        )
        return shapes


def _conv(ndim, cin, cout, k=3, padding="zeros"):
    cls = nn.Conv2d if ndim == 2 else nn.Conv3d
    return cls(cin, cout, k, padding=k // 2, padding_mode=padding)


class _Block(nn.Sequential):
    def __init__(self, ndim, cin, cout, padding):
        super().__init__(
            _conv(ndim, cin, cout, padding=padding),
            nn.LeakyReLU(0.1, inplace=True),
            _conv(ndim, cout, cout, padding=padding),
            nn.LeakyReLU(0.1, inplace=True),
        )


class UNet(nn.Module):
    """Encoder–decoder with skip connections; ``(B, C, *spatial)`` in, same shape out.

    Parameters
    ----------
    config : UNetConfig
        The architecture.

    Examples
    --------
    >>> import torch
    >>> net = UNet(UNetConfig(depth=2, base_channels=4, max_channels=8))
    >>> net(torch.zeros(1, 1, 10, 12)).shape, count_parameters(net)
    (torch.Size([1, 1, 10, 12]), 4569)
    """

    def __init__(self, config: UNetConfig = UNetConfig()):
        super().__init__()
        self.config = config
        nd = config.ndim
        widths = config.widths()
        self.down = nn.ModuleList()
        cin = config.in_channels
        for w in widths[:-1]:
            self.down.append(_Block(nd, cin, w, config.padding))
            cin = w
        self.bottom = _Block(nd, cin, widths[-1], config.padding)
        self.up = nn.ModuleList()
        cin = widths[-1]
        for w in reversed(widths[:-1]):
            self.up.append(_Block(nd, cin + w, w, config.padding))
            cin = w
        self.head = _conv(nd, cin, config.out_channels, k=1)
        pool = nn.MaxPool2d if nd == 2 else nn.MaxPool3d
        self.pools = nn.ModuleList(pool(k) for k in config.poolings())

    @property
    def multiple(self) -> int:
        """The factor Y and X are padded to a multiple of (``2**depth``; Z's: see :meth:`UNetConfig.multiples`)."""
        return 2**self.config.depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Denoise a batch.

        Parameters
        ----------
        x : torch.Tensor
            ``(B, C, *spatial)``, normalised; any spatial size (padded inside, cropped back).

        Returns
        -------
        torch.Tensor
            The same shape.
        """
        spatial = x.shape[2:]
        pads = []
        for s, m in zip(reversed(spatial), reversed(self.config.multiples())):
            # a multiple of the poolings, and at least 2 voxels at the bottom level (reflect padding needs 2)
            pads += [0, max((-s) % m, 2 * m - s)]
        if any(pads):
            mode = (
                "reflect"
                if all(s > p for s, p in zip(reversed(spatial), pads[1::2]))
                else "replicate"
            )
            x = F.pad(x, pads, mode=mode)
        skips = []
        for block, pool in zip(self.down, self.pools):
            x = block(x)
            skips.append(x)
            x = pool(x)
        x = self.bottom(x)
        for block, skip in zip(self.up, reversed(skips)):
            x = F.interpolate(x, size=skip.shape[2:], mode="nearest")
            x = block(torch.cat([x, skip], dim=1))
        x = self.head(x)
        if any(pads):
            x = x[(slice(None), slice(None)) + tuple(slice(0, s) for s in spatial)]
        return x


def xy_only_levels_for(voxel_size, depth: int, *, slices: int | None = None) -> int:
    """How many top levels of a 3D U-Net pool in Y and X only, for a voxel size and a stack depth.

    A level pools in Y and X only while the z-step is at least 1.5 times the (mean) pixel size at
    that level, so that after it z and xy are about as coarse, as in CARE's networks for
    anisotropic stacks; and while pooling z too would leave fewer than 2 slices of ``slices`` at
    the bottom level.

    Parameters
    ----------
    voxel_size : sequence of float or None
        ``(z, y, x)`` sizes in any one unit; ``None``: isotropic.
    depth : int
        The U-Net's levels.
    slices : int, optional
        The fewest slices a training patch has.

    Returns
    -------
    int
        0 to ``depth``.

    Examples
    --------
    >>> xy_only_levels_for((4.0, 1.0, 1.0), 3), xy_only_levels_for((2.0, 1.0, 1.0), 3)
    (2, 1)
    >>> xy_only_levels_for(None, 2), xy_only_levels_for(None, 3, slices=8)
    (0, 1)
    """
    ratio = 1.0 if voxel_size is None else anisotropy(voxel_size)
    levels = 0
    while levels < depth and ratio >= 1.5:
        ratio /= 2
        levels += 1
    while slices is not None and levels < depth and slices / 2 ** (depth - levels) < 2:
        levels += 1
    return levels


def anisotropy(voxel_size) -> float:
    """The z-step over the mean pixel size in Y and X of a ``(z, y, x)`` voxel size (1: isotropic).

    Examples
    --------
    >>> anisotropy((3.0, 0.5, 0.5))
    6.0
    """
    z, y, x = (float(v) for v in voxel_size)
    if not all(v > 0 and v < float("inf") for v in (z, y, x)):
        raise InputError(
            f"A voxel size must be three positive numbers (z, y, x), got {tuple(voxel_size)!r}."
        )
    return z / ((y + x) / 2)


def count_parameters(model: nn.Module) -> int:
    """The number of weights of ``model`` (all its parameters' elements)."""
    return sum(p.numel() for p in model.parameters())
