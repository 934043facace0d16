"""The package face: one version, the stub lists what ``__init__`` exports, deprecated synonyms warn."""

import ast
import importlib
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

import napari_n2n

STUB = Path(napari_n2n.__file__).with_suffix(".pyi")


def _stub() -> tuple[dict[str, str], dict[str, str], list[str]]:
    """The stub's re-exports (name -> module), its deprecated names (name -> message), its ``__all__``."""
    imports, deprecated, names = {}, {}, []
    for node in ast.parse(STUB.read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            for alias in node.names:
                assert alias.asname == alias.name, f"{alias.name}: a stub re-exports as `X as X`"
                imports[alias.name] = f"napari_n2n.{node.module}"
        elif isinstance(node, ast.FunctionDef):
            (decorator,) = node.decorator_list
            assert ast.unparse(decorator.func) == "deprecated", node.name
            deprecated[node.name] = decorator.args[0].value
        elif isinstance(node, ast.Assign) and node.targets[0].id == "__all__":
            names = ast.literal_eval(node.value)
    return imports, deprecated, names


def test_the_stub_lists_the_names_the_face_exports_from_their_real_modules():
    imports, deprecated, names = _stub()
    assert names == napari_n2n.__all__
    assert set(imports) == set(names)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no public name is deprecated
        for name, module in imports.items():
            assert getattr(napari_n2n, name) is getattr(importlib.import_module(module), name), name
    assert deprecated and not set(deprecated) & set(names)


def test_the_package_lists_its_names_for_dir():
    assert set(napari_n2n.__all__) <= set(dir(napari_n2n))


def test_the_version_has_one_home():
    version = importlib.import_module("napari_n2n._version")
    assert napari_n2n.__version__ is version.__version__
    assert isinstance(version.__version__, str) and version.__version__


def test_load_model_lives_in_its_own_module():
    from napari_n2n.loading import load_model

    assert napari_n2n.load_model is load_model
    assert "def load_model" not in Path(napari_n2n.__file__).read_text()


@pytest.mark.parametrize("name", sorted(_stub()[1]))
def test_a_deprecated_synonym_warns_and_names_its_replacement(name):
    use = re.search(r"use (\S+) instead", _stub()[1][name]).group(1)
    with pytest.warns(DeprecationWarning, match=rf"napari_n2n\.{name} is deprecated.*{use}"):
        old = getattr(napari_n2n, name)
    assert callable(old)


def test_synthetic_pair_still_gives_what_pair_synthetic_gives():
    clean = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)
    noise = napari_n2n.Gaussian(sigma=0.1)
    with pytest.warns(DeprecationWarning, match="Pair.synthetic"):
        from napari_n2n import synthetic_pair
    old, new = synthetic_pair(clean, noise, seed=3), napari_n2n.Pair.synthetic(clean, noise, seed=3)
    np.testing.assert_array_equal(old.input, new.input)
    np.testing.assert_array_equal(old.target, new.target)
    assert (old.axes, old.mode, old.noise) == (new.axes, new.mode, new.noise)
    assert (new.axes, new.mode, new.noise) == ("YX", "n2n", noise.to_dict())
    assert new.clean is not None and not np.array_equal(new.input, new.target)


def test_star_import_gives_the_public_names_without_deprecated_ones():
    namespace: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        exec("from napari_n2n import *", namespace)
    assert "Pair" in namespace and "load_model" in namespace
    assert not set(_stub()[1]) & set(namespace)


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        napari_n2n.nonsense  # noqa: B018
