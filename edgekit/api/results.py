"""What the public functions return: typed views over the JSON documents the commands write.

Each result keeps its document (``.document``) and gives it back with :meth:`to_json`,
byte for byte what the command's ``--json`` writes. ``.passed`` is the command's gate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..bundle import Manifest

__all__ = ["BenchResult", "EvalResult", "ExportResult", "ParityResult", "Result", "TuneResult"]


@dataclass(frozen=True)
class Result:
    """A command's report: its JSON document and its gate."""

    document: dict[str, Any]

    @property
    def passed(self) -> bool:
        return bool(self.document["passed"])

    def to_json(self) -> str:
        """The document as the command's ``--json`` writes it."""
        from ..parity.report import report_json

        return report_json(self.document)


@dataclass(frozen=True)
class ParityResult(Result):
    """Parity of each backend against the bundle's PyTorch reference, site by site."""

    @property
    def backends(self) -> dict[str, dict[str, Any]]:
        return dict(self.document["backends"])

    @property
    def first_divergent(self) -> str | None:
        """The first attention site (in the network's order) that diverges, on the first
        backend that has one; None when every site of every backend is within tolerance."""
        return next((r["first_divergent"] for r in self.document["backends"].values()
                     if r.get("first_divergent")), None)

    @property
    def first_divergent_by_backend(self) -> dict[str, str | None]:
        return {b: r.get("first_divergent") for b, r in self.document["backends"].items()}

    @property
    def summary(self) -> str:
        """One line: which backends failed and where they first diverge."""
        from ..parity.report import gate_summary

        return gate_summary(self.document)


@dataclass(frozen=True)
class ExportResult(Result):
    """A bundle written by :func:`edgekit.export`; ``document`` is its ``parity.json`` (None
    parity when exported with ``parity=False``: then ``passed`` is True, nothing was gated)."""

    bundle: Path = Path()
    manifest: Manifest | None = None
    notes: tuple[str, ...] = ()
    parity: ParityResult | None = field(default=None)

    @property
    def passed(self) -> bool:
        return self.parity is None or self.parity.passed


@dataclass(frozen=True)
class BenchResult(Result):
    """Latency per backend; ``passed``: within the budget and, against a baseline, not
    regressed."""

    @property
    def passed(self) -> bool:
        reg = self.document.get("regression")
        return bool(self.document["verdict"]["passed"]) and (not reg or bool(reg["passed"]))

    @property
    def backends(self) -> dict[str, dict[str, Any]]:
        return dict(self.document["backends"])


@dataclass(frozen=True)
class EvalResult(Result):
    """mAP50-95 and mAP50 per backend and per class, and the drop against the reference."""

    @property
    def backends(self) -> dict[str, dict[str, Any]]:
        return dict(self.document["backends"])


@dataclass(frozen=True)
class TuneResult(Result):
    """The float-scope search: every candidate, the one chosen, the tuned profile and bundle.
    ``export`` is the float bundle exported first when a model (not a bundle) was tuned."""

    export: ExportResult | None = None

    @property
    def chosen(self) -> Any:
        return self.document.get("chosen")
