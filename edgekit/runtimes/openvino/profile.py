"""OpenVINO's profiler as :class:`~edgekit.runtimes.profiling.OpRecord` records.

The IR is compiled as a plain client compiles it (the precision it carries, no
``INFERENCE_PRECISION_HINT``), with ``PERF_COUNT``. The runtime model (its ops'
``layerType``, ``originalLayersNames``, ``runtimePrecision`` and inputs) gives the
structure once; ``get_profiling_info()`` after each iteration gives each op's time. IR ops
converted from ONNX carry the ONNX node's name (``/model/model.2/Concat``), sometimes with a
suffix (``.../Conv/WithoutBiases``, NNCF's ``.../fq_input_0``) or an output tensor's name
(``tap::model.10.m.0.attn``); reorders the plug-in inserts carry no original layer, and get
the ONNX nodes on either side as ``neighbors``.

:func:`capture` runs the profiler and returns the raw, JSON-able capture; :func:`records`
turns a capture (live or recorded as a test fixture) into records.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from ..._lazy import require
from ..profiling import OnnxNames, OpRecord, kind_of, median

#: runtime-model layers that are no op of the model's
_SKIP = {"Input", "Output", "Parameter", "Result", "Const", "Constant"}
_PRECISIONS = {"i8": "i8", "u8": "u8", "bf16": "bf16", "f32": "f32", "f16": "fp16",
               "i32": "i32", "i64": "i64"}


def _rt(op: Any, key: str) -> str:
    info = op.get_rt_info()
    return info[key].astype(str) if key in info else ""


def _prec(text: str) -> str:
    t = text.strip().lower()
    return _PRECISIONS.get(t, t or "unknown")


def capture(xml: Path, feed: dict[str, np.ndarray], *, iters: int = 50, warmup: int = 5,
            threads: int | None = None, config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Profile ``xml`` over ``iters`` iterations (after ``warmup``), interleaved with an
    unprofiled compile of the same IR, so both see the same machine. ``config``: more
    CPU plug-in properties (a runtime option under test)."""
    ov = require("openvino", extra="openvino", purpose="the OpenVINO profiler")
    core = ov.Core()
    model = core.read_model(str(xml))
    props = ov.properties
    cfg: dict[str, Any] = {props.hint.performance_mode: props.hint.PerformanceMode.LATENCY}
    if threads:
        cfg[props.inference_num_threads] = threads
    cfg.update(config or {})
    prof = core.compile_model(model, "CPU", {**cfg, props.enable_profiling: True})
    plain = core.compile_model(model, "CPU", cfg)
    reqs = prof.create_infer_request(), plain.create_infer_request()
    for _ in range(warmup):
        for r in reqs:
            r.infer(feed)
    clock = time.perf_counter_ns
    per_op: dict[str, list[float]] = {}
    kernels: dict[str, str] = {}  # the plug-in's implementation, e.g. brgconv_avx512_amx_I8
    walls: tuple[list[float], list[float]] = ([], [])
    for _ in range(iters):
        for r, wall in zip(reqs, walls):
            t0 = clock()
            r.infer(feed)
            wall.append((clock() - t0) / 1e6)
        for p in reqs[0].get_profiling_info():
            if str(p.status).endswith("EXECUTED") and not str(p.status).endswith("NOT_EXECUTED"):
                per_op.setdefault(p.node_name, []).append(p.real_time.total_seconds() * 1e6)
                kernels[p.node_name] = str(p.exec_type)
    ops = []
    for op in prof.get_runtime_model().get_ordered_ops():
        name = op.get_friendly_name()
        if _rt(op, "layerType") in ("Const", "Constant"):
            continue  # weights: nothing runs
        ops.append({"name": name, "type": _rt(op, "layerType"),
                    "original": [s for s in _rt(op, "originalLayersNames").split(",") if s],
                    "precision": _rt(op, "runtimePrecision"),
                    "out_precision": _rt(op, "outputPrecisions"),
                    "kernel": kernels.get(name, ""),
                    "inputs": [op.input_value(i).get_node().get_friendly_name()
                               for i in range(op.get_input_size())],
                    "times_us": [round(t, 1) for t in per_op.get(name, [])]})
    hint = prof.get_property("INFERENCE_PRECISION_HINT")
    return {"runtime": "openvino", "ops": ops, "profiled_ms": walls[0],
            "unprofiled_ms": walls[1],
            "settings": {"compiled_as": "plain client (the IR's own precision), PERF_COUNT",
                         "inference_precision": str(getattr(hint, "to_string", lambda: hint)()),
                         "threads": threads, "config": sorted(str(k) for k in config or {})}}


def records(raw: dict[str, Any], names: OnnxNames) -> list[OpRecord]:
    """The records of a capture: one per op that ran, its ONNX nodes resolved by name."""
    ops = [o for o in raw["ops"] if o["type"] not in _SKIP]
    by_name = {o["name"]: o for o in raw["ops"]}
    consumers: dict[str, list[str]] = {}
    for o in raw["ops"]:
        for i in o["inputs"]:
            consumers.setdefault(i, []).append(o["name"])
    out: list[OpRecord] = []
    for o in ops:
        times = o["times_us"]
        if not times or max(times) <= 0:
            continue  # folded into a neighbour, or not run
        nodes = names.resolve_all(o["original"])
        neighbors: tuple[str, ...] = ()
        if not o["original"]:  # inserted by the plug-in: the ONNX nodes on either side
            around = [by_name[n] for n in [*o["inputs"], *consumers.get(o["name"], [])]
                      if n in by_name]
            neighbors = names.resolve_all(s for a in around for s in a["original"])
        quant = any("/fq_" in s or s.endswith("fq_weights_0") for s in o["original"]) \
            and o["type"] not in ("Convolution", "MatMul", "FullyConnected", "GroupConvolution")
        kind = "quantize/dequantize" if quant else kind_of(o["type"], names.onnx_types(nodes))
        prec = _prec(o["precision"])
        out_prec = _prec(o.get("out_precision", "").split(",")[0])
        if o["type"] in ("Reorder", "Convert") and out_prec not in (prec, "unknown"):
            prec = f"{prec}->{out_prec}"  # a conversion: what a float island's border costs
        out.append(OpRecord(o["name"], median(times) / 1000, prec, nodes, o["type"], kind,
                            neighbors, o.get("kernel", "")))
    return out
