"""TensorRT 11: strongly typed networks only. Precision lives in the graph: INT8 by the Q/DQ
ONNX (explicit quantization), fp16 by a mixed-precision ONNX whose fp32 islands (the float
scope's hotspots) are kept by Cast nodes. No builder precision flags, no per-layer precision,
no calibrators: those APIs no longer exist in 11."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..._lazy import require
from ...errors import UsageError
from .settings import TrtBuildSettings

#: ONNX op types that stay fp32 in the fp16 graph, besides the named islands: the
#: converter's own block list (ops without fp16 kernels, TopK among them) plus Resize's
#: coordinate inputs
_EXTRA_FP32_OPS = ("Resize",)


def write_fp16_onnx(src: Path, dst: Path, fp32_nodes: list[str], fp32_op_types: list[str]) -> \
        dict[str, Any]:
    """The fp16 ONNX a strongly typed build takes: every float tensor fp16 except inside the
    islands (``fp32_nodes`` by name, ``fp32_op_types`` by type), which Cast nodes feed and
    drain in fp32. The model's input and output stay fp32."""
    require("onnxruntime", extra="onnxruntime",
            purpose="the mixed-precision ONNX of a TensorRT 11 fp16 build")
    onnx = require("onnx", extra="onnxruntime")
    from onnxruntime.transformers.float16 import DEFAULT_OP_BLOCK_LIST, convert_float_to_float16
    from onnxruntime.transformers.onnx_model import OnnxModel

    model = onnx.load(str(src))
    ops = sorted(set(DEFAULT_OP_BLOCK_LIST) | set(fp32_op_types) | set(_EXTRA_FP32_OPS))
    mixed = convert_float_to_float16(model, keep_io_types=True, op_block_list=ops,
                                     node_block_list=list(fp32_nodes))
    OnnxModel(mixed).topological_sort()  # the converter appends its input Casts at the end
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".tmp")
    onnx.save(mixed, str(tmp))
    tmp.replace(dst)
    casts = sum(1 for n in mixed.graph.node if n.op_type == "Cast")
    kept = {n.name for n in mixed.graph.node if n.name in set(fp32_nodes)}
    return {"format": "mixed fp16/fp32", "fp32_nodes": len(kept),
            "fp32_op_types": ops, "cast_nodes": casts}


def network_flags(trt: Any) -> int:
    """Strong typing is always on in 11; the flag is kept (deprecated) where it exists."""
    flag = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    return 1 << int(flag) if flag is not None else 0


def configure(trt: Any, network: Any, config: Any, settings: TrtBuildSettings) -> dict[str, Any]:
    """Nothing to set: check that the graph carries the precision the profile asks for."""
    if settings.precision == "int8" and settings.int8_mode != "qdq":
        raise UsageError("TensorRT 11 builds INT8 only from a Q/DQ ONNX (runtime.trt_int8: qdq)")
    seen = set()
    for li in range(network.num_layers):
        layer = network.get_layer(li)
        seen.add(layer.type)
        for oi in range(layer.num_outputs):
            seen.add(layer.get_output(oi).dtype)
    want = {"fp16": trt.float16, "int8": trt.LayerType.QUANTIZE}.get(settings.precision)
    if want is not None and want not in seen:
        raise UsageError(f"the ONNX for a TensorRT 11 {settings.precision} build carries no "
                         f"{settings.precision} (a strongly typed network takes precision "
                         "from the graph): rebuild the bundle's TensorRT files with this profile")
    return {"layers": 0, "skipped_layers": 0, "unmatched_nodes": []}
