"""Fixtures of the command-line tests."""

import pytest
import tifffile


@pytest.fixture
def pair_files(tmp_path, gaussian_pair):
    """A folder holding the noisy pair ``a.tif`` and ``b.tif`` (Gaussian noise)."""
    _, a, b = gaussian_pair
    tifffile.imwrite(tmp_path / "a.tif", a)
    tifffile.imwrite(tmp_path / "b.tif", b)
    return tmp_path
