"""What the fake TensorRT's ``IProfiler`` reports: layer names shaped like a real engine's,
built from the ONNX graph the fake engine runs.

A built TensorRT engine fuses and renames: a convolution with its pointwise tail becomes
``A + PWN(B, C)`` or ``A + B``, an attention core becomes ``{ForeignNode[first...last]}``
(a Myelin region named by its first and last ONNX nodes), the formats between precisions
are ``Reformatting CopyNode for Input Tensor 0 to X``, and with detailed profiling
verbosity a layer's name may carry ``[ONNX Layer: ...]`` metadata. The times are made up
(a fixed share per fused ONNX node); only the names matter to the parser under test. This
was never compared with a real engine's profile: it follows the TensorRT documentation
and the names trex shows.
"""

from __future__ import annotations

from typing import Any

_POINTWISE = {"Sigmoid", "Mul", "Add", "Relu", "Div", "Sub"}
_MYELIN = {"MatMul", "Softmax", "Transpose", "Reshape"}


def layer_names(model: Any, *, metadata: bool = True) -> list[tuple[str, float]]:
    """(layer name, ms) for one inference of ``model`` (an ONNX ModelProto)."""
    nodes = list(model.graph.node)
    consumers: dict[str, list[int]] = {}
    for i, n in enumerate(nodes):
        for t in n.input:
            consumers.setdefault(t, []).append(i)
    taken: set[int] = set()
    out: list[tuple[str, float]] = []
    for i, n in enumerate(nodes):
        if i in taken or n.op_type in ("Constant", "Identity", "Shape", "Gather", "Unsqueeze"):
            continue
        taken.add(i)
        if n.op_type in _MYELIN:  # a run of attention ops: one Myelin region
            run = [i]
            j = i + 1
            while j < len(nodes) and nodes[j].op_type in _MYELIN | {"Split", "Mul"}:
                run.append(j)
                j += 1
            taken.update(run)
            name = f"{{ForeignNode[{n.name}...{nodes[run[-1]].name}]}}"
            out.append((name, 0.01 * len(run)))
            continue
        group = [i]
        while True:  # a pointwise tail fused into the producer
            nxt = [c for t in nodes[group[-1]].output for c in consumers.get(t, [])]
            if len(nxt) != 1 or nxt[0] in taken or nodes[nxt[0]].op_type not in _POINTWISE:
                break
            group.append(nxt[0])
            taken.add(nxt[0])
        names = [nodes[g].name for g in group]
        if n.op_type == "Conv":
            out.append((f"Reformatting CopyNode for Input Tensor 0 to {n.name}", 0.002))
        if len(names) > 2:
            name = f"{names[0]} + PWN({', '.join(names[1:])})"
        else:
            name = " + ".join(names)
        if metadata and len(names) == 1:
            name += f" [ONNX Layer: {names[0]}]"
        out.append((name, 0.01 * len(group)))
    return out


def report(profiler: Any, model: Any) -> None:
    """Call ``profiler.report_layer_time`` once per layer, as an engine does per inference."""
    for name, ms in layer_names(model):
        profiler.report_layer_time(name, ms)
