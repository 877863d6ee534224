"""Subgraphs of the exported ONNX graph that belong to an attention site, computed
exactly from tap tensors (no scope-string guessing).

A site's region is every node that is an ancestor of its output tap but not an ancestor
of (nor the producer of) any of its input boundary tensors. The RT-DETR decoder region is
every node downstream of the decoder's query input.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any


class GraphIndex:
    def __init__(self, model: Any) -> None:
        self.model = model
        self.nodes = list(model.graph.node)
        self.producer: dict[str, int] = {}
        self.consumers: dict[str, list[int]] = defaultdict(list)
        for i, n in enumerate(self.nodes):
            for o in n.output:
                self.producer[o] = i
            for t in n.input:
                self.consumers[t].append(i)

    def ancestors(self, tensors: list[str]) -> set[int]:
        seen: set[int] = set()
        stack = [self.producer[t] for t in tensors if t in self.producer]
        while stack:
            i = stack.pop()
            if i in seen:
                continue
            seen.add(i)
            stack += [self.producer[t] for t in self.nodes[i].input if t in self.producer]
        return seen

    def descendants(self, tensors: list[str],
                    through: Callable[[Any], bool] | None = None) -> set[int]:
        """The nodes downstream of ``tensors``; with ``through``, the walk goes on past a node
        only where ``through(node)`` holds (the node itself is still included)."""
        seen: set[int] = set()
        stack = [c for t in tensors for c in self.consumers.get(t, [])]
        while stack:
            i = stack.pop()
            if i in seen:
                continue
            seen.add(i)
            if through is None or through(self.nodes[i]):
                stack += [c for t in self.nodes[i].output for c in self.consumers.get(t, [])]
        return seen

    def region(self, output: str, inputs: list[str]) -> set[int]:
        return self.ancestors([output]) - self.ancestors(inputs)

    def names(self, idx: set[int]) -> list[str]:
        return [self.nodes[i].name for i in sorted(idx)]

    def nonfinite_constants(self) -> list[str]:
        """Float initializers and Constant outputs that hold an inf or a NaN."""
        import numpy as np
        from onnx import numpy_helper

        found = []
        tensors = [(t.name, t) for t in self.model.graph.initializer]
        tensors += [(n.output[0], a.t) for n in self.nodes if n.op_type == "Constant"
                    for a in n.attribute if a.name == "value"]
        for name, t in tensors:
            arr = numpy_helper.to_array(t)
            if arr.dtype.kind == "f" and not np.isfinite(arr).all():
                found.append(name)
        return found


def block_of(node_name: str) -> str | None:
    """The top-level module (``model.N`` in Ultralytics models: a registered family's
    ``block_pattern``) an exported node belongs to.

    The TorchScript exporter scopes names irregularly (``/model/model.9/cv2/conv/Conv`` for
    YOLO, ``/model.28/decoder/...`` elsewhere); the first ``model.N`` path component names
    the block either way."""
    from .families import block_regex

    m = block_regex().search(node_name)
    return m.group(1) if m else None


def blocks(gi: GraphIndex) -> dict[str, set[int]]:
    """Node indices per top-level block, in graph order of first appearance."""
    out: dict[str, set[int]] = {}
    owner: dict[int, str] = {}
    for i, n in enumerate(gi.nodes):  # topological order: producers come first
        b = block_of(n.name)
        if b is None:  # unscoped helpers (tap identities, constants) join their producer's
            b = next((owner[p] for t in n.input if (p := gi.producer.get(t)) in owner), None)
        if b is not None:
            owner[i] = b
            out.setdefault(b, set()).add(i)
    return out


def float_tensor_names(model: Any) -> set[str]:
    """Names of the float32 tensors of an ONNX model (by shape inference)."""
    import onnx

    inferred = onnx.shape_inference.infer_shapes(model)
    g = inferred.graph
    return {v.name for v in [*g.value_info, *g.output, *g.input]
            if v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT}


def block_boundaries(gi: GraphIndex, float_tensors: set[str] | None = None
                     ) -> dict[str, dict[str, list[str]]]:
    """For each block, the tensors it hands to other blocks (``outputs``) and those it reads
    from other blocks or the graph input (``inputs``). ``float_tensors``, when given, keeps
    only those names (drops shape arithmetic and other integer side channels)."""
    per = blocks(gi)
    owner = {i: b for b, idx in per.items() for i in idx}
    res: dict[str, dict[str, list[str]]] = {b: {"inputs": [], "outputs": []} for b in per}
    for b, idx in per.items():
        for i in sorted(idx):
            for t in gi.nodes[i].input:
                p = gi.producer.get(t)
                src_ok = (p is not None and owner.get(p) not in (None, b)) or t == "images"
                if src_ok and t not in res[b]["inputs"]:
                    res[b]["inputs"].append(t)
            for t in gi.nodes[i].output:
                if any(owner.get(c) != b for c in gi.consumers.get(t, [])) \
                        and t not in res[b]["outputs"]:
                    res[b]["outputs"].append(t)
    if float_tensors is not None:
        for r in res.values():
            r["inputs"] = [t for t in r["inputs"] if t in float_tensors or t == "images"]
            r["outputs"] = [t for t in r["outputs"] if t in float_tensors]
    return res


def tap_tensors(taps: Iterable[Any]) -> list[str]:
    """Every tensor parity reads: site outputs, then site inputs (boundaries), no repeats."""
    out: list[str] = []
    for t in taps:
        for name in [t.tensor, *t.inputs]:
            if name not in out and name != "images":
                out.append(name)
    return out
