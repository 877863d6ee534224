"""What a runtime's own profiler says, in one record type (:class:`OpRecord`), and how a
plug-in's profiler run is returned (:class:`ProfileRun`).

A plug-in turns its profiler's output (OpenVINO's runtime model and profiling info, ONNX
Runtime's JSON trace, TensorRT's ``IProfiler`` layer names) into records that name the ONNX
nodes each op covers; :mod:`edgekit.attribution` groups them without knowing which runtime
made them. :class:`OnnxNames` resolves the names runtimes give their ops (an ONNX node's
name with a suffix, an output tensor's name) back to ONNX nodes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

#: the op kinds attribution groups by, in report order
KINDS = ("conv", "matmul", "softmax", "normalization", "reorder/convert",
         "quantize/dequantize", "other")

_KIND_WORDS: list[tuple[str, tuple[str, ...]]] = [
    ("quantize/dequantize", ("fakequantize", "quantizelinear", "dequantizelinear",
                             "dynamicquantize", "qdq", "quantize", "dequantize")),
    ("reorder/convert", ("reorder", "reformat", "convert", "copynode")),
    ("conv", ("conv", "deconvolution")),
    ("matmul", ("matmul", "gemm", "fullyconnected", "innerproduct")),
    ("softmax", ("softmax",)),
    ("normalization", ("norm", "mvn", "batchnorm", "layernorm", "instancenorm")),
]


def kind_of(op_type: str, onnx_types: Iterable[str] = ()) -> str:
    """The kind of an op, from the runtime's op type and, where that says nothing (a fused
    ``Subgraph``, an ``Eltwise``), the ONNX op types it covers (the heaviest kind wins)."""
    low = op_type.lower().replace("_", "")
    if low == "cast":
        return "reorder/convert"
    for kind, words in _KIND_WORDS:
        if any(w in low for w in words):
            return kind
    kinds = {kind_of(t) for t in onnx_types if t}
    return next((k for k in KINDS if k in kinds and k != "other"), "other")


@dataclass(frozen=True)
class OpRecord:
    """One op the runtime ran: its name, the time it took (ms, the median over the profiled
    iterations), the precision it ran in (``a->b`` for an op that converts, a reorder from
    bf16 to f32 or a DequantizeLinear), the ONNX nodes it covers, and its op type.

    ``neighbors``: for an op the runtime inserted (a reorder, a convert), the ONNX nodes of
    the ops on either side, so a float island's border cost can be found. ``kind`` is one of
    :data:`KINDS`."""

    name: str
    time_ms: float
    precision: str
    nodes: tuple[str, ...]
    op_type: str
    kind: str = "other"
    neighbors: tuple[str, ...] = ()
    #: the runtime's implementation where its profiler names one (OpenVINO's exec type,
    #: ``brgconv_avx512_amx_I8``): whether an op got the fast kernel for its precision
    kernel: str = ""

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["nodes"], d["neighbors"] = list(self.nodes), list(self.neighbors)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> OpRecord:
        return cls(d["name"], float(d["time_ms"]), d["precision"], tuple(d["nodes"]),
                   d["op_type"], d.get("kind", "other"), tuple(d.get("neighbors", ())),
                   d.get("kernel", ""))


@dataclass
class ProfileRun:
    """A profiled run: the records, the model-only latencies (ms) of the profiled
    iterations, those of an unprofiled run of the same artifact, and what ran."""

    records: list[OpRecord]
    profiled_ms: list[float]
    unprofiled_ms: list[float] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    #: the profiler's raw output kept small enough to record as a test fixture
    raw: Any = None


class OnnxNames:
    """Resolves a runtime's op names to ONNX node names: a node's own name, an output
    tensor's name (its producer), or either with a suffix the runtime appended
    (``/a/Conv/WithoutBiases``, ``/a/Concat/fq_input_0``, ``name:0``)."""

    def __init__(self, model: Any) -> None:
        nodes = list(model.graph.node)
        self.types = {n.name: n.op_type for n in nodes}
        self._by = {n.name: n.name for n in nodes}
        for n in nodes:
            for o in n.output:
                self._by.setdefault(o, n.name)

    def resolve(self, name: str) -> str | None:
        name = name.strip()
        cut = name
        while cut:
            if cut in self._by:
                return self._by[cut]
            cut = cut[:max(0, *(cut.rfind(c) for c in "/:_"))]
        return None

    def resolve_all(self, names: Iterable[str]) -> tuple[str, ...]:
        out: list[str] = []
        for n in names:
            r = self.resolve(n)
            if r is not None and r not in out:
                out.append(r)
        return tuple(out)

    def onnx_types(self, nodes: Iterable[str]) -> list[str]:
        return [self.types.get(n, "") for n in nodes]


def median(values: list[float]) -> float:
    s = sorted(values)
    if not s:
        return 0.0
    m = len(s) // 2
    return s[m] if len(s) % 2 else (s[m - 1] + s[m]) / 2
