"""The package's import graph has no cycle, lazy imports included: every arrow between
edgekit's modules runs one way (docs/architecture.md). A planted upward import is caught."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "edgekit"


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def import_graph(extra: dict[str, str] | None = None) -> dict[str, set[str]]:
    """Top-level unit (``runtimes``, ``parity``, ``bundle``...) -> the units it imports,
    at module level or inside functions; ``TYPE_CHECKING`` blocks are left out.
    ``extra``: more sources (module name -> code), as if they were files of the package."""
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
        hidden = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
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
