"""The import graph of `src/roomscribe`, read from the source: imports run one way.

Packages are the first name under `roomscribe` (`rooms`, `archive`, `pcm`, …). The wiring
(`app`, `cli`, `purgers`) and the pages (`web`) sit on top: no domain imports them, no two
packages import each other even through a third, and no module imports another package's
private name (a leading underscore).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import roomscribe

ROOT = Path(roomscribe.__file__).parent
TOP = frozenset({"app", "cli", "purgers", "web", "__main__"})


def modules() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(("roomscribe", *parts)).removesuffix(".__init__")
        yield name, ast.parse(path.read_text(), str(path))


def imports(tree: ast.Module) -> Iterator[tuple[str, str | None]]:
    """(module, name) for every import anywhere in the module, functions included."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                yield node.module, alias.name


def package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def graph() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for name, tree in modules():
        for target, imported in imports(tree):
            if target == "roomscribe" and imported and (
                    (ROOT / imported).is_dir() or (ROOT / f"{imported}.py").exists()):
                target = f"roomscribe.{imported}"  # `from roomscribe import x`, x a module
            if target.startswith("roomscribe.") and package(target) != package(name):
                edges[package(name)].add(package(target))
    return edges


def cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """A cycle among packages, if any, as the path that closes it."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt] if nxt in path else [*path, nxt]
            if nxt not in state and (found := visit(nxt, [*path, nxt])):
                return found
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (found := visit(start, [start])):
            return found
    return None


def test_the_cycle_finder_finds_cycles_and_nothing_else() -> None:
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_package_cycles() -> None:
    found = cycle(graph())
    assert found is None, " -> ".join(found or [])


def test_domains_never_import_the_app_the_cli_or_the_pages() -> None:
    wrong = sorted(f"{source} imports {target}" for source, targets in graph().items()
                   if source not in TOP for target in targets & TOP)
    assert wrong == []


def test_no_private_name_is_imported_from_another_package() -> None:
    wrong = sorted(f"{name}: {target}.{imported}" for name, tree in modules()
                   for target, imported in imports(tree)
                   if target.startswith("roomscribe.") and imported and imported.startswith("_")
                   and package(target) != package(name))
    assert wrong == []


def test_the_graph_is_read_from_the_source() -> None:
    edges = graph()
    # Known edges, so an empty graph (a broken walk) cannot pass the tests above.
    assert "rooms" in edges["web"] and "asr" in edges["captions"]
