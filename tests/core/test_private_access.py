"""One object owns a run's state: no core module reads another object's private attributes."""

import ast
from pathlib import Path

import napari_n2n.core

CORE = Path(napari_n2n.core.__file__).parent


def _private_reads(path: Path) -> list[str]:
    """``obj._name`` where ``obj`` is not ``self``, ``cls`` or ``super()`` (dunders are public)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Attribute):
            continue
        name = node.attr
        if not name.startswith("_") or (name.startswith("__") and name.endswith("__")):
            continue
        owner = node.value
        if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
            continue
        if isinstance(owner, ast.Call) and getattr(owner.func, "id", None) == "super":
            continue
        found.append(f"{path.relative_to(CORE.parent)}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_the_core_reads_no_private_attributes_of_other_objects():
    reads = [r for path in sorted(CORE.rglob("*.py")) for r in _private_reads(path)]
    assert reads == [], "\n".join(reads)
