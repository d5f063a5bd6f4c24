"""The structure the code base keeps (DESIGN.md, connectors/README.md), checked on the source itself:
`connectors/` and `mappings/` import nothing from `engine/`; a vendor's package is imported only by itself and
`connectors/registry.py`; no import cycle between modules, counting the imports placed inside functions (the CLI
defers some to keep `inlet`'s start short; none may be there to hide a cycle)."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("engine", "connectors", "mappings")
VENDORS = sorted(p.name for p in (ROOT / "connectors").iterdir()
                 if p.is_dir() and p.name not in ("kit", "__pycache__") and (p / "spec.py").is_file())


@functools.cache
def modules() -> dict[str, ast.Module]:
    """Every module of the three layers, parsed once for all the tests here."""
    found = {}
    for layer in LAYERS:
        for path in sorted((ROOT / layer).rglob("*.py")):
            found[str(path.relative_to(ROOT))] = ast.parse(path.read_text(), str(path))
    return found


def imported(tree: ast.AST) -> list[tuple[str, ast.AST]]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [(alias.name, node) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append((node.module, node))
    return names


def test_the_vendors_are_found():
    assert {"stripe", "hubspot", "shopify"} <= set(VENDORS)


def test_connectors_and_mappings_never_import_the_engine():
    wrong = [f"{path}: {name}" for path, tree in modules().items() if not path.startswith("engine/")
             for name, _ in imported(tree) if name == "engine" or name.startswith("engine.")]
    assert not wrong


def test_a_vendor_package_is_imported_only_by_itself_and_the_registry():
    wrong = []
    for path, tree in modules().items():
        for name, _ in imported(tree):
            parts = name.split(".")
            vendor = parts[1] if parts[0] == "connectors" and len(parts) > 1 and parts[1] in VENDORS else None
            if vendor and path != "connectors/registry.py" and not path.startswith(f"connectors/{vendor}/"):
                wrong.append(f"{path}: {name}")
    assert not wrong


def module_name(path: str) -> str:
    name = path.removesuffix(".py").replace("/", ".")
    return name.removesuffix(".__init__")


def test_no_import_cycle_even_through_imports_inside_functions():
    trees = modules()
    known = {module_name(path) for path in trees}
    graph: dict[str, set[str]] = {}
    for path, tree in trees.items():
        edges = graph.setdefault(module_name(path), set())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module in known:
                # `from package import module` depends on the module; `from module import name` on the module
                targets = {f"{node.module}.{a.name}" for a in node.names} & known or {node.module}
            elif isinstance(node, ast.Import):
                targets = {a.name for a in node.names} & known
            else:
                continue
            edges |= targets - {module_name(path)}
    cycles = [sorted(component) for component in strongly_connected(graph) if len(component) > 1]
    assert not cycles


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iterative."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    found.append(component)
    return found


def test_the_cycle_finder_finds_cycles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}}
    assert sorted(sorted(c) for c in strongly_connected(graph) if len(c) > 1) == [["a", "b", "c"]]
