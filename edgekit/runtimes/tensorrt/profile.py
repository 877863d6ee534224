"""TensorRT's ``IProfiler`` as :class:`~edgekit.runtimes.profiling.OpRecord` records.

NEVER RUN ON REAL TENSORRT: built against the TensorRT documentation (``IProfiler``'s
``report_layer_time(layer_name, ms)``, called once per layer per inference; names are the
network's layer names when the engine is built with detailed profiling verbosity, else
layer indices) and against the stand-in (:mod:`edgekit.testing.fake_profiler`).

A layer name covers ONNX nodes in several shapes, all parsed here:
``A + B`` (fused), ``A + PWN(B, C)`` (a pointwise tail), ``{ForeignNode[A...B]}`` (a Myelin
region named by its first and last node), ``Reformatting CopyNode for Input Tensor 0 to A``
(inserted: ``A`` is its neighbour), and ``[ONNX Layer: A]`` metadata, which wins where
present. The profiler reports no precision: records say ``unknown`` unless the engine
inspector's per-layer precisions are given.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..profiling import OnnxNames, OpRecord, kind_of, median

_META = re.compile(r"\[ONNX Layer: ([^\]]+)\]")
_FOREIGN = re.compile(r"\{ForeignNode\[(.+?)\]\}")
_REFORMAT = re.compile(r"^Reformatting CopyNode for (?:Input|Output) Tensor \d+ to (.+)$")


def onnx_parts(layer: str) -> tuple[list[str], list[str], bool]:
    """(ONNX names the layer covers, names beside it, whether TensorRT inserted it)."""
    meta = [m.strip() for g in _META.findall(layer) for m in re.split(r"[,\x1e]", g)]
    bare = _META.sub("", layer).strip()
    m = _REFORMAT.match(bare)
    if m:
        return [], [m.group(1).strip()], True
    if meta:
        return meta, [], False
    names: list[str] = []
    for f in _FOREIGN.findall(bare):
        names += [p.strip() for p in f.split("...") if p.strip()]
    bare = _FOREIGN.sub("", bare)
    for part in bare.split(" + "):
        inner = re.match(r"^\w+\((.*)\)$", part.strip())  # PWN(a, b)
        names += [p.strip() for p in (inner.group(1).split(",") if inner else [part]) if p.strip()]
    return names, [], False


def records(raw: dict[str, Any], names: OnnxNames) -> list[OpRecord]:
    prec = raw.get("precisions", {})
    out: list[OpRecord] = []
    for layer, times in raw["layers"].items():
        covered, beside, inserted = onnx_parts(layer)
        nodes = names.resolve_all(covered)
        near = names.resolve_all(beside)
        if inserted:
            op_type = "Reformat"
        elif "ForeignNode" in layer:
            op_type = "Myelin"
        else:
            op_type = names.onnx_types(nodes[:1])[0] if nodes else "unknown"
        kind = "reorder/convert" if inserted else kind_of(op_type, names.onnx_types(nodes))
        out.append(OpRecord(layer, median(times), prec.get(layer, "unknown"), nodes, op_type,
                            kind, near))
    return out


def capture(engine: Path, feed: dict[str, np.ndarray], *, iters: int = 50, warmup: int = 5,
            threads: int | None = None) -> dict[str, Any]:
    """Attach an ``IProfiler`` to the runner's execution context for every other iteration
    (the others are the unprofiled run)."""
    from . import require_trt
    from .runner import TensorRTRunner

    trt = require_trt()
    layers: dict[str, list[float]] = {}

    class Profiler(trt.IProfiler):  # type: ignore[name-defined]
        def report_layer_time(self, layer_name: str, ms: float) -> None:
            layers.setdefault(layer_name, []).append(float(ms))

    prof = Profiler()
    walls: tuple[list[float], list[float]] = ([], [])
    runner = TensorRTRunner(engine)
    with runner:
        for i in range(warmup + iters):
            for on, wall in zip((True, False), walls):
                runner.context.profiler = prof if on else None
                t0 = time.perf_counter_ns()
                runner.infer(feed)
                if i >= warmup:
                    wall.append((time.perf_counter_ns() - t0) / 1e6)
                elif on:
                    layers.clear()
    return {"runtime": "tensorrt", "layers": layers, "profiled_ms": walls[0],
            "unprofiled_ms": walls[1],
            "settings": {"note": "layer names need an engine built with detailed profiling "
                                 "verbosity"}}
