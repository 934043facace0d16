"""TIFF outputs keep their calibration for every reader, judged by tifffile's own ImageJ and OME parsers.

An ImageJ hyperstack (or a plain TIFF) in gives an ImageJ hyperstack out: resolution tags in
pixels per unit of the description (ResolutionUnit NONE, as ImageJ writes), spacing, unit and
finterval in the description. An ``.ome.tif`` output has PhysicalSizeX/Y/Z, their units and
TimeIncrement in its OME-XML. What ImageJ cannot hold is a plain TIFF whose resolution tags are
in pixels per centimetre. napari-n2n's own reader reads all of them back.
"""

import numpy as np
import pytest
import tifffile

from napari_n2n.cli import main
from napari_n2n.io import read_image, write_image


@pytest.fixture
def hyperstack(tmp_path):
    """An ImageJ hyperstack as Fiji saves it: TZCYX uint16, 0.25 µm pixels, spacing 1.75, finterval 2.5."""
    data = np.random.default_rng(0).integers(0, 4000, (2, 3, 2, 32, 40), dtype=np.uint16)
    path = tmp_path / "hyperstack.tif"
    tifffile.imwrite(
        path,
        data,
        imagej=True,
        resolution=(4.0, 4.0),
        metadata={"axes": "TZCYX", "spacing": 1.75, "unit": "micron", "finterval": 2.5},
    )
    return path


def _pixels(path) -> dict:
    """The Pixels element of the first image of an OME-TIFF, as tifffile's OME-XML parser reads it."""
    with tifffile.TiffFile(path) as tf:
        assert tf.is_ome
        ome = tifffile.xml2dict(tf.ome_metadata)["OME"]
    image = ome["Image"][0] if isinstance(ome["Image"], list) else ome["Image"]
    return image["Pixels"]


def _imagej(path) -> tuple[dict, tuple, int, str]:
    """ImageJ's metadata, the resolution and its unit, and the series' axes, as tifffile reads them."""
    with tifffile.TiffFile(path) as tf:
        assert tf.is_imagej, f"{path.name} is not an ImageJ hyperstack"
        page = tf.pages[0]
        return tf.imagej_metadata, page.resolution, int(page.resolutionunit), tf.series[0].axes


@pytest.mark.parametrize("dtype", ["float32", "uint16"])
def test_an_imagej_hyperstack_is_written_as_an_imagej_hyperstack(tmp_path, hyperstack, dtype):
    image = read_image(hyperstack)
    assert image.axes == "TZCYX" and image.frame_interval == 2.5
    out = write_image(
        tmp_path / "out.tif", image.data.astype(dtype), axes=image.axes, **image.metadata()
    )
    meta, resolution, unit, axes = _imagej(out)
    assert axes == "TZCYX"
    assert meta["spacing"] == 1.75 and meta["finterval"] == 2.5 and meta["unit"] == "micron"
    assert (meta["frames"], meta["slices"], meta["channels"]) == (2, 3, 2)
    assert resolution == pytest.approx((4.0, 4.0))
    assert unit == tifffile.RESUNIT.NONE  # pixels per unit of the description, as ImageJ writes
    back = read_image(out)
    assert back.pixel_size == pytest.approx({"X": 0.25, "Y": 0.25, "Z": 1.75})
    assert back.unit == "µm" and back.frame_interval == 2.5 and back.data.dtype == dtype


def test_an_ome_tiff_output_has_physical_sizes_and_time_increment(tmp_path):
    data = np.random.default_rng(1).normal(100, 10, (3, 4, 24, 32)).astype(np.float32)
    source = tmp_path / "in.ome.tif"
    tifffile.imwrite(
        source,
        data,
        metadata={
            "axes": "TZYX",
            "PhysicalSizeX": 0.1,
            "PhysicalSizeY": 0.1,
            "PhysicalSizeZ": 500.0,
            "PhysicalSizeZUnit": "nm",  # another unit than X's: converted into X's
            "TimeIncrement": 1500.0,
            "TimeIncrementUnit": "ms",
        },
    )
    image = read_image(source)
    assert image.pixel_size == pytest.approx({"X": 0.1, "Y": 0.1, "Z": 0.5})
    assert image.unit == "µm" and image.frame_interval == pytest.approx(1.5)

    out = write_image(tmp_path / "out.ome.tif", data * 2, axes=image.axes, **image.metadata())
    pixels = _pixels(out)
    assert (pixels["SizeT"], pixels["SizeZ"]) == (3, 4)
    assert pixels["PhysicalSizeX"] == pytest.approx(0.1) and pixels["PhysicalSizeXUnit"] == "µm"
    assert pixels["PhysicalSizeY"] == pytest.approx(0.1) and pixels["PhysicalSizeYUnit"] == "µm"
    assert pixels["PhysicalSizeZ"] == pytest.approx(0.5) and pixels["PhysicalSizeZUnit"] == "µm"
    assert pixels["TimeIncrement"] == pytest.approx(1.5) and pixels["TimeIncrementUnit"] == "s"
    with tifffile.TiffFile(out) as tf:  # and in the tags, for readers of plain TIFF
        assert tf.pages[0].resolutionunit == tifffile.RESUNIT.CENTIMETER
        assert tf.pages[0].resolution == pytest.approx((1e5, 1e5))
    back = read_image(out)
    assert back.axes == "TZYX" and back.pixel_size == pytest.approx(image.pixel_size)
    assert back.unit == "µm" and back.frame_interval == pytest.approx(1.5)


