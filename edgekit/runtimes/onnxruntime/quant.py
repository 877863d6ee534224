"""ONNX Runtime INT8: static post-training quantization in QDQ form, with the same per-site
float scope as the OpenVINO path (the excluded nodes keep float inputs and outputs).

QDQ keeps every float tensor of the original graph under its own name (quantization is
inserted as QuantizeLinear/DequantizeLinear pairs between nodes), so parity's taps stay
addressable in the quantized model.

``nodes_to_exclude`` alone does not keep the excluded nodes float: ONNX Runtime quantizes a
tensor for its quantized consumers and then points *every* consumer at the dequantized copy,
excluded ones included, and a weight shared with a quantized node is replaced by its
quantized form for all of its readers. Its ``DedicatedQDQPair`` option does not help (it
still rewires every consumer when a tensor has a single quantized one). So the excluded nodes
get their own copy of each shared float initializer before quantization
(:func:`split_shared_initializers`), and are pointed back at the float tensor before the
QuantizeLinear afterwards (:func:`restore_float_inputs`); :func:`float_leaks` checks it.
The passive tail before the outputs (:func:`passive_tail`) is kept float as well.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..._lazy import require


def quantize_static_qdq(src: Path, dst: Path, calib: np.ndarray, *, exclude_nodes: list[str],
                        input_name: str = "images", per_channel: bool = True,
                        reduce_range: bool = False, tensorrt: bool = False) -> dict[str, Any]:
    """Calibrate on ``calib`` (N, 3, H, W) and write a QDQ model to ``dst``.

    For ONNX Runtime, activations are asymmetric uint8 (SiLU outputs are one-sided) and
    weights symmetric int8 per output channel: the combination its x86 kernels run as U8S8.
    For TensorRT (``tensorrt=True``) everything is symmetric int8 with zero points of 0,
    the only form its explicit quantization accepts.
    """
    require("onnxruntime", extra="onnxruntime", purpose="ONNX Runtime INT8 quantization")
    onnx = require("onnx", extra="onnxruntime")
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(calib[i : i + 1] for i in range(len(calib)))

        def get_next(self) -> dict[str, np.ndarray] | None:
            x = next(self._it, None)
            return None if x is None else {input_name: x}

    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".tmp")
    pre = dst.with_name(dst.name + ".pre.onnx")
    try:
        # shape inference only: ORT's graph optimisation here would rename the nodes that the
        # float scope and the parity taps refer to
        quant_pre_process(str(src), str(pre), skip_optimization=True, skip_symbolic_shape=True)
        prepared = onnx.load(str(pre))
        tail = passive_tail(prepared) - set(exclude_nodes)
        excluded = set(exclude_nodes) | tail
        split = split_shared_initializers(prepared, excluded)
        if split:
            onnx.save(prepared, str(pre))
        quantize_static(str(pre), str(tmp), _Reader(), quant_format=QuantFormat.QDQ,
                        per_channel=per_channel, reduce_range=reduce_range,
                        activation_type=QuantType.QInt8 if tensorrt else QuantType.QUInt8,
                        weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.MinMax,
                        nodes_to_exclude=sorted(excluded),
                        # TensorRT takes float biases (it folds them into its int8 kernels)
                        extra_options={"ActivationSymmetric": tensorrt, "WeightSymmetric": True,
                                       "QuantizeBias": not tensorrt})
        model = onnx.load(str(tmp))
        restored = restore_float_inputs(model, excluded)
        leaks = float_leaks(model, excluded)
        if leaks:
            raise RuntimeError("ONNX Runtime INT8: quantization reaches nodes kept in float: "
                               + "; ".join(leaks[:3]))
        onnx.checker.check_model(model)
        onnx.save(model, str(tmp))
        tmp.replace(dst)
    finally:
        pre.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)
    q = sum(1 for n in model.graph.node if n.op_type == "QuantizeLinear")
    return {"format": "QDQ",
            "activations": "int8 symmetric" if tensorrt else "uint8 asymmetric",
            "weights": "int8 symmetric",
            "per_channel": per_channel, "reduce_range": reduce_range,
            "subset_size": len(calib), "quantize_linear_ops": q,
            "excluded_nodes": len(exclude_nodes), "float_inputs_restored": restored,
            "float_constants_split": split, "float_tail_nodes": len(tail)}


#: ops that only move, select or reshape values: quantizing them saves no arithmetic
PASSIVE_OPS = frozenset({"Concat", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Flatten",
                         "Slice", "Split", "Gather", "GatherElements", "Expand", "Identity",
                         "Tile", "TopK"})


def passive_tail(model: Any) -> set[str]:
    """The nodes between the last arithmetic and the graph outputs: passive ops whose every
    reader is one too. Quantizing them gains nothing and costs accuracy where they join
    tensors of different ranges (a detection head's output Concat of pixel boxes and 0-1
    scores, quantized with one scale, leaves the scores a few levels)."""
    tail: set[str] = set()
    readers: dict[str, list[str]] = {}
    for n in model.graph.node:
        for x in n.input:
            readers.setdefault(x, []).append(n.name)
    for n in reversed(model.graph.node):
        if n.name and n.op_type in PASSIVE_OPS and all(r in tail for o in n.output
                                                       for r in readers.get(o, [])):
            tail.add(n.name)
    return tail


def split_shared_initializers(model: Any, excluded: set[str]) -> int:
    """Give the ``excluded`` nodes their own copy of every float initializer that they share
    with other nodes, so that quantizing it for those nodes leaves theirs float (in place).
    Returns the number of copies made."""
    from onnx import TensorProto, helper

    inits = {t.name: t for t in model.graph.initializer
             if helper.tensor_dtype_to_np_dtype(t.data_type).kind == "f"}
    readers: dict[str, set[bool]] = {}
    for n in model.graph.node:
        for x in n.input:
            if x in inits:
                readers.setdefault(x, set()).add(n.name in excluded)
    taken = {t.name for t in model.graph.initializer} | {x for n in model.graph.node
                                                           for x in (*n.input, *n.output)}
    copies: dict[str, str] = {}
    for name, who in readers.items():
        if who != {True, False}:
            continue
        new, k = f"{name}_float", 1
        while new in taken:
            k += 1
            new = f"{name}_float{k}"
        taken.add(new)
        copy = TensorProto()
        copy.CopyFrom(inits[name])
        copy.name = new
        model.graph.initializer.append(copy)
        copies[name] = new
    for n in model.graph.node:
        if n.name in excluded:
            for i, x in enumerate(n.input):
                if x in copies:
                    n.input[i] = copies[x]
    return len(copies)


def restore_float_inputs(model: Any, excluded: set[str]) -> int:
    """Point every input of an ``excluded`` node that reads a DequantizeLinear of a
    QuantizeLinear back at the float tensor that was quantized, and drop the Q/DQ nodes left
    without readers (in place). Returns the number of inputs rewired."""
    g = model.graph
    producer = {o: n for n in g.node for o in n.output}

    def pair(x: str) -> Any:
        dq = producer.get(x)
        if dq is None or dq.op_type != "DequantizeLinear":
            return None
        q = producer.get(dq.input[0])
        return q if q is not None and q.op_type == "QuantizeLinear" else None

    rewired = 0
    for n in g.node:
        if n.name not in excluded:
            continue
        for i, x in enumerate(n.input):
            src = x
            while (q := pair(src)) is not None:
                src = q.input[0]
            if src != x:
                n.input[i] = src
                rewired += 1
    if rewired:
        outputs = {o.name for o in g.output}
        freed: set[str] = set()
        while True:
            read = {x for n in g.node for x in n.input} | outputs
            dead = [n for n in g.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")
                    and not any(o in read for o in n.output)]
            if not dead:
                break
            for n in dead:
                freed.update(n.input)
                g.node.remove(n)
        # their scales and zero points, where nothing else reads them
        for t in [t for t in g.initializer if t.name in freed - read]:
            g.initializer.remove(t)
    return rewired


def float_leaks(model: Any, excluded: set[str]) -> list[str]:
    """Where quantization reaches a node kept in float: an ``excluded`` node that reads a
    DequantizeLinear output, or an initializer that also feeds a Q/DQ node."""
    g = model.graph
    dq_out = {o for n in g.node if n.op_type == "DequantizeLinear" for o in n.output}
    inits = {t.name for t in g.initializer}
    qdq_in = {x for n in g.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")
              for x in n.input if x in inits}
    leaks = []
    for n in g.node:
        if n.name in excluded:
            leaks += [f"{n.name} reads {x}, " + ("dequantized" if x in dq_out
                                                  else "a constant that is also quantized")
                      for x in n.input if x in dq_out or x in qdq_in]
    return leaks
