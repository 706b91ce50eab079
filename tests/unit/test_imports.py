"""The project's modules import each other without cycles, and none imports the CLI.

Imports are read from the source with ``ast``, so the ones inside functions (which
Python resolves only when the function runs, hiding a cycle until then) count too.
An import of a submodule is an edge to that submodule; the implicit import of the
package's ``__init__`` on the way is not counted (every submodule would otherwise
"import" its package, which imports its submodules).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("agents", "bench", "config", "crmstream", "models", "schemas", "streams")
CLI = "crmstream.cli"
#: ``python -m crmstream`` runs the command line: the one module allowed to import it.
CLI_ENTRY_POINTS = {"crmstream.__main__"}


def project_modules() -> dict[str, Path]:
    """Every module of the project's packages by dotted name (a package by its own)."""
    modules = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            modules[".".join(p for p in parts if p != "__init__")] = path
    return modules


def imported_names(source: str, module: str, *, is_package: bool) -> set[str]:
    """Every dotted name an import anywhere in ``source`` may load (``from a import b``
    gives ``a`` and ``a.b``; relative imports are resolved against ``module``)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def import_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Module → the project modules it imports (the longest known prefix of each name)."""
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for imported in imported_names(
            path.read_text(encoding="utf-8"), name, is_package=path.name == "__init__.py"
        ):
            while imported and imported not in modules:
                imported = imported.rpartition(".")[0]
            if imported and imported != name:
                targets.add(imported)
        graph[name] = targets
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path that starts and ends on the same module, or None."""
    done: set[str] = set()
    for start in sorted(graph):
        if start in done:
            continue
        path: list[str] = []
        on_path: set[str] = set()
        stack: list[tuple[str, list[str]]] = [(start, sorted(graph[start]))]
        path.append(start)
        on_path.add(start)
        while stack:
            node, pending = stack[-1]
            if not pending:
                stack.pop()
                path.pop()
                on_path.discard(node)
                done.add(node)
                continue
            target = pending.pop()
            if target in on_path:
                return [*path[path.index(target) :], target]
            if target not in done:
                stack.append((target, sorted(graph.get(target, ()))))
                path.append(target)
                on_path.add(target)
    return None


def test_function_local_and_relative_imports_are_read() -> None:
    source = (
        "import os\n"
        "from . import sibling\n"
        "def later() -> None:\n"
        "    from crmstream.cli import app\n"
    )
    names = imported_names(source, "bench.run", is_package=False)
    assert {"os", "crmstream.cli", "crmstream.cli.app", "bench", "bench.sibling"} <= names


def test_a_cycle_is_found_and_named() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"x": {"y"}, "y": {"y2"}, "y2": {"y"}}) == ["y", "y2", "y"]


def test_the_graph_sees_every_package_and_the_imports_inside_functions() -> None:
    graph = import_graph(project_modules())
    assert {name.partition(".")[0] for name in graph} == set(PACKAGES)
    # crmstream.cli imports the bench only inside the ``bench`` command.
    assert "bench.run" in graph[CLI]


def test_no_module_imports_another_that_imports_it_back() -> None:
    cycle = find_cycle(import_graph(project_modules()))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_no_module_imports_the_command_line() -> None:
    graph = import_graph(project_modules())
    importers = sorted(
        name for name, targets in graph.items() if CLI in targets and name not in CLI_ENTRY_POINTS
    )
    assert importers == [], f"{importers} import {CLI}: move what they need into a library module"
