"""backend.sandbox's structure: no import cycle, and moto patched in the one module that says so.

Read from the source (AST), so imports inside functions and under TYPE_CHECKING count too: a
cycle hidden there is still a cycle for whoever reads the code.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "backend" / "sandbox"
PATCHERS = {"moto_hooks"}  # the one module that patches moto
MOTO_READERS = {"moto_hooks", "moto_views"}  # the modules that import moto's submodules


def modules() -> dict[str, ast.Module]:
    return {path.stem: ast.parse(path.read_text(), str(path)) for path in sorted(PACKAGE.glob("*.py"))}


def imported(tree: ast.Module, names: set[str]) -> set[str]:
    """The modules of backend.sandbox that tree imports (relative or absolute, anywhere in the file)."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:
                parts = node.module.split(".") if node.module else []
            elif node.level == 0 and node.module and node.module.startswith("backend.sandbox"):
                parts = node.module.split(".")[2:]
            else:
                continue
            if parts:
                found.add(parts[0])
            else:  # from . import a, b
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[:2] == ["backend", "sandbox"] and len(parts) > 2:
                    found.add(parts[2])
    return {name for name in found if name in names}


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of the graph (as a path that returns to its start), or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_cycle_finder_finds_a_cycle():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) is None


def test_backend_sandbox_has_no_import_cycle():
    trees = modules()
    graph = {name: imported(tree, set(trees)) - {name} for name, tree in trees.items() if name != "__init__"}
    assert cycle(graph) is None, f"import cycle in backend.sandbox: {' -> '.join(cycle(graph) or [])}"


def test_only_moto_hooks_and_moto_views_import_motos_internals():
    for name, tree in modules().items():
        for node in ast.walk(tree):
            targets = ([node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0
                       else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            for target in targets:
                if target.startswith("moto."):
                    assert name in MOTO_READERS, f"{name}.py imports {target}: moto is reached through moto_hooks/moto_views"


def patch_calls(tree: ast.Module) -> list[int]:
    """Lines calling <…>patches.set/add/set_item(…) or setattr(…): the ways moto gets patched."""
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id == "setattr":
            lines.append(node.lineno)
        elif isinstance(func, ast.Attribute) and func.attr in ("set", "add", "set_item"):
            owner = func.value
            owner_name = owner.id if isinstance(owner, ast.Name) else owner.attr if isinstance(owner, ast.Attribute) else ""
            if owner_name == "patches":
                lines.append(node.lineno)
    return lines


@pytest.mark.parametrize("name", sorted(p.stem for p in PACKAGE.glob("*.py")))
def test_moto_is_patched_only_in_moto_hooks(name):
    lines = patch_calls(modules()[name])
    if name in PATCHERS:
        assert lines, "moto_hooks.py patches nothing: update PATCHERS and the docstrings"
    else:
        assert not lines, f"{name}.py patches at lines {lines}: every moto patch belongs in moto_hooks.py"


def test_moto_hooks_are_pinned_and_reversible():
    from backend.sandbox import moto_hooks

    class Owner:
        existing = "original"

    patches = moto_hooks.Patches()
    patches.set(Owner, "existing", "replaced")
    patches.add(Owner, "added", "new")
    config = {"kept": 1}
    patches.set_item(config, "new_key", 2)
    with pytest.raises(AttributeError):
        patches.add(Owner, "existing", "again")  # a replacement must say so (set), not hide as an addition
    assert (Owner.existing, Owner.added, config["new_key"]) == ("replaced", "new", 2)
    patches.undo()
    assert Owner.existing == "original" and not hasattr(Owner, "added") and config == {"kept": 1}
    moto_hooks.check_moto_version()  # the installed moto is the one the hooks were written for
