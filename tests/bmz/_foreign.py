"""Zoo packages as other tools make them, built offline with bioimageio.spec (no napari-n2n code).

* :func:`careamics_like`: what CAREamics 0.3.5's N2V export writes: every space axis of input
  and output FIXED to the test tensor's size (128 x 128), no halo, fixed zero-mean/unit-variance
  preprocessing and its inverse as postprocessing, and a state dict whose network is a Python
  module (CAREamics imports ``careamics.models.unet``; here the module is a file in the package,
  so no library is needed).
* :func:`parametrized`: built like bioimageio.spec's own example ``unet2d_nuclei_broad``: input
  sizes ``min + n * step``, output sizes tied to the input, an output halo.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: a small 2D U-Net with zero-padded convolutions, as CAREamics' and the spec example's networks have
ARCHITECTURE = """
import torch
from torch import nn


def _block(cin, cout):
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(),
        nn.Conv2d(cout, cout, 3, padding=1), nn.ReLU(),
    )


class TinyUNet(nn.Module):
    def __init__(self, in_channels=1, num_classes=1, depth=2, num_channels_init=8):
        super().__init__()
        widths = [num_channels_init * 2**i for i in range(depth + 1)]
        self.down = nn.ModuleList()
        cin = in_channels
        for w in widths[:-1]:
            self.down.append(_block(cin, w))
            cin = w
        self.bottom = _block(cin, widths[-1])
        self.up = nn.ModuleList()
        cin = widths[-1]
        for w in reversed(widths[:-1]):
            self.up.append(_block(cin + w, w))
            cin = w
        self.head = nn.Conv2d(cin, num_classes, 1)

    def forward(self, x):
        inp = x
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = nn.functional.max_pool2d(x, 2)
        x = self.bottom(x)
        for block, skip in zip(self.up, reversed(skips)):
            x = nn.functional.interpolate(x, scale_factor=2.0, mode="nearest")
            x = block(torch.cat([x, skip], dim=1))
        return inp + self.head(x)  # residual, as denoisers often are: the output has the image's structure
