"""The package's import graph has no cycle, counting imports inside functions too: a
cycle hidden behind a function-level import is still two modules that need each other."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "builder"


def _module(path: Path, package: Path) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    modules = {_module(p, package): p for p in package.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # `from builder import job` imports builder.job; `from builder.x import y`
                # imports builder.x (and builder.x.y when that is a module).
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for target in targets:
                if target in modules and target != name and not name.startswith(f"{target}."):
                    graph[name].add(target)
    return graph


def test_the_package_has_no_import_cycle() -> None:
    graph = import_graph()
    assert len(graph) > 40  # the walk found the package
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as e:
        raise AssertionError(f"import cycle: {' -> '.join(e.args[1])}") from None


def test_the_cycle_check_sees_function_level_imports(tmp_path: Path) -> None:
    package = tmp_path / "builder"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from builder import b\n")
    (package / "b.py").write_text("def f():\n    from builder.a import x\n")
    assert import_graph(package) == {"builder": set(), "builder.a": {"builder.b"},
                                     "builder.b": {"builder.a"}}  # fmt: skip


def test_no_module_is_over_500_lines() -> None:
    """A module past 500 lines is two modules (STYLE.md)."""
    long = {
        str(p.relative_to(PACKAGE.parent)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 500
    }
    assert long == {}
