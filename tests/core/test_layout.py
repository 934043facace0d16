"""The package's shape: no import circles between its modules."""

import ast
from pathlib import Path

import napari_n2n

PACKAGE = Path(napari_n2n.__file__).resolve().parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, name: str) -> set[str]:
    """Modules of the package that ``path`` imports anywhere (also inside functions)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rsplit(".", 1)[0]
            target = (
                (f"{base}.{node.module}" if node.module else base)
                if node.level
                else (node.module or "")
            )
            found.add(target)
            found.update(f"{target}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return found


def test_no_import_circles():
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {m: {t for t in _imports(p, m) if t in files and t != m} for m, p in files.items()}
    # a package's __init__ is imported by its submodules on the way in: edges into it are not circles
    packages = {m for m, p in files.items() if p.name == "__init__.py"}
    graph = {
        m: {t for t in deps if t not in packages or files[m].name == "__init__.py"}
        for m, deps in graph.items()
    }
    state: dict[str, int] = {}
    circles = []

    def visit(m, stack):
        state[m] = 1
        for t in graph[m]:
            if state.get(t) == 1:
                circles.append(stack[stack.index(t) :] + [t] if t in stack else [m, t])
            elif t not in state:
                visit(t, stack + [t])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not circles, circles