"""
KWARGS = {"in_channels": 1, "num_classes": 1, "depth": 2, "num_channels_init": 8}
MEAN, STD = 100.0, 20.0


def _network(folder: Path):
    """The network, built from the package's own architecture file, and its seeded weights."""
    import importlib.util

    import torch

    path = folder / "tiny_unet.py"
    path.write_text(ARCHITECTURE)
    spec = importlib.util.spec_from_file_location("tiny_unet_for_tests", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    net = module.TinyUNet(**KWARGS).eval()
    torch.save(net.state_dict(), folder / "weights.pt")
    return net, path


def _test_tensors(folder: Path, net, size: int):
    import torch

    rng = np.random.default_rng(0)
    x = (MEAN + STD * rng.standard_normal((1, 1, size, size))).astype(np.float32)
    with torch.no_grad():
        y = net(torch.from_numpy((x - MEAN) / STD)).numpy() * STD + MEAN
    np.save(folder / "test_input.npy", x)
    np.save(folder / "test_output.npy", y.astype(np.float32))
    return folder / "test_input.npy", folder / "test_output.npy"


def _descr(folder: Path, name: str, in_axes, out_axes, post, net_path, tensors):
    import torch
    from bioimageio.spec.model import v0_5 as s

    (folder / "README.md").write_text(f"# {name}\n\nA test package.\n")
    channel = s.AxisId("channel")
    pre = [
        s.FixedZeroMeanUnitVarianceDescr(
            kwargs=s.FixedZeroMeanUnitVarianceAlongAxisKwargs(mean=[MEAN], std=[STD], axis=channel)
        )
    ]
    return s.ModelDescr(
        name=name,
        description="a tiny U-Net with random weights, for tests",
        authors=[s.Author(name="Test Author")],
        cite=[s.CiteEntry(text="A test", doi=s.Doi("10.48550/arXiv.1803.04189"))],
        license="BSD-3-Clause",
        documentation=s.FileDescr(source=folder / "README.md"),
        inputs=[
            s.InputTensorDescr(
                id=s.TensorId("input"),
                axes=in_axes,
                test_tensor=s.FileDescr(source=tensors[0]),
                preprocessing=pre,
            )
        ],
        outputs=[
            s.OutputTensorDescr(
                id=s.TensorId("prediction"),
                axes=out_axes,
                test_tensor=s.FileDescr(source=tensors[1]),
                postprocessing=post,
            )
        ],
        weights=s.WeightsDescr(
            pytorch_state_dict=s.PytorchStateDictWeightsDescr(
                source=folder / "weights.pt",
                pytorch_version=s.Version(torch.__version__.split("+")[0]),
                architecture=s.ArchitectureFromFileDescr(
                    source=net_path, callable=s.Identifier("TinyUNet"), kwargs=KWARGS
                ),
            )
        ),
    )


def careamics_like(folder: Path, size: int = 128) -> Path:
    """A package whose space axes are all fixed to ``size``, as CAREamics' N2V export writes them."""
    from bioimageio.spec import ValidationContext, save_bioimageio_package
    from bioimageio.spec.model import v0_5 as s

    folder.mkdir(parents=True, exist_ok=True)
    net, net_path = _network(folder)
    tensors = _test_tensors(folder, net, size)
    names = [s.Identifier("channel")]
    in_axes = [s.BatchAxis(), s.ChannelAxis(channel_names=names)] + [
        s.SpaceInputAxis(id=s.AxisId(a), size=size) for a in "yx"
    ]
    out_axes = [s.BatchAxis(), s.ChannelAxis(channel_names=names)] + [
        s.SpaceOutputAxis(id=s.AxisId(a), size=size) for a in "yx"
    ]
    eps = 1e-6
    post = [  # CAREamics' inverse normalisation
        s.FixedZeroMeanUnitVarianceDescr(
            kwargs=s.FixedZeroMeanUnitVarianceAlongAxisKwargs(
                mean=[-MEAN / (STD + eps)], std=[1 / (STD + eps) - eps], axis=s.AxisId("channel")
            )
        )
    ]
    with ValidationContext(root=folder, perform_io_checks=True):
        descr = _descr(folder, "CAREamics-like N2V", in_axes, out_axes, post, net_path, tensors)
    out = folder / "careamics_like.bioimageio.zip"
    save_bioimageio_package(descr, output_path=out, local_files_only=True)
    return out


def parametrized(folder: Path, *, min_size: int = 64, step: int = 16, halo: int = 16) -> Path:
    """A package with sizes ``min + n * step`` and an output halo, like the spec's ``unet2d_nuclei_broad``."""
    from bioimageio.spec import ValidationContext, save_bioimageio_package
    from bioimageio.spec.model import v0_5 as s

    folder.mkdir(parents=True, exist_ok=True)
    net, net_path = _network(folder)
    tensors = _test_tensors(folder, net, min_size + 2 * step)
    names = [s.Identifier("channel")]
    in_id = s.TensorId("input")
    in_axes = [s.BatchAxis(), s.ChannelAxis(channel_names=names)] + [
        s.SpaceInputAxis(id=s.AxisId(a), size=s.ParameterizedSize(min=min_size, step=step))
        for a in "yx"
    ]
    out_axes = [s.BatchAxis(), s.ChannelAxis(channel_names=names)] + [
        s.SpaceOutputAxisWithHalo(
            id=s.AxisId(a), size=s.SizeReference(tensor_id=in_id, axis_id=s.AxisId(a)), halo=halo
        )
        for a in "yx"
    ]
    post = [
        s.ScaleLinearDescr(
            kwargs=s.ScaleLinearAlongAxisKwargs(gain=[STD], offset=[MEAN], axis=s.AxisId("channel"))
        )
    ]
    with ValidationContext(root=folder, perform_io_checks=True):
        descr = _descr(folder, "Parametrized U-Net", in_axes, out_axes, post, net_path, tensors)
    out = folder / "parametrized.bioimageio.zip"
    save_bioimageio_package(descr, output_path=out, local_files_only=True)
    return out
