"""torch.compile falls back cleanly; a preset's batch shrinks until a step fits the device's memory."""

import pytest
import torch

from napari_n2n.core.config import TrainConfig
from napari_n2n.core.model import UNet, UNetConfig
from napari_n2n.core.training.acceleration import CompiledOrPlain, fit_batch, maybe_compile
from napari_n2n.core.training.presets import preset
from napari_n2n.core.training.train import Trainer


def test_batch_halves_until_a_step_fits():
    tried = []

    def step(b):
        tried.append(b)
        if b > 16:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 3.00 GiB")

    assert fit_batch(step, 64) == (16, "batch 64 did not fit in the device's memory: batch 16")
    assert tried == [64, 32, 16]
    assert fit_batch(lambda b: None, 64) == (64, None)


def test_other_errors_and_a_batch_of_one_that_does_not_fit_are_raised():
    def broken(b):
        raise RuntimeError("CUDA error: device-side assert triggered")

    with pytest.raises(RuntimeError, match="device-side assert"):
        fit_batch(broken, 8)

    def never(b):
        raise RuntimeError("CUDA out of memory")

    with pytest.raises(RuntimeError, match="out of memory"):
        fit_batch(never, 8)


def test_a_failing_compile_falls_back_to_the_plain_network():
    model = UNet(UNetConfig(depth=2, base_channels=8))

    def bad_compiled(x):
        raise RuntimeError("InductorError: no working C++ compiler found")

    net = CompiledOrPlain(model, bad_compiled)
    x = torch.zeros(1, 1, 16, 16)
    torch.testing.assert_close(net(x), model(x))
    assert "torch.compile failed" in net.note
    assert maybe_compile(model, False) is model


def test_training_with_compile_requested_trains_even_where_compiling_fails(
    gaussian_pair, monkeypatch
):
    def no_compile(model, *args, **kwargs):
        raise RuntimeError("torch.compile is not supported on this platform")

    monkeypatch.setattr(torch, "compile", no_compile)
    _, a, b = gaussian_pair
    trainer = Trainer(
        a[:64, :64],
        b[:64, :64],
        config=TrainConfig(**preset("cpu-tiny").options, steps=3, compile=True),
    )
    list(trainer.run())
    assert trainer.history["steps_done"] == 3


@pytest.mark.parametrize(
    "axes,shape,tile", [("YX", (70, 90), 32), ("TYX", (3, 40, 52), 24), ("CYX", (2, 48, 40), 32)]
)
def test_blending_on_the_device_equals_blending_on_the_host(axes, shape, tile):
    """The GPU's path (tiles blended in a tensor on the device) run on the CPU gives the numpy path's result."""
    import numpy as np

    from napari_n2n.core.data.normalization import Normalization
    from napari_n2n.core.inference.denoiser import Denoiser

    n_channels = shape[0] if axes.startswith("C") else 1
    torch.manual_seed(0)
    unet = UNetConfig(in_channels=n_channels, out_channels=n_channels, depth=2, base_channels=8)
    den = Denoiser(
        [UNet(unet)],
        [list(range(n_channels))],
        Normalization((10.0,) * n_channels, (3.0,) * n_channels),
        unet=unet,
        axes=axes,
    )
    image = np.random.default_rng(0).normal(10, 3, shape).astype(np.float32)
    host = den.predict(image, tile=tile, overlap=8, device="cpu", batch_size=3)
    from napari_n2n.core.progress import drain

    device = drain(
        den.predict_iter(image, tile=tile, overlap=8, device="cpu", batch_size=3, blend="device")
    )
    np.testing.assert_allclose(device, host, rtol=1e-5, atol=1e-4)
