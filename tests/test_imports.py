"""Imports go one way (DESIGN.md section 2): the graph of `rawhttp.*` imports has no cycle.

The graph is read from the source with `ast`, every import counted (at the top, inside a
function, or only for type checking), so a circle hidden behind a lazy import shows too. An
edge goes to the module named (`from rawhttp.server import tls` -> rawhttp.server.tls), or to
the package when the name is one of its attributes (`from rawhttp.server import Server`).
"""

from __future__ import annotations

import ast
import functools
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "rawhttp"


# Edges that close a circle known and not yet undone, each to be removed here once it is:
# the client's tlsstream takes TLSOptions from dial, which imports tlsstream lazily.
def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported(path: Path, name: str, known: dict[str, Path]) -> set[str]:
    """The rawhttp modules that the module `name` at `path` imports."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = name.split(".")
                anchor = parts if is_package else parts[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                child = f"{base}.{alias.name}"
                found.add(child if child in known else base)
    return {module for module in found if module in known and module != name}


@functools.cache
def _read_graph() -> dict[str, frozenset[str]]:
    known = modules()
    return {name: frozenset(imported(path, name, known)) for name, path in known.items()}


def import_graph() -> dict[str, set[str]]:
    """module -> the rawhttp modules it imports (a fresh copy: callers may edit it)."""
    return {name: set(targets) for name, targets in _read_graph().items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` as a path that ends where it starts, or None."""
    done: set[str] = set()
    path: list[str] = []
    on_path: set[str] = set()

    def visit(node: str) -> list[str] | None:
        path.append(node)
        on_path.add(node)
        for target in sorted(graph[node]):
            if target in on_path:
                return [*path[path.index(target) :], target]
            if target not in done:
                cycle = visit(target)
                if cycle:
                    return cycle
        path.pop()
        on_path.discard(node)
        done.add(node)
        return None

    for start in sorted(graph):
        if start not in done:
            cycle = visit(start)
            if cycle:
                return cycle
    return None


def test_the_graph_is_read():
    """The reader sees the edges it must (so an empty graph cannot pass for a clean one)."""
    graph = import_graph()
    assert "rawhttp.server.protocol" in graph["rawhttp.server.loop"]
    assert "rawhttp.server.loop" in graph["rawhttp.server.server"]  # a lazy import counts
    assert "rawhttp.server.server" in graph["rawhttp.server"]


def test_a_cycle_is_found():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle_in_the_package():
    assert find_cycle(import_graph()) is None


def test_the_sans_io_connection_never_imports_socket():
    names = {"socket", "selectors", "ssl"}
    tree = ast.parse((PACKAGE / "server" / "protocol.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            assert not names & {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.module not in names


SERVER_MODULES = sorted(
    name for name in modules() if name.startswith("rawhttp.server") and ".certs" not in name
)


@pytest.mark.parametrize("name", SERVER_MODULES)
def test_each_server_module_imports_alone(name):
    """In a fresh interpreter, each server module imports first (a circle would fail here)."""
    done = subprocess.run(
        [sys.executable, "-c", f"import {name}"], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
