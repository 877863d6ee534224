"""Group profiler records by attention site, by block (``model.N``) and by op kind.

Knows nothing of runtimes: it reads :class:`~edgekit.runtimes.profiling.OpRecord` records
(their ONNX nodes, or for an op the runtime inserted, the ONNX nodes around it) and the
ONNX graph with its taps. A site's region is the one parity and the float scope use
(:meth:`edgekit.graph.GraphIndex.region`; the RT-DETR decoder: everything downstream of its
query input). An inserted reorder or convert with one side in a site and the other outside
is that site's border cost. What the profiler did not time (the model-only p50 less the
records' sum) is reported as unattributed, never spread over the groups.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..runtimes.profiling import KINDS, OpRecord, median

#: the bound on attributed vs model-only p50 (the issue's 10%)
BOUND = 0.10
FLOAT = {"f32", "bf16", "fp16", "f16"}
NO_SITE, UNMAPPED = "(no site)", "(unmapped)"

def converts(r: OpRecord) -> bool:
    """The op changes precision (its plug-in writes ``a->b``): at a site's edge, that is
    what the site's float island costs (a layout reorder or a fused FakeQuantize is there
    whether the site is float or not)."""
    return "->" in r.precision


def site_regions(model: Any, taps: Sequence[Any]) -> dict[str, set[str]]:
    """Each attention site's ONNX node names (the decoder's for a ``queries`` tap)."""
    from ..graph import GraphIndex

    gi = GraphIndex(model)
    out: dict[str, set[str]] = {}
    for t in taps:
        idx = gi.descendants([t.tensor]) if t.kind == "queries" else gi.region(t.tensor,
                                                                                t.inputs)
        out[t.name] = {gi.nodes[i].name for i in idx}
    return out


def site_edges(model: Any, regions: dict[str, set[str]]) -> dict[str, set[str]]:
    """Per site, the nodes on its border: inside it with a producer or consumer outside,
    and outside it with a producer or consumer inside."""
    from ..graph import GraphIndex

    gi = GraphIndex(model)
    around: dict[str, set[str]] = {}
    for n in gi.nodes:
        near = {gi.nodes[p].name for t in n.input if (p := gi.producer.get(t)) is not None}
        near |= {gi.nodes[c].name for t in n.output for c in gi.consumers.get(t, [])}
        around[n.name] = near
    return {s: {n for n, near in around.items()
                if (n in nodes and not near <= nodes) or (n not in nodes and near & nodes)}
            for s, nodes in regions.items()}


def node_blocks(model: Any) -> dict[str, str]:
    from ..graph import GraphIndex, blocks

    gi = GraphIndex(model)
    return {gi.nodes[i].name: b for b, idx in blocks(gi).items() for i in idx}


@dataclass
class Group:
    name: str
    ms: float = 0.0
    ops: int = 0
    border_ms: float = 0.0  # sites: reorders/converts between the site and the rest
    by_precision: dict[str, float] = field(default_factory=dict)
    by_kind: dict[str, float] = field(default_factory=dict)

    def add(self, r: OpRecord) -> None:
        self.ms += r.time_ms
        self.ops += 1
        self.by_precision[r.precision] = self.by_precision.get(r.precision, 0.0) + r.time_ms
        self.by_kind[r.kind] = self.by_kind.get(r.kind, 0.0) + r.time_ms

    @property
    def float_share(self) -> float:
        """The share of the group's time spent in float precisions."""
        f = sum(v for k, v in self.by_precision.items() if k.split("->")[-1] in FLOAT)
        return f / self.ms if self.ms else 0.0

    def to_json(self) -> dict[str, Any]:
        r = lambda d: {k: round(v, 4) for k, v in sorted(d.items(), key=lambda kv: -kv[1])}  # noqa: E731
        return {"name": self.name, "ms": round(self.ms, 4), "ops": self.ops,
                "border_ms": round(self.border_ms, 4), "float_share": round(self.float_share, 3),
                "by_precision": r(self.by_precision), "by_kind": r(self.by_kind)}


