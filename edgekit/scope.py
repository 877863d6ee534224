"""The float-scope vocabulary: what a reduced-precision build keeps in float, and how each
runtime is told.

One home for it. Each :class:`ScopeItem` names the ONNX op types, the OpenVINO op types
(NNCF's ignored types) and the TensorRT layer types (pinned to fp32 under TensorRT 10's
OBEY) behind an item, or a graph selector for the structural ones (whole attention sites,
the RT-DETR decoder, the final score Sigmoid). A profile's ``calibration`` section states a
:class:`FloatScope` (items, per-site levels, whole blocks); :func:`select` resolves it on the
deployed ONNX graph into one :class:`Selection` that every runtime plug-in reads: node and
tensor names, and the op and layer types of its own runtime.

The profile schema's ``FloatScopeItem`` is this module's :data:`FloatScopeItem`, and
:data:`ITEMS` must name exactly its members (checked at import).

Light: onnx is never imported here; a selection walks a loaded ``onnx.ModelProto``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args

if TYPE_CHECKING:
    from .bundle import Tap
    from .graph import GraphIndex

FloatScopeItem = Literal[
    "attention", "decoder", "softmax", "layernorm", "gridsample", "topk", "score_sigmoid",
    "nonfinite"]
#: how much of one attention site ``float_sites`` keeps float
SiteLevel = Literal["all", "core", "softmax"]


def _attention(gi: GraphIndex, taps: Sequence[Tap]) -> set[int]:
    idx: set[int] = set()
    for t in taps:
        if t.kind != "queries":
            idx |= gi.region(t.tensor, t.inputs)
    return idx


def _decoder(gi: GraphIndex, taps: Sequence[Tap]) -> set[int]:
    q = [t for t in taps if t.kind == "queries"]
    return gi.descendants([q[0].tensor]) if q else set()


def _score_sigmoid(gi: GraphIndex, taps: Sequence[Tap]) -> set[int]:
    """The final score Sigmoid(s): Sigmoid nodes that feed the output without passing a
    Conv (not the SiLUs of the backbone)."""
    out: set[int] = set()
    for i in gi.ancestors(["output0"]):
        if gi.nodes[i].op_type == "Sigmoid" and not any(
                gi.nodes[j].op_type == "Conv" for j in gi.descendants(list(gi.nodes[i].output))):
            out.add(i)
    return out


#: ops that only move, select or reshape values: a non-finite value passes through them
_PASSIVE = frozenset({"Concat", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Flatten",
                      "Slice", "Split", "Gather", "GatherElements", "GatherND", "Expand",
                      "Identity", "Tile"})


def _nonfinite(gi: GraphIndex, taps: Sequence[Tap]) -> set[int]:
    """Nodes that read a constant holding inf or NaN (RT-DETR masks its invalid anchors with
    inf), through the passive ops that carry it, up to and with the first node that computes
    with it: no INT8 scale represents an infinity, and a quantizer calibrated on one turns
    the whole tensor to garbage."""
    return gi.descendants(gi.nonfinite_constants(), through=lambda n: n.op_type in _PASSIVE)


@dataclass(frozen=True)
class ScopeItem:
    """One word of the vocabulary and its selectors on every runtime."""

    name: str
    description: str
    onnx_types: tuple[str, ...] = ()
    openvino_types: tuple[str, ...] = ()
    #: ``trt.LayerType`` member names TensorRT 10 pins to fp32 (OBEY)
    tensorrt_layers: tuple[str, ...] = ()
    #: selects graph nodes by structure (site regions, the decoder, the score Sigmoid)
    selector: Callable[[GraphIndex, Sequence[Tap]], set[int]] | None = None
    #: a precision hotspot: a reduced-precision engine (TensorRT fp16 or int8) keeps it fp32,
    #: where the rest of the float scope runs at the engine's float precision
    hotspot: bool = False
    #: kept float in every ``edgekit tune`` candidate: quantizing it saves no arithmetic and
    #: breaks the output (TopK's selection, the final scores)
    always: bool = False


ITEMS: dict[str, ScopeItem] = {i.name: i for i in (
    ScopeItem("attention", "every attention site's exact subgraph (from its taps)",
              selector=_attention),
    ScopeItem("decoder", "the RT-DETR decoder: everything downstream of its query input",
              selector=_decoder),
    ScopeItem("softmax", "softmax", ("Softmax",), ("SoftMax", "Softmax"), ("SOFTMAX",),
              hotspot=True),
    ScopeItem("layernorm", "layer normalisation", ("LayerNormalization",), ("MVN",),
              ("NORMALIZATION",), hotspot=True),
    ScopeItem("gridsample", "GridSample (deformable attention's sampling)", ("GridSample",),
              ("GridSample",), ("GRID_SAMPLE",), hotspot=True),
    ScopeItem("topk", "TopK (query and detection selection)", ("TopK",), ("TopK",), ("TOPK",),
              hotspot=True, always=True),
    ScopeItem("score_sigmoid", "the final score Sigmoid (pinned by node name, not every "
              "SiLU)", selector=_score_sigmoid, hotspot=True, always=True),
    ScopeItem("nonfinite", "what reads a constant holding inf or NaN (RT-DETR's masked "
              "anchors), up to the first node computing with it", selector=_nonfinite,
              hotspot=True, always=True),
)}
if set(ITEMS) != set(get_args(FloatScopeItem)):  # pragma: no cover - a coding error
    raise ImportError("edgekit.scope: ITEMS and FloatScopeItem name different items")

#: what stays in float by default: everything quantization is known to hurt
DEFAULT_FLOAT_SCOPE: tuple[FloatScopeItem, ...] = get_args(FloatScopeItem)

#: what a per-site level keeps (ONNX op types within the site's exact region; None = all)
SITE_LEVELS: dict[str, tuple[str, ...] | None] = {
    "softmax": ("Softmax",),
    "core": ("Softmax", "MatMul"),
    "all": None,
}


@dataclass(frozen=True)
class FloatScope:
    """What stays float: vocabulary items, attention sites at a level, whole top-level blocks
    (``model.N``). The profile's ``calibration`` section states one."""

    items: tuple[str, ...] = ()
    sites: Mapping[str, str] = field(default_factory=dict)
    blocks: tuple[str, ...] = ()

    @classmethod
    def of(cls, calibration: Any) -> FloatScope:
        """The scope a profile's ``calibration`` section states."""
        return cls(tuple(calibration.float_scope), dict(calibration.float_sites),
                   tuple(calibration.float_blocks))

    def hotspots(self) -> FloatScope:
        """Only the precision hotspots (what a TensorRT engine pins to fp32)."""
        return FloatScope(tuple(i for i in self.items if ITEMS[i].hotspot))

    def always(self) -> FloatScope:
        """Only what every tune candidate keeps float."""
        return FloatScope(tuple(i for i in self.items if ITEMS[i].always))

    def size(self) -> int:
        return len(self.items) + len(self.sites) + len(self.blocks)

    def labels(self) -> list[str]:
        """Short labels, for logs and reports (runs of blocks joined: ``blocks model.0-10``)."""
        return describe(self.items, self.sites, self.blocks)

    def as_calibration(self) -> dict[str, Any]:
        """The profile ``calibration`` fields that state this scope."""
        return {"float_scope": list(self.items), "float_sites": dict(self.sites),
                "float_blocks": list(self.blocks)}


