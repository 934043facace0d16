"""Train widget, volumes: the layer's scale is the voxel size that shapes the network, and a volume
trains with the preset's 3D patch and batch."""

from __future__ import annotations

import numpy as np

from napari_n2n.core.training.presets import preset
from napari_n2n.widgets.train.widget import TrainWidget

from .._helpers import add_widget


def test_a_volume_layer_s_scale_reaches_the_network(viewer):
    rng = np.random.default_rng(0)
    a, b = (rng.normal(100, 20, (8, 48, 48)).astype(np.float32) for _ in range(2))
    la = viewer.add_image(a, name="a", scale=(4.0, 1.0, 1.0))
    viewer.add_image(b, name="b", scale=(4.0, 1.0, 1.0))
    train = add_widget(viewer, TrainWidget)
    train.form.input_layer.value = la
    train.form.target_layer.value = viewer.layers["b"]
    train.form.axes.value = "ZYX"
    train.form.device.value = "cpu"
    assert train.form.voxel_size.value == "4 1 1"
    # the preset's 3D patch and batch, not its 2D ones
    quick = preset("cpu-quick").options_for(3)
    assert (train.form.patch_size.value, train.form.batch_size.value) == (
        quick["patch_size"],
        quick["batch_size"],
    )
    trainer = train.make_trainer()
    assert trainer.unet.xy_only_levels == trainer.unet.depth and trainer.patch[0] == 8
    assert trainer.info["voxel_size"] == [4.0, 1.0, 1.0]
    # typed by the user: isotropic
    train.form.voxel_size.value = "1 1 1"
    assert train.make_trainer().unet.xy_only_levels == 0
    # an image: no voxel size, the 2D patch
    l2 = viewer.add_image(a[0], name="plane")
    train.form.input_layer.value = l2
    assert train.form.voxel_size.value == "" and train.form.patch_size.value == 48
