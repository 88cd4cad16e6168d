"""No import circle between the modules of flip-sync's packages.

The graph is read from the source (AST), not by importing: an edge A → B for every import that
runs when A is imported — the module body, class bodies, ``try``/``if``/``with`` blocks — but not
imports inside functions (deliberately lazy) nor under ``if TYPE_CHECKING:`` (never run).
``from pkg import name`` points at ``pkg.name`` when that is a module, else at ``pkg``.
Importing ``a.b.c`` also runs ``a/__init__`` and ``a/b/__init__`` first; those implicit edges to
parent packages are left out (a package that re-exports its submodules would otherwise always
be "circular"), so a package's ``__init__`` that imports a submodule is fine, while two sibling
modules importing each other, directly or around a longer loop, are not.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("protocol", "firmware_bridge", "vessel_agent", "shore_gateway", "simulator", "flip")


def modules(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    """Dotted module name → source file, for every module of ``packages`` under ``root``."""
    out: dict[str, Path] = {}
    for pkg in packages:
        for path in sorted((root / pkg).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_time_nodes(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """The statements of ``body`` that run at import time, nested blocks included."""
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        yield node
        if isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                yield from _import_time_nodes(node.body)
            yield from _import_time_nodes(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody):
                yield from _import_time_nodes(block)
            for handler in node.handlers:
                yield from _import_time_nodes(handler.body)
        elif isinstance(node, (ast.With, ast.For, ast.While, ast.ClassDef)):
            yield from _import_time_nodes(node.body)
            if isinstance(node, (ast.For, ast.While)):
                yield from _import_time_nodes(node.orelse)


def _known(name: str, mods: dict[str, Path]) -> str | None:
    """``name`` or its longest prefix that is one of ``mods``."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in mods:
            return candidate
        parts.pop()
    return None


def graph(mods: dict[str, Path]) -> dict[str, set[str]]:
    """Import-time edges between ``mods`` (see the module docstring)."""
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        is_pkg = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in _import_time_nodes(tree.body):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    pkg_parts = mod.split(".") if is_pkg else mod.split(".")[:-1]
                    pkg_parts = pkg_parts[: len(pkg_parts) - (node.level - 1)]
                    base = ".".join([*pkg_parts, *([base] if base else [])])
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.append(sub if sub in mods else base)
            for target in targets:
                known = _known(target, mods)
                if known is not None and known != mod:
                    edges[mod].add(known)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:  # recursion depth is bounded by the number of modules
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(found)


def _loop(edges: dict[str, set[str]], component: list[str]) -> list[str]:
    """One concrete loop inside a component, for the failure message: a → b → … → a."""
    members = set(component)
    start = component[0]
    path = [start]
    seen = {start}
    while True:
        nxt = sorted(edges[path[-1]] & members)
        back = [n for n in nxt if n in seen]
        if back:
            return [*path[path.index(back[0]) :], back[0]]
        path.append(nxt[0])
        seen.add(nxt[0])


def test_no_import_cycle_in_any_package() -> None:
    edges = graph(modules(ROOT, PACKAGES))
    assert sum(len(e) for e in edges.values()) > 100  # the graph really was read
    loops = [" → ".join(_loop(edges, c)) for c in cycles(edges)]
    assert loops == [], "import circles:\n" + "\n".join(loops)


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_the_checker_finds_a_circle_and_ignores_lazy_imports(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "from pkg import a\n",  # a package importing its module: fine
            "pkg/a.py": "from pkg.b import thing\n",
            "pkg/b.py": "import typing\nif typing.TYPE_CHECKING:\n    from pkg import a\n"
            "def f():\n    from pkg import a\n    return a\n"
            "try:\n    from . import c\nexcept ImportError:\n    pass\n",
            "pkg/c.py": "class K:\n    from pkg.a import thing\n",
        },
    )
    edges = graph(modules(tmp_path, ("pkg",)))
    assert edges["pkg.b"] == {"pkg.c"}  # the lazy and TYPE_CHECKING imports are not edges
    assert cycles(edges) == [["pkg.a", "pkg.b", "pkg.c"]]
    assert _loop(edges, ["pkg.a", "pkg.b", "pkg.c"]) == ["pkg.a", "pkg.b", "pkg.c", "pkg.a"]

    (tmp_path / "pkg/c.py").write_text("def g():\n    from pkg.a import thing\n")
    assert cycles(graph(modules(tmp_path, ("pkg",)))) == []