def describe(items: Sequence[str], sites: Mapping[str, str], blocks: Sequence[str]) -> list[str]:
    labels = list(items) + [f"{k}:{v}" for k, v in sites.items()]
    if blocks:
        nums = sorted(int(b.split(".")[1]) for b in blocks)
        runs: list[str] = []
        for n in nums:
            if runs and runs[-1].split("-")[-1] == str(n - 1):
                runs[-1] = f"{runs[-1].split('-')[0]}-{n}"
            else:
                runs.append(str(n))
        labels.append(f"block{'s' if len(nums) > 1 else ''} model.{','.join(runs)}")
    return labels


@dataclass(frozen=True)
class Selection:
    """A float scope resolved on one graph, in every runtime's terms."""

    nodes: tuple[str, ...]  # ONNX node names kept float
    tensors: tuple[str, ...]  # their output tensors (OpenVINO names ops after them too)
    onnx_types: tuple[str, ...]  # every node of these types is among ``nodes``
    openvino_types: tuple[str, ...]  # NNCF's ignored types
    tensorrt_layers: tuple[str, ...]  # layer types TensorRT 10 pins


def select(deployed: Any, taps: Sequence[Tap], scope: FloatScope) -> Selection:
    """Resolve ``scope`` on the deployed ONNX graph (a ``ModelProto``)."""
    from .errors import UsageError
    from .graph import GraphIndex, blocks

    gi = GraphIndex(deployed)
    idx: set[int] = set()
    if scope.blocks:
        per = blocks(gi)
        for b in scope.blocks:
            if b not in per:
                raise UsageError(f"float_blocks: '{b}' is not a block of this model "
                                 f"(blocks: {', '.join(per)})")
            idx |= per[b]
    by_name = {t.name: t for t in taps if t.kind != "queries"}
    for site, level in scope.sites.items():
        if site not in by_name:
            raise UsageError(f"float_sites: '{site}' is not an attention site of this model "
                             f"(sites: {', '.join(by_name)})")
        region = gi.region(by_name[site].tensor, by_name[site].inputs)
        keep = SITE_LEVELS[level]
        idx |= region if keep is None else {i for i in region if gi.nodes[i].op_type in keep}
    items = [ITEMS[i] for i in scope.items]
    onnx_types = {t for it in items for t in it.onnx_types}
    for it in items:
        if it.selector is not None:
            idx |= it.selector(gi, taps)
    idx |= {i for i, n in enumerate(gi.nodes) if n.op_type in onnx_types}
    return Selection(
        nodes=tuple(sorted({gi.nodes[i].name for i in idx})),
        tensors=tuple(sorted({o for i in idx for o in gi.nodes[i].output})),
        onnx_types=tuple(sorted(onnx_types)),
        openvino_types=tuple(sorted({t for it in items for t in it.openvino_types})),
        tensorrt_layers=tuple(sorted({t for it in items for t in it.tensorrt_layers})))


def decoder_blocks(deployed_index: GraphIndex, taps: Sequence[Tap],
                   per_block: Mapping[str, set[int]]) -> set[str]:
    """The top-level blocks that hold any of the decoder (RT-DETR)."""
    desc = _decoder(deployed_index, taps)
    return {b for b, idx in per_block.items() if idx & desc}


__all__ = ["DEFAULT_FLOAT_SCOPE", "ITEMS", "SITE_LEVELS", "FloatScope", "FloatScopeItem",
           "ScopeItem", "Selection", "SiteLevel", "decoder_blocks", "describe", "select"]