def test_an_imagej_input_written_as_ome_tiff(tmp_path, hyperstack):
    image = read_image(hyperstack)
    out = write_image(tmp_path / "out.ome.tiff", image.data, axes=image.axes, **image.metadata())
    pixels = _pixels(out)
    assert (pixels["SizeT"], pixels["SizeZ"], pixels["SizeC"]) == (2, 3, 2)
    assert pixels["PhysicalSizeX"] == pytest.approx(0.25) and pixels["PhysicalSizeXUnit"] == "µm"
    assert pixels["PhysicalSizeZ"] == pytest.approx(1.75)
    assert pixels["TimeIncrement"] == pytest.approx(2.5)


@pytest.mark.parametrize(
    ("dtype", "axes", "shape"),
    [
        ("float64", "ZYX", (3, 16, 20)),
        ("int32", "ZYX", (3, 16, 20)),
        ("float32", "ZTYX", (2, 3, 16, 20)),
    ],
)
def test_what_imagej_cannot_hold_is_a_plain_tiff_calibrated_in_centimetres(
    tmp_path, dtype, axes, shape
):
    data = np.arange(np.prod(shape)).reshape(shape).astype(dtype)
    out = write_image(
        tmp_path / "out.tif",
        data,
        axes=axes,
        pixel_size={"X": 200.0, "Y": 250.0, "Z": 1000.0},
        unit="nm",
        frame_interval=0.5 if "T" in axes else None,
    )
    with tifffile.TiffFile(out) as tf:
        assert not tf.is_imagej
        page = tf.pages[0]
        assert page.resolutionunit == tifffile.RESUNIT.CENTIMETER  # never tifffile's inch
        assert page.resolution == pytest.approx((1e4 / 0.2, 1e4 / 0.25))  # pixels per cm
    back = read_image(out)
    assert back.axes == axes and back.unit == "nm"
    assert back.pixel_size == pytest.approx({"X": 200.0, "Y": 250.0, "Z": 1000.0})
    assert back.frame_interval == (0.5 if "T" in axes else None)


def test_an_8bit_rgb_image_is_an_imagej_rgb_image(tmp_path):
    rgb = np.random.default_rng(2).integers(0, 255, (24, 32, 3), dtype=np.uint8)
    out = write_image(
        tmp_path / "rgb.tif", rgb, axes="YXC", pixel_size={"X": 0.5, "Y": 0.5}, unit="µm"
    )
    meta, resolution, unit, axes = _imagej(out)
    assert axes == "YXS" and meta["unit"] == "micron" and resolution == pytest.approx((2.0, 2.0))
    back = read_image(out)
    assert back.axes == "YXC" and back.pixel_size == {"X": 0.5, "Y": 0.5} and back.unit == "µm"


def test_files_of_napari_n2n_0_1_still_read_as_they_were_meant(tmp_path):
    # 0.1 wrote 1/size with tifffile's default unit (the inch) beside a unit in its JSON description
    path = tmp_path / "old.tif"
    tifffile.imwrite(
        path,
        np.zeros((2, 8, 8), np.float32),
        resolution=(4.0, 4.0),
        metadata={"axes": "ZYX", "spacing": 1.5, "unit": "µm"},
    )
    image = read_image(path)
    assert (
        image.pixel_size == pytest.approx({"X": 0.25, "Y": 0.25, "Z": 1.5}) and image.unit == "µm"
    )


@pytest.fixture(scope="module")
def model_2d(tmp_path_factory, gaussian_pair):
    """A tiny 2D model (3 steps: only the files' metadata matter here)."""
    from napari_n2n.core.config import TrainConfig
    from napari_n2n.core.training.train import Trainer

    from .._helpers import TRAIN_TINY

    _, a, b = gaussian_pair
    trainer = Trainer(a, b, axes="YX", config=TrainConfig(mode="n2n", **TRAIN_TINY))
    list(trainer.run())
    return trainer.denoiser().save(tmp_path_factory.mktemp("model") / "m.n2n")


@pytest.mark.parametrize("output", ["out.tif", "out.ome.tif"])
def test_the_command_line_writes_calibrated_tiffs(tmp_path, model_2d, output):
    data = np.random.default_rng(3).integers(0, 4000, (2, 3, 48, 64), dtype=np.uint16)
    source = tmp_path / "in.tif"
    tifffile.imwrite(
        source,
        data,
        imagej=True,
        resolution=(4.0, 4.0),
        metadata={"axes": "TZYX", "spacing": 1.75, "unit": "micron", "finterval": 2.5},
    )
    out = tmp_path / output
    args = ["predict", "--model", str(model_2d), "--input", str(source), "--output", str(out)]
    assert main([*args, "--tile", "64"]) == 0
    if output == "out.tif":
        meta, resolution, unit, axes = _imagej(out)
        assert axes == "TZYX" and resolution == pytest.approx((4.0, 4.0))
        assert unit == tifffile.RESUNIT.NONE and meta["unit"] == "micron"
        assert meta["spacing"] == 1.75 and meta["finterval"] == 2.5
    else:
        pixels = _pixels(out)
        assert (pixels["PhysicalSizeX"], pixels["PhysicalSizeY"]) == pytest.approx((0.25, 0.25))
        assert (
            pixels["PhysicalSizeZ"] == pytest.approx(1.75) and pixels["PhysicalSizeXUnit"] == "µm"
        )
        assert pixels["TimeIncrement"] == pytest.approx(2.5)
    back = read_image(out)
    assert back.axes == "TZYX" and back.frame_interval == 2.5 and back.unit == "µm"
    assert back.pixel_size == pytest.approx({"X": 0.25, "Y": 0.25, "Z": 1.75})
