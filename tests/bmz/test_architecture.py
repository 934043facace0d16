"""The frozen architecture file shipped in packages: standalone, pinned, and the same network as ours."""

from __future__ import annotations

import ast
import hashlib

import pytest
import torch

from napari_n2n.bmz import _common
from napari_n2n.bmz import n2n_unet_v1 as frozen
from napari_n2n.core.model import UNet, UNetConfig


def test_frozen_files_are_pinned():
    """Editing a frozen file would break packages already shared: add a new version instead."""
    for name, sha in _common.FROZEN_ARCHITECTURES.items():
        data = _common.frozen_architecture_path(name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == sha, (
            f"{name} changed; frozen files must never be edited"
        )
    assert _common.CURRENT_ARCHITECTURE in _common.FROZEN_ARCHITECTURES


def test_frozen_file_imports_only_torch():
    tree = ast.parse(_common.frozen_architecture_path().read_text())
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            modules.add((node.module or "").split(".")[0] if node.level == 0 else "<relative>")
    assert modules <= {"torch", "collections"}, modules


@pytest.mark.parametrize(
    "cfg, shape",
    [
        (
            UNetConfig(in_channels=1, out_channels=1, ndim=2, depth=2, base_channels=8),
            (2, 1, 32, 48),
        ),
        (
            UNetConfig(
                in_channels=3,
                out_channels=3,
                ndim=2,
                depth=3,
                base_channels=8,
                max_channels=16,
                padding="zeros",
            ),
            (1, 3, 32, 32),
        ),
        (
            UNetConfig(in_channels=1, out_channels=1, ndim=3, depth=2, base_channels=4),
            (1, 1, 16, 16, 24),
        ),
    ],
)
def test_same_keys_and_same_output_as_our_unet(cfg, shape):
    torch.manual_seed(0)
    ours = UNet(cfg).eval()
    # the frozen v1 network pools every axis: only isotropic networks are exported (an
    # anisotropic one is refused by export_bmz), so the field is not its argument
    kwargs = {k: v for k, v in cfg.to_dict().items() if k != "xy_only_levels"}
    assert cfg.xy_only_levels == 0
    theirs = frozen.N2NUNet(**kwargs).eval()
    assert list(theirs.state_dict()) == list(ours.state_dict())
    theirs.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randn(shape)
    with torch.no_grad():
        torch.testing.assert_close(theirs(x), ours(x), rtol=0, atol=1e-6)


def test_per_channel_wrapper_runs_one_network_per_channel():
    torch.manual_seed(0)
    cfgs = UNetConfig(in_channels=1, out_channels=1, ndim=2, depth=2, base_channels=4)
    nets = [UNet(cfgs).eval() for _ in range(3)]
    wrapper = frozen.N2NUNetPerChannel([[0], [1], [2]], ndim=2, depth=2, base_channels=4).eval()
    state = {f"nets.{i}.{k}": v for i, n in enumerate(nets) for k, v in n.state_dict().items()}
    wrapper.load_state_dict(state, strict=True)
    x = torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        expected = torch.cat([n(x[:, [c]]) for c, n in enumerate(nets)], dim=1)
        torch.testing.assert_close(wrapper(x), expected, rtol=0, atol=1e-6)