@dataclass
class Attribution:
    """Where one backend's time went, by site, block and kind, against its model-only p50."""

    backend: str
    records: list[OpRecord]
    p50_ms: float  # model-only p50 of the profiled iterations
    unprofiled_p50_ms: float | None  # model-only p50 of the interleaved unprofiled run
    sites: dict[str, Group]
    blocks: dict[str, Group]
    kinds: dict[str, Group]
    precisions: dict[str, float]
    settings: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: the runtime's raw capture, where the caller asked to keep it (not in to_json)
    raw: Any = None
    #: the profiled iterations' model-only latencies (ms)
    samples_ms: list[float] = field(default_factory=list)

    @property
    def attributed_ms(self) -> float:
        return sum(r.time_ms for r in self.records)

    @property
    def unattributed_ms(self) -> float:
        """The profiled run's model-only p50 less the records' sum: what the profiler did not
        time (the runtime's own work between ops, the call into it)."""
        return self.p50_ms - self.attributed_ms

    @property
    def coverage(self) -> float:
        """The records' sum over the model-only p50 of the same (profiled) iterations; the
        profiler's own cost against an unprofiled run is :attr:`overhead`."""
        return self.attributed_ms / self.p50_ms if self.p50_ms else 0.0

    @property
    def passed(self) -> bool:
        """The attributed sum lies within :data:`BOUND` of the model-only p50."""
        return abs(1 - self.coverage) <= BOUND

    @property
    def overhead(self) -> float | None:
        """Profiled p50 over unprofiled p50, less one."""
        u = self.unprofiled_p50_ms
        return self.p50_ms / u - 1 if u else None

    def to_json(self) -> dict[str, Any]:
        top = sorted(self.records, key=lambda r: -r.time_ms)
        return {"backend": self.backend, "p50_ms": round(self.p50_ms, 4),
                "unprofiled_p50_ms": None if self.unprofiled_p50_ms is None
                else round(self.unprofiled_p50_ms, 4),
                "profiler_overhead": None if self.overhead is None else round(self.overhead, 4),
                "attributed_ms": round(self.attributed_ms, 4),
                "unattributed_ms": round(self.unattributed_ms, 4),
                "coverage": round(self.coverage, 4), "bound": BOUND, "passed": self.passed,
                "by_precision": {k: round(v, 4) for k, v in self.precisions.items()},
                "sites": [g.to_json() for g in self.sites.values()],
                "blocks": [g.to_json() for g in self.blocks.values()],
                "kinds": [g.to_json() for g in self.kinds.values()],
                "top_ops": [r.to_json() for r in top[:25]],
                "records": [r.to_json() for r in self.records],
                "settings": self.settings, "notes": self.notes}


def _majority(names: Sequence[str], owner: dict[str, str]) -> str | None:
    votes = Counter(owner[n] for n in names if n in owner)
    return votes.most_common(1)[0][0] if votes else None


def attribute(backend: str, records: list[OpRecord], model: Any, taps: Sequence[Any],
              profiled_ms: list[float], unprofiled_ms: Sequence[float] = (),
              settings: dict[str, Any] | None = None) -> Attribution:
    """Group ``records`` over the ONNX ``model`` (a ModelProto, weights not needed)."""
    regions = site_regions(model, taps)
    site_of = {n: s for s, nodes in regions.items() for n in nodes}
    edges = site_edges(model, regions)
    block_of = node_blocks(model)
    sites = {s: Group(s) for s in regions} | {NO_SITE: Group(NO_SITE)}
    blocks: dict[str, Group] = {}
    kinds = {k: Group(k) for k in KINDS}
    precisions: dict[str, float] = {}
    unmapped = 0
    for r in records:
        kinds[r.kind if r.kind in kinds else "other"].add(r)
        precisions[r.precision] = precisions.get(r.precision, 0.0) + r.time_ms
        where = r.nodes or r.neighbors
        if not where:
            unmapped += 1
            blocks.setdefault(UNMAPPED, Group(UNMAPPED)).add(r)
            sites[NO_SITE].add(r)
            continue
        b = _majority(where, block_of) or UNMAPPED
        blocks.setdefault(b, Group(b)).add(r)
        touched = {site_of.get(n, NO_SITE) for n in where}
        if r.nodes:
            sites[_majority(r.nodes, site_of) or NO_SITE].add(r)
        else:  # inserted: inside a site when all around it is, else outside
            sites[touched.pop() if len(touched) == 1 else NO_SITE].add(r)
        if converts(r):  # a conversion at a site's edge: its island's border
            for s, edge in edges.items():
                if edge.intersection(where) and (len(touched) > 1 or s not in touched
                                                 or not set(where) <= regions[s]):
                    sites[s].border_ms += r.time_ms
    notes = []
    if unmapped:
        notes.append(f"{unmapped} ops name no ONNX node (counted, under {UNMAPPED})")
    return Attribution(backend, records, median(list(profiled_ms)),
                       median(list(unprofiled_ms)) if unprofiled_ms else None, sites,
                       dict(sorted(blocks.items(), key=lambda kv: _block_key(kv[0]))),
                       kinds, precisions, dict(settings or {}), notes,
                       samples_ms=list(profiled_ms))


def _block_key(name: str) -> tuple[int, str]:
    parts = name.split(".")
    return (int(parts[1]), name) if len(parts) == 2 and parts[1].isdigit() else (10**9, name)
