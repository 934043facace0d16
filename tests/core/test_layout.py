"""The package's shape, as tools see it.

The layering itself (each layer imports only the layers below it, no import circles, the core
imports no Qt, nothing imports the package face) is a set of import-linter contracts in
``pyproject.toml``; the first test runs them. The formatter (``ruff format --check`` in
``.ci/run``) sets the texture, so a module's line count here is its formatted size: a signal to
split a module by job, never a budget to pack lines into.
"""

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import napari_n2n

PACKAGE = Path(napari_n2n.__file__).resolve().parent
ROOT = PACKAGE.parents[1]

#: formatted lines above which a module should say why it is one module
SIZE_SIGNAL = 600

#: modules allowed past SIZE_SIGNAL, each with the reason it stays whole
LARGE_MODULES: dict[str, str] = {
    "core/training/train.py": (
        "the Trainer: one class owns a run's state (samplers, kept weights, history, clock), and "
        "the loop's parts are its methods; splitting it would have other modules read that "
        "state again (every other part of training already has its own module)"
    ),
    "core/checkpoint.py": (
        "one file format: the model file's schema, migrations, atomic write, reading and the "
        "validation of every field and tensor; the training state (training/resume.py) reuses "
        "the same header reader and checks, and a second home for half of them would drift"
    ),
    "core/files.py": (
        "one job, safe writes: the checks before the work, the staged temporary file, the "
        "atomic commit that notices another writer, the fallback places and the removal of "
        "what killed writes left all share the Destination's state and its temporary names"
    ),
    "io/omezarr.py": (
        "one format, read and written: the OME-NGFF rules for axes, units, scale and translation "
        "are shared by the reader and the writer and belong together"
    ),
}


def _modules():
    return sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.skipif(
    shutil.which("lint-imports", path=str(Path(sys.executable).parent)) is None,
    reason="import-linter is not installed (pip install '.[test]')",
)
def test_the_import_contracts_hold():
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    proc = subprocess.run([lint], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_a_module_past_the_size_signal_says_why_it_stays_whole():
    sizes = {str(p.relative_to(PACKAGE)): len(p.read_text().splitlines()) for p in _modules()}
    unexplained = {m: n for m, n in sizes.items() if n > SIZE_SIGNAL and m not in LARGE_MODULES}
    assert not unexplained, f"split these by job, or give a reason in LARGE_MODULES: {unexplained}"
    stale = {m for m in LARGE_MODULES if sizes.get(m, 0) <= SIZE_SIGNAL}
    assert not stale, f"no longer past the size signal: remove from LARGE_MODULES: {stale}"


#: standard-library functions whose documented names start with an underscore
DOCUMENTED_UNDERSCORED = {("os", "_exit"), ("sys", "_getframe")}


def _private_reads(path: Path) -> list[str]:
    """``obj._name`` where ``obj`` is neither ``self``, ``cls`` nor ``super()``: another object's state."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not (isinstance(node, ast.Attribute) and node.attr.startswith("_")):
            continue
        if node.attr.startswith("__") and node.attr.endswith("__"):
            continue
        owner = node.value
        if isinstance(owner, ast.Name) and owner.id in {"self", "cls"}:
            continue
        if isinstance(owner, ast.Call) and getattr(owner.func, "id", None) == "super":
            continue
        if isinstance(owner, ast.Name) and (owner.id, node.attr) in DOCUMENTED_UNDERSCORED:
            continue
        found.append(f"{path.relative_to(PACKAGE)}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_no_module_reads_another_objects_private_attributes():
    reads = [r for p in _modules() for r in _private_reads(p)]
    assert not reads, "\n".join(reads)
