"""The package's import graph has no cycle, lazy imports included: every arrow between
edgekit's modules runs one way (docs/architecture.md). A planted upward import is caught."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "edgekit"


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def import_graph(extra: dict[str, str] | None = None, *,
                 typing: bool = False) -> dict[str, set[str]]:
    """Top-level unit (``runtimes``, ``parity``, ``bundle``...) -> the units it imports,
    at module level or inside functions; ``TYPE_CHECKING`` blocks are left out unless
    ``typing``. ``extra``: more sources (module name -> code), as if they were files of the
    package."""
    sources = {}
    for f in ROOT.rglob("*.py"):
        rel = f.with_suffix("").relative_to(ROOT.parent).parts
        mod = ".".join(rel).removesuffix(".__init__")
        sources[mod] = (f.read_text(), f.name == "__init__.py")
    for mod, code in (extra or {}).items():
        sources[mod] = (code, False)
    edges: dict[str, set[str]] = defaultdict(set)
    for mod, (code, is_pkg) in sources.items():
        pkg = mod if is_pkg else mod.rsplit(".", 1)[0]
        tree = ast.parse(code)
        hidden = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and not typing
                  and "TYPE_CHECKING" in ast.unparse(node.test) for n in ast.walk(node)}
        for node in ast.walk(tree):
            if id(node) in hidden:
                continue
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                targets = ([target] if node.module else
                           [f"{target}.{a.name}" for a in node.names])
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            for t in targets:
                if t.startswith("edgekit.") and _unit(t) != _unit(mod):
                    edges[_unit(mod)].add(_unit(t))
    return edges


def cycles(edges: dict[str, set[str]]) -> list[tuple[str, str]]:
    def reach(a: str) -> set[str]:
        seen, stack = set(), [a]
        while stack:
            for b in edges.get(stack.pop(), ()):
                if b not in seen:
                    seen.add(b)
                    stack.append(b)
        return seen

    return sorted((a, b) for a in edges for b in edges[a] if a in reach(b))


def test_the_import_graph_has_no_cycle():
    found = cycles(import_graph())
    assert found == [], f"imports that run back up: {found}"


def test_the_runtimes_and_the_contract_sit_below_what_uses_them():
    g = import_graph()
    assert "export" not in g["runtimes"] and "parity" not in g["runtimes"]
    assert "cli" not in g["parity"] and "export" not in g["parity"]
    assert "export" not in g["tune"]  # tune uses public functions, not the orchestrator


def test_a_planted_upward_import_is_caught():
    """The twin: the runtimes importing the parity report (as parity once imported the CLI)
    closes a cycle, and the check names it."""
    plant = {"edgekit.runtimes.planted": "def f():\n    from ..parity.report import markdown\n"}
    assert ("parity", "runtimes") in cycles(import_graph(plant))


#: the typed contract every stage reads (the public API exposes its types) ...
CONTRACT = {"bundle", "manifest", "profiles", "scope"}
#: ... and the only units it may import: the plain ground below it (the runtime registry is
#: consulted through the late-bound hook ``_registry.RUNTIMES`` that the package installs)
GROUND = {"errors", "_registry", "_lazy", "_hashing", "graph", "families", "boxes"}


def upward_from_contract(g: dict[str, set[str]]) -> dict[str, set[str]]:
    return {u: bad for u in sorted(CONTRACT) if (bad := g.get(u, set()) - CONTRACT - GROUND)}


def test_the_contract_imports_nothing_above_it():
    """Type-only imports count too: the contract's types must not name the layers above."""
    assert upward_from_contract(import_graph(typing=True)) == {}
    g = import_graph(typing=True)
    assert not (g["_registry"] | g["_hashing"]) & (CONTRACT | {"runtimes"})


@pytest.mark.parametrize("plant", [
    "def f():\n    from ..runtimes import get_runtime\n",
    "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..models import source\n",
])
def test_an_upward_import_from_the_contract_is_caught(plant):
    """Twin: a lazy or a type-only import of a higher unit from profiles is named."""
    g = import_graph({"edgekit.profiles.planted": plant}, typing=True)
    assert list(upward_from_contract(g)) == ["profiles"]


def test_the_contract_reaches_the_registry_through_the_hook():
    """The hook is installed by the package root: a profile's runtime names are checked."""
    import edgekit  # noqa: F401  (installs the hook)
    from edgekit._registry import RUNTIMES

    assert "onnxruntime" in RUNTIMES().runtime_names(deployable=True)
