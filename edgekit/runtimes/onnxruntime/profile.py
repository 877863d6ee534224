"""ONNX Runtime's profiler as :class:`~edgekit.runtimes.profiling.OpRecord` records.

``SessionOptions.enable_profiling`` writes a JSON trace; its ``Node`` events
(``<node>_kernel_time``, with ``op_name``, ``provider``, ``dur`` in µs and the input types)
are grouped per ``model_run``. Nodes of the optimised graph keep the ONNX node's name, or
take an output tensor's with a suffix (``/a/Conv_output_0_nchwc``, ``/a/Mul/QuickGeluFusion/``);
the NCHWc layout transform's ``ReorderInput``/``ReorderOutput`` nodes are new, and get the
ONNX nodes on either side (read from the optimised graph) as ``neighbors``.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..._lazy import require
from ..profiling import OnnxNames, OpRecord, kind_of, median

#: ops whose input and output precisions differ by design (a float island's border in QDQ)
_CONVERTS = {"Cast", "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"}
_TYPES = {"float": "f32", "float16": "fp16", "bfloat16": "bf16", "uint8": "u8", "int8": "i8",
          "int32": "i32", "int64": "i64"}


def _session(ort: Any, model: Path, threads: int | None, prof_dir: str | None) -> Any:
    from ...hostinfo import usable_cores

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads or usable_cores()
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    # two sessions take turns: a pool spinning after its turn would steal the other's cores
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if prof_dir is not None:
        opts.enable_profiling = True
        opts.profile_file_prefix = str(Path(prof_dir) / "ort")
        opts.optimized_model_filepath = str(Path(prof_dir) / "optimized.onnx")
    return ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])


def _neighbors(optimized: Path) -> dict[str, list[str]]:
    """For each node of the optimised graph, the nodes on either side (what a node the
    optimiser created, a layout reorder or a transpose, is mapped by)."""
    onnx = require("onnx")
    g = onnx.load(str(optimized), load_external_data=False).graph
    prod = {o: n.name for n in g.node for o in n.output}
    cons: dict[str, list[str]] = {}
    for n in g.node:
        for i in n.input:
            cons.setdefault(i, []).append(n.name)
    return {n.name: [prod[i] for i in n.input if i in prod]
            + [c for o in n.output for c in cons.get(o, [])]
            for n in g.node}


def capture(model: Path, feed: dict[str, np.ndarray], *, iters: int = 50, warmup: int = 5,
            threads: int | None = None) -> dict[str, Any]:
    """Profile ``model`` on the CPU provider over ``iters`` iterations, interleaved with an
    unprofiled session of it."""
    ort = require("onnxruntime", extra="onnxruntime", purpose="the ONNX Runtime profiler")
    with tempfile.TemporaryDirectory(prefix="edgekit-ortprof-") as d:
        prof, plain = _session(ort, model, threads, d), _session(ort, model, threads, None)
        for _ in range(warmup):
            prof.run(None, feed)
            plain.run(None, feed)
        walls: tuple[list[float], list[float]] = ([], [])
        clock = time.perf_counter_ns
        for _ in range(iters):
            for s, wall in zip((prof, plain), walls):
                t0 = clock()
                s.run(None, feed)
                wall.append((clock() - t0) / 1e6)
        trace = json.loads(Path(prof.end_profiling()).read_text())
        neighbors = _neighbors(Path(d) / "optimized.onnx")
    runs = sorted((e["ts"], e["ts"] + e["dur"]) for e in trace
                  if e.get("cat") == "Session" and e["name"] == "model_run")[-iters:]
    nodes: dict[str, dict[str, Any]] = {}
    for e in trace:
        if e.get("cat") != "Node" or not e["name"].endswith("_kernel_time"):
            continue
        if not any(a <= e["ts"] <= b for a, b in runs):
            continue  # a warm-up run
        a = e["args"]
        name = e["name"].removesuffix("_kernel_time")
        n = nodes.setdefault(name, {"op": a.get("op_name", ""), "provider": a.get("provider", ""),
                                    "type": _first_type(a.get("input_type_shape")),
                                    "out_type": _first_type(a.get("output_type_shape")),
                                    "durs": []})
        n["durs"].append(e["dur"])
    return {"runtime": "onnxruntime", "nodes": nodes, "neighbors": neighbors,
            "profiled_ms": walls[0], "unprofiled_ms": walls[1],
            "settings": {"provider": "CPUExecutionProvider", "graph_optimization": "all",
                         "intra_op_spinning": False,
                         "threads": threads}}


def _first_type(shapes: list[dict[str, Any]] | None) -> str:
    return next(iter(shapes[0]), "") if shapes else ""


def records(raw: dict[str, Any], names: OnnxNames) -> list[OpRecord]:
    recs: list[OpRecord] = []
    for name, n in raw["nodes"].items():
        nodes = () if n["op"].startswith("Reorder") else names.resolve_all([name])
        near: tuple[str, ...] = ()
        if not nodes:  # created by the optimiser: the ONNX nodes around it
            near = names.resolve_all(raw["neighbors"].get(name, []))
        prec = _TYPES.get(n["type"], n["type"] or "unknown")
        out = _TYPES.get(n.get("out_type", ""), "unknown")
        if out not in (prec, "unknown") and n["op"] in _CONVERTS:
            prec = f"{prec}->{out}"  # a conversion: what a float island's border costs
        recs.append(OpRecord(name, median(n["durs"]) / 1000, prec, nodes, n["op"],
                             kind_of(n["op"], names.onnx_types(nodes)), near))
    return recs
