"""The package's imports run one way: no cycle, and no module imports a layer above its own.

Every module under ``src/gifemo`` is parsed with :mod:`ast` (nothing is imported), and every
import of a gifemo module is an edge, whether at module level or inside a function (a lazy
import still ties the two modules together). ``from pkg import name`` counts as an edge to
``pkg.name`` when that is a module, else to ``pkg``. A module's edges to its own ancestor
packages are left out: Python imports those implicitly before the module itself.

The layers, bottom to top (docs/architecture.md draws them)::

    atomic, labels, paths, preprocess, hardware, formatting   (utilities)
    < io < data < models < training < evaluation < inference
    < experiments = serve < demo = doctor < cli < gifemo (the package's own __init__)

An import may stay within a layer (without a cycle) or go down, never up.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "gifemo"

#: Rank of each layer; modules of equal rank may import each other (without a cycle).
LAYERS: dict[str, int] = {
    "atomic": 0,
    "labels": 0,
    "paths": 0,
    "preprocess": 0,
    "hardware": 0,
    "formatting": 0,
    "io": 1,
    "data": 2,
    "models": 3,
    "training": 4,
    "evaluation": 5,
    "inference": 6,
    "experiments": 7,
    "serve": 7,
    "demo": 8,
    "doctor": 8,
    "cli": 9,
}
#: The ``gifemo`` package itself (its ``__init__``, the facade: ``gifemo.load``).
FACADE_RANK = 10


def module_files(src: Path = SRC) -> dict[str, Path]:
    """``{"gifemo.io.decode": path, "gifemo.io": path/__init__.py, ...}``."""
    modules = {}
    for path in sorted((src / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def is_package(modules: Mapping[str, Path], name: str) -> bool:
    return modules[name].name == "__init__.py"


def imported_modules(name: str, tree: ast.AST, modules: Mapping[str, Path]) -> set[str]:
    """The gifemo modules that module ``name`` (parsed as ``tree``) imports, anywhere in it."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == PACKAGE:
                    found.add(_known(alias.name, modules))
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                package = name.split(".") if is_package(modules, name) else name.split(".")[:-1]
                base = ".".join(
                    package[: len(package) - node.level + 1]
                    + ([node.module] if node.module else [])
                )
            else:
                base = node.module or ""
            if base.split(".")[0] != PACKAGE:
                continue
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in modules else _known(base, modules))
    ancestors = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
    return found - ancestors - {name}


def _known(dotted: str, modules: Mapping[str, Path]) -> str:
    """The longest prefix of ``dotted`` that is a gifemo module (``gifemo.io.decode.x``: the
    decode module)."""
    parts = dotted.split(".")
    while parts and ".".join(parts) not in modules:
        parts.pop()
    if not parts:
        raise AssertionError(f"import of {dotted!r}: no such module under src/{PACKAGE}")
    return ".".join(parts)


def import_graph(src: Path = SRC) -> dict[str, set[str]]:
    modules = module_files(src)
    return {
        name: imported_modules(
            name, ast.parse(path.read_text(encoding="utf-8"), str(path)), modules
        )
        for name, path in modules.items()
    }


def find_cycle(graph: Mapping[str, Iterable[str]]) -> list[str] | None:
    """One cycle of ``graph`` as ``[a, b, ..., a]``, or None; depth-first, iterative."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in sorted(graph):
        if state.get(root):
            continue
        path, stack = [root], [iter(sorted(graph.get(root, ())))]
        state[root] = 1
        while stack:
            child = next(stack[-1], None)
            if child is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(child) == 1:
                return path[path.index(child) :] + [child]
            elif not state.get(child):
                state[child] = 1
                path.append(child)
                stack.append(iter(sorted(graph.get(child, ()))))
    return None


def layer_rank(module: str) -> int:
    parts = module.split(".")
    if parts == [PACKAGE]:
        return FACADE_RANK
    if parts[1] not in LAYERS:
        raise AssertionError(
            f"{module}: in no layer; add gifemo.{parts[1]} to LAYERS (and docs/architecture.md)"
        )
    return LAYERS[parts[1]]


def upward_edges(graph: Mapping[str, Iterable[str]]) -> list[str]:
    return sorted(
        f"{a} (layer {layer_rank(a)}) imports {b} (layer {layer_rank(b)})"
        for a, targets in graph.items()
        for b in targets
        if layer_rank(b) > layer_rank(a)
    )


# -- the checks on the package ---------------------------------------------------------------


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph()


def test_the_package_has_no_import_cycle(graph):
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_module_imports_a_layer_above_its_own(graph):
    assert upward_edges(graph) == []


def test_the_graph_sees_lazy_and_from_imports(graph):
    # Guards the parser itself: a lazy import inside a function, and a submodule named in a
    # `from package import submodule`, are both edges.
    assert "gifemo.inference" in graph[PACKAGE], "gifemo.load imports gifemo.inference lazily"
    assert "gifemo.cli.train" in graph["gifemo.cli"], "from gifemo.cli import train"


# -- the checker checks itself ---------------------------------------------------------------


def test_find_cycle_finds_a_cycle_and_only_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None, "a diamond is no cycle"
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"x": {"y"}, "y": {"z"}, "z": {"y"}}) == ["y", "z", "y"]
    assert find_cycle({"a": {"a"}}) == ["a", "a"]


def test_upward_edges_names_the_offending_import():
    fake = {
        "gifemo.training.fit": {"gifemo.evaluation.evaluate"},
        "gifemo.evaluation.evaluate": set(),
    }
    (edge,) = upward_edges(fake)
    assert edge.startswith(
        "gifemo.training.fit (layer 4) imports gifemo.evaluation.evaluate (layer 5)"
    )


def test_edges_come_from_every_kind_of_import(tmp_path):
    root = tmp_path / PACKAGE
    (root / "sub").mkdir(parents=True)
    for name in ("__init__.py", "a.py", "b.py", "sub/__init__.py", "sub/c.py"):
        (root / name).write_text("")
    (root / "sub" / "c.py").write_text(
        "from gifemo import a\n"  # a submodule named in `from package import`
        "from gifemo.sub import helper\n"  # a name of the own package: an ancestor, ignored
        "def f():\n"
        "    import gifemo.b.thing\n"  # lazy, and a dotted name inside a module
        "    from .. import b\n"  # relative
    )
    assert import_graph(tmp_path)["gifemo.sub.c"] == {"gifemo.a", "gifemo.b"}
