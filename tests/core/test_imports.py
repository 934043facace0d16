"""The core is a library: it never imports Qt, magicgui or napari; the package import is cheap."""

import subprocess
import sys


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys; print('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(out.split())


def test_core_imports_no_gui():
    mods = _modules_after(
        "import importlib, pkgutil, napari_n2n.core\n"
        "for m in pkgutil.walk_packages(napari_n2n.core.__path__, 'napari_n2n.core.'): importlib.import_module(m.name)\n"
        "import napari_n2n.cli, napari_n2n.console, napari_n2n.cli.demo"
    )
    gui = {
        m
        for m in mods
        if m.split(".")[0]
        in {
            "qtpy",
            "PyQt5",
            "PyQt6",
            "PySide2",
            "PySide6",
            "magicgui",
            "napari",
            "superqt",
            "vispy",
        }
    }
    assert not gui, sorted(gui)[:10]


def test_package_import_is_cheap():
    mods = _modules_after("import napari_n2n")
    assert "torch" not in mods and "napari" not in mods and "qtpy" not in mods


def test_config_import_is_torch_free():
    """Widgets import TrainConfig when napari opens them; that must not cost a torch import."""
    mods = _modules_after(
        "import napari_n2n.core.config, napari_n2n.core.data.noise, napari_n2n.core.errors, "
        "napari_n2n.core.training.presets, napari_n2n.core.checks, napari_n2n.core.progress"
    )
    assert "torch" not in mods
