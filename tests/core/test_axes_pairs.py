import numpy as np
import pytest

from napari_n2n.core.axes import AxisView, default_axes, validate_axes
from napari_n2n.core.data.noise import Gaussian
from napari_n2n.core.data.pairs import single_image, stack_neighbours, synthetic_pair, two_images
from napari_n2n.core.errors import InputError


@pytest.mark.parametrize(
    "axes,shape,nd,n,c",
    [
        ("YX", (6, 7), 2, 1, 1),
        ("XY", (7, 6), 2, 1, 1),
        ("ZYX", (3, 6, 7), 3, 1, 1),
        ("ZYX", (3, 6, 7), 2, 3, 1),
        ("TYX", (4, 6, 7), 2, 4, 1),
        ("CYX", (2, 6, 7), 2, 1, 2),
        ("YXC", (6, 7, 2), 2, 1, 2),
        ("TCZYX", (2, 3, 4, 6, 7), 3, 2, 3),
        ("TZYX", (2, 4, 6, 7), 2, 8, 1),
    ],
)
def test_axis_view_read_write_round_trip(axes, shape, nd, n, c):
    arr = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    view = AxisView(arr, axes, nd)
    assert view.n_samples == n and view.n_channels == c
    out = np.zeros_like(arr)
    for i in range(view.n_samples):
        block = view.read(i)
        assert block.shape == (c,) + view.spatial_shape
        view.write(out, i, tuple(slice(None) for _ in range(nd)), block)
    np.testing.assert_array_equal(out, arr)


def test_axis_view_canonical_order():
    arr = np.arange(6 * 7, dtype=np.float32).reshape(7, 6)  # axes XY
    block = AxisView(arr, "XY", 2).read(0)
    np.testing.assert_array_equal(block[0], arr.T)


@pytest.mark.parametrize(
    "axes,msg",
    [("YQ", "Unknown axis"), ("YYX", "repeat"), ("ZX", "must contain Y and X"), ("", "non-empty")],
)
def test_bad_axes_are_explained(axes, msg):
    with pytest.raises(InputError, match=msg):
        validate_axes(axes)


def test_axes_must_match_dimensions():
    with pytest.raises(InputError, match="3 dimensions"):
        validate_axes("YX", 3)
    assert default_axes(2) == "YX" and default_axes(3) == "ZYX"
    with pytest.raises(InputError):
        AxisView(np.zeros((4, 4)), "YX", 3)


def test_pair_sources():
    clean = np.random.default_rng(0).random((5, 16, 16)).astype(np.float32)
    p = synthetic_pair(clean[0], Gaussian(0.1))
    assert p.axes == "YX" and p.clean is not None and p.noise["name"] == "gaussian"
    with pytest.raises(InputError, match="same shape"):
        two_images(clean[0], clean[0, :8])
    s = stack_neighbours(clean, axis=0, axes="TYX")
    assert s.axes == "SYX" and s.input.shape == (4, 16, 16)
    np.testing.assert_array_equal(s.target[0], clean[1])
    assert np.shares_memory(s.input, clean)  # views, not copies
    z = stack_neighbours(clean[None], axis=1, axes="TZYX")
    assert z.axes == "TSYX"
    # 5 frames: (0, 1), (2, 3); 4 left out
    eo = stack_neighbours(clean, axis=0, axes="TYX", pairing="even-odd")
    assert eo.input.shape == eo.target.shape == (2, 16, 16) and np.shares_memory(eo.input, clean)
    np.testing.assert_array_equal(eo.input[1], clean[2])
    np.testing.assert_array_equal(eo.target[1], clean[3])
    with pytest.raises(InputError, match="stack"):
        stack_neighbours(clean[0])
    with pytest.raises(InputError, match="Cannot pair along"):
        stack_neighbours(clean, axis=1, axes="TYX")
    one = single_image(clean[0])
    assert one.target is None and one.mode == "nb2nb"
