"""The tree's one-way rule: features depend on the kernel, never the other way (issue #12).

Imports are read from the source (every ``import`` statement, deferred ones
inside functions included), so a cycle hidden behind a late import counts.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parent.parent
KERNEL: Final = "appliance"
FEATURES: Final = (
    "filter",
    "captive_portal",
    "cache",
    "appstore",
    "storage",
    "sync",
    "helpdesk",
    "updates",
)
# The modules a feature offers to others: its config section and declared interfaces.
PUBLIC: Final = {
    "appstore.central",
    "cache.steering",
    "cache.config",
    "filter.class_blocks",
    "filter.config",
    "captive_portal.config",
    "captive_portal.carts",
    "storage.config",
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _runtime_nodes(tree: ast.AST) -> list[ast.AST]:
    """Return every node except those under ``if TYPE_CHECKING:`` (never imported at run time)."""
    found: list[ast.AST] = []
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and ast.unparse(node.test) in (
            "TYPE_CHECKING",
            "typing.TYPE_CHECKING",
        ):
            pending += node.orelse
            continue
        found.append(node)
        pending += ast.iter_child_nodes(node)
    return found


def import_graph() -> dict[str, set[str]]:
    """Return each project module's imported project modules."""
    modules = {
        _module_name(path): path
        for top in (KERNEL, *FEATURES)
        if (ROOT / top).is_dir()
        for path in (ROOT / top).rglob("*.py")
    }
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets: set[str] = set()
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in _runtime_nodes(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                candidates = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                candidates = [f"{base}.{alias.name}" for alias in node.names]
                if not all(candidate in modules for candidate in candidates):
                    candidates.append(base)  # names from the module itself
            else:
                continue
            for candidate in candidates:
                while candidate and candidate not in modules:
                    candidate = candidate.rpartition(".")[0]
                if candidate and candidate != name:
                    targets.add(candidate)
        graph[name] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Return the strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle() -> None:
    assert cycles(import_graph()) == []


def test_the_kernel_imports_no_feature() -> None:
    offending = {
        f"{module} imports {target}"
        for module, targets in import_graph().items()
        if module.split(".")[0] == KERNEL
        for target in targets
        if target.split(".")[0] in FEATURES
    }
    assert offending == set()


def test_features_use_each_other_only_through_public_modules() -> None:
    offending = {
        f"{module} imports {target}"
        for module, targets in import_graph().items()
        if module.split(".")[0] in FEATURES
        for target in targets
        if target.split(".")[0] in FEATURES
        and target.split(".")[0] != module.split(".")[0]
        and target not in PUBLIC
    }
    assert offending == set()


def test_the_checker_sees_a_cycle_and_a_late_import() -> None:
    """The checks above can fail: a deferred import closing a loop is a cycle."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert "appliance.features" in import_graph()["appliance.config"]
