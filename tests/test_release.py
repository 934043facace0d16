"""Ready to publish: licence, project addresses, hub description, links that work off GitHub, and a
wheel that installs and runs on its own.

The project's addresses are placeholders until it has its public home (listed in pyproject's
``[tool.napari-n2n.release] placeholder-urls``). An ordinary run only reports them;
``N2N_RELEASE=1 python -m pytest tests/test_release.py`` (the release check) fails while one
remains in pyproject.toml, README.md or .napari-hub/. Once the project lives at a listed address,
removing it from that list is the confirmation.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
#: what PyPI and the napari hub show: links relative to the repository break there
SHOWN_OFF_GITHUB = [ROOT / "README.md", ROOT / ".napari-hub" / "DESCRIPTION.md"]
#: markdown links and images ``[text](target)``, reference links ``[id]: target``, HTML src/href
_LINK = re.compile(
    r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)|^\s*\[[^\]]+\]:\s*(\S+)|(?:src|href)=[\"']([^\"']+)", re.M
)
_URL = re.compile(r"https?://[^\s)\"'>\]]+")


def _targets(text: str) -> list[str]:
    return [next(g for g in m.groups() if g) for m in _LINK.finditer(text)]


def test_links_shown_on_pypi_and_the_hub_are_absolute():
    for path in SHOWN_OFF_GITHUB:
        text = path.read_text(encoding="utf-8")
        relative = [
            t for t in _targets(text) if not re.match(r"(https?:|mailto:|#)", t, re.IGNORECASE)
        ]
        assert _targets(text), f"{path.name}: no links found (is the pattern still right?)"
        assert not relative, f"{path.name} links relative to the repository: {relative}"


def test_the_licence_file_is_the_declared_licence():
    project = PYPROJECT["project"]
    assert project["license"] == "BSD-3-Clause"  # an SPDX expression (PEP 639)
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("BSD 3-Clause License")
    assert "Neither the name of the copyright holder" in text
    assert project["authors"][0]["name"] in text


def test_the_project_has_the_addresses_the_hub_shows():
    urls = PYPROJECT["project"]["urls"]
    assert {"Homepage", "Bug Tracker", "Documentation", "Source Code", "User Support"} <= set(urls)
    assert all(u.startswith("https://") for u in urls.values())


def test_the_hub_config_names_the_same_addresses():
    import yaml

    config = yaml.safe_load((ROOT / ".napari-hub" / "config.yml").read_text(encoding="utf-8"))
    assert config["visibility"] == "public" and config["summary"]
    urls = PYPROJECT["project"]["urls"]
    assert config["project_urls"]["Report Issues"] == urls["Bug Tracker"]
    assert config["project_urls"]["Documentation"] == urls["Documentation"]


def _placeholders_left() -> list[str]:
    prefixes = PYPROJECT["tool"]["napari-n2n"]["release"]["placeholder-urls"]
    files = [ROOT / "pyproject.toml", *SHOWN_OFF_GITHUB, ROOT / ".napari-hub" / "config.yml"]
    found = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        if path.name == "pyproject.toml":  # the list itself is no use of a placeholder
            text = "\n".join(f"{k} = {v}" for k, v in PYPROJECT["project"]["urls"].items())
        found += [f"{path.name}: {u}" for u in _URL.findall(text) if u.startswith(tuple(prefixes))]
    return found


def test_no_placeholder_address_is_left_in_a_release():
    left = _placeholders_left()
    if os.environ.get("N2N_RELEASE") != "1":
        pytest.skip(f"{len(left)} placeholder addresses (checked by a release run, N2N_RELEASE=1)")
    assert not left, (
        "placeholder addresses left; put the project's real addresses in, or remove the "
        f"placeholder from pyproject's [tool.napari-n2n.release] once it is the real home: {left}"
    )


def _run(args, env=None, cwd=None, timeout=300) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout
    )
    assert result.returncode == 0, f"{args}: {result.stdout[-2000:]}{result.stderr[-2000:]}"
    return result


@pytest.mark.slow
def test_the_wheel_installs_into_a_fresh_environment_and_runs(tmp_path):
    """Build the wheel (offline), install it alone into a new venv, run the command from there.

    The new venv sees this environment's dependencies (torch, napari, ...) through a path file,
    so nothing is downloaded, but not napari-n2n's editable install (the path file adds a plain
    folder, whose own .pth files Python does not run): the package comes from the wheel.
    """
    tree = tmp_path / "tree"
    tree.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, tree / name)
    shutil.copytree(
        ROOT / "src", tree / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    pip = [sys.executable, "-m", "pip"]
    _run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", "dist", tree],
        cwd=tmp_path,
    )
    (wheel,) = (tmp_path / "dist").glob("napari_n2n-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "napari_n2n/napari.yaml" in names and "napari_n2n/models/general-2d.n2n" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    metadata = (
        zipfile.ZipFile(wheel)
        .read(next(n for n in names if n.endswith(".dist-info/METADATA")))
        .decode()
    )
    assert "License-Expression: BSD-3-Clause" in metadata
    assert "Project-URL: Bug Tracker, " in metadata

    env_dir = tmp_path / "env"
    _run([sys.executable, "-m", "venv", "--without-pip", env_dir])
    python = env_dir / "bin" / "python"
    site = Path(
        _run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
        ).stdout.strip()
    )
    (site / "_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([*pip, "--python", python, "install", "--no-deps", "--no-index", "--quiet", wheel])

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    where = _run([python, "-c", "import napari_n2n; print(napari_n2n.__file__)"], env=env)
    assert where.stdout.strip().startswith(str(site)), where.stdout
    command = env_dir / "bin" / "napari-n2n"
    assert "predict" in _run([command, "--help"], env=env).stdout
    manifest = _run(
        [
            python,
            "-c",
            "from npe2 import PluginManifest; pm = PluginManifest.from_distribution('napari-n2n'); "
            "pm.validate_imports(); print(pm.contributions.readers[0].command)",
        ],
        env=env,
    )
    assert manifest.stdout.strip().endswith("napari-n2n.get_reader")

    # the smoke run: a noisy pair, three steps of training from the bundled general model, predict
    import numpy as np
    import tifffile
    from skimage import data

    clean = data.camera()[:96, :96].astype(np.float32)
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        tifffile.imwrite(
            tmp_path / f"{name}.tif", clean + rng.normal(0, 25, clean.shape).astype(np.float32)
        )
    train = [command, "train", "--input", "a.tif", "--target", "b.tif", "--model", "m.n2n"]
    _run(
        [*train, "--steps", "3", "--batch", "2", "--patch", "32", "--device", "cpu"],
        env=env,
        cwd=tmp_path,
    )
    predict = [command, "predict", "--model", "m.n2n", "--input", "a.tif", "--output", "out.tif"]
    _run(predict, env=env, cwd=tmp_path)
    out = tifffile.imread(tmp_path / "out.tif")
    assert out.shape == clean.shape and np.isfinite(out).all()
    assert np.abs(out - clean).mean() < np.abs(tifffile.imread(tmp_path / "a.tif") - clean).mean()
