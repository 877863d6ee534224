"""The float-precision policy (:mod:`edgekit.precision`) carried in an OpenVINO IR, so that a
plain ``compile_model`` with no config, and ``benchmark_app``, run what parity verified.

OpenVINO's CPU plugin ignores ``runtime_options/INFERENCE_PRECISION_HINT`` in the IR's
rt_info (measured on 2026.4), and picks bf16 by default on a CPU that has it. What it does
honour is a per-op mark, the "disable precision conversion" attribute (``precise_0``), on
ops whose weights are not f16-compressed: a marked op keeps f32 under a bf16 default. So an
f32 policy is carried by marking the float ops; the rt_info entry is the written record.
The mark does not survive the plugin's own op rewrites (it is not copied), so SoftMax-8,
MaxPool-8 and Interpolate-11 are rewritten here to the older versions the plugin keeps; a
MatMul with constant weights (RT-DETR's linear layers) still becomes a FullyConnected without
its mark, and an int8 op's output is written at the default precision.
:func:`plain_client_precisions` compiles the IR the way a plain client does and names what
still runs reduced, for the manifest.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..._lazy import require
from ...precision import FLOAT_PRECISIONS

#: OpenVINO's names for them (``auto``: no hint, the plugin's default)
OV_TYPES = {"f32": "f32", "bf16": "bf16", "fp16": "f16"}
#: the rt_info path of the recorded policy
RT_INFO_KEY = ["runtime_options", "INFERENCE_PRECISION_HINT"]
#: OpenVINO's rt_info key of the "keep this op's precision" mark
PRECISE_MARK = "precise_0"
#: what the runtime-model precisions are called, in the policy's words
_FROM_OV = {"f32": "f32", "bf16": "bf16", "f16": "fp16", "bfloat16": "bf16", "float32": "f32",
            "float16": "fp16"}
#: runtime layers that compute nothing of their own
_PLUMBING = {"Input", "Output", "Const", "Reorder", "Parameter", "Result"}


def policy_name(ov_value: Any) -> str:
    """An OpenVINO precision (an ov.Type, its str or its name) in the policy's words."""
    text = ov_value.to_string() if hasattr(ov_value, "to_string") else str(ov_value)
    text = text.replace("<Type: '", "").replace("'>", "").strip().lower()
    return _FROM_OV.get(text, text)


def _is_quantizer(op: Any) -> bool:
    return op.get_type_name() == "FakeQuantize"


def _softmax8_to_1(model: Any) -> int:
    """SoftMax-8 -> SoftMax-1 (same axis, made positive): the CPU plugin rewrites a SoftMax-8
    itself and drops the op's mark on the way; a SoftMax-1 it keeps as it is."""
    ov = require("openvino", extra="openvino")
    opset1 = ov.opset1
    n = 0
    for op in list(model.get_ops()):
        if op.get_type_name() != "Softmax" or op.get_type_info().version_id != "opset8":
            continue
        rank = op.get_input_partial_shape(0).rank
        if rank.is_dynamic:
            continue
        new = opset1.softmax(op.input_value(0), op.get_axis() % rank.get_length())
        _take_place(op, new)
        n += 1
    return n


def _maxpool8_to_1(model: Any) -> int:
    """MaxPool-8 whose indices no op reads -> MaxPool-1 (the plugin's own rewrite drops the
    mark)."""
    ov = require("openvino", extra="openvino")
    n = 0
    for op in list(model.get_ops()):
        if op.get_type_name() != "MaxPool" or op.get_type_info().version_id != "opset8":
            continue
        a = op.get_attributes()
        if op.output(1).get_target_inputs() or any(d != 1 for d in a["dilations"]):
            continue
        new = ov.opset1.max_pool(op.input_value(0), a["strides"], a["pads_begin"], a["pads_end"],
                                 a["kernel"], a["rounding_type"], a["auto_pad"])
        _take_place(op, new)
        n += 1
    return n


def _interpolate11_to_4(model: Any) -> int:
    """Interpolate-11 by scales over a static shape -> Interpolate-4 (same attributes, the
    output sizes made explicit): the plugin's own rewrite drops the mark."""
    ov = require("openvino", extra="openvino")
    n = 0
    for op in list(model.get_ops()):
        if op.get_type_name() != "Interpolate" or op.get_type_info().version_id != "opset11":
            continue
        a = op.get_attributes()
        out = op.get_output_partial_shape(0)
        if a["shape_calculation_mode"] != "scales" or out.is_dynamic:
            continue
        if op.get_input_size() > 2:
            node = op.input_value(2).get_node()
            if node.get_type_name() != "Constant":
                continue
            axes = [int(v) for v in node.get_vector()]
        else:
            axes = list(range(out.rank.get_length()))
        sizes = ov.opset1.constant(np.array([out[i].get_length() for i in axes], np.int64))
        # opset10's builder makes the Interpolate-4 op
        new = ov.opset10.interpolate(op.input_value(0), sizes, op.input_value(1), a["mode"],
                                     "scales", a["pads_begin"], a["pads_end"],
                                     a["coordinate_transformation_mode"], a["nearest_mode"],
                                     a["antialias"], a["cube_coeff"],
                                     ov.opset1.constant(np.array(axes, np.int64)))
        _take_place(op, new)
        n += 1
    return n


def _take_place(old: Any, new: Any) -> None:
    new.set_friendly_name(old.get_friendly_name())
    new.output(0).get_tensor().set_names(old.output(0).get_tensor().get_names())
    old.output(0).replace(new.output(0))


def mark_ir(model: Any, policy: str) -> dict[str, Any]:
    """Write ``policy`` into an ov.Model (before ``save_model(..., compress_to_fp16=False)``):
    the rt_info record always (``auto`` writes none), and for ``f32`` the per-op marks that
    make a plain client run the float ops at f32. Quantizers stay unmarked; the int8 ops
    fused with them are unaffected (LPT still fuses them). Returns what was done."""
    if policy not in FLOAT_PRECISIONS:
        raise ValueError(f"unknown float precision '{policy}'")
    info: dict[str, Any] = {"policy": policy, "rt_info": None, "marked_ops": 0}
    if policy == "auto":
        return info
    model.set_rt_info(OV_TYPES[policy], RT_INFO_KEY)
    info["rt_info"] = "/".join(RT_INFO_KEY) + f" = {OV_TYPES[policy]}"
    if policy == "f32":
        info["rewritten"] = {"softmax": _softmax8_to_1(model), "maxpool": _maxpool8_to_1(model),
                             "interpolate": _interpolate11_to_4(model)}
        for op in model.get_ops():
            if not _is_quantizer(op):
                op.get_rt_info()[PRECISE_MARK] = ""
                info["marked_ops"] += 1
    return info


def runtime_ops(compiled: Any) -> list[tuple[str, str, list[str]]]:
    """(layer type, runtime precision, original op names) of each computing op of a compiled
    model, read from its runtime graph."""
    out = []
    for op in compiled.get_runtime_model().get_ordered_ops():
        rt = op.get_rt_info()
        kind = rt["layerType"].astype(str)
        if kind in _PLUMBING:
            continue
        names = [n for n in rt["originalLayersNames"].astype(str).split(",") if n]
        out.append((kind, policy_name(rt["runtimePrecision"].astype(str)), names))
    return out


def float_op_precisions(compiled: Any, model: Any) -> dict[str, Any]:
    """The precisions the float ops of ``model`` really run at in ``compiled``: an op fused
    with a quantizer (FakeQuantize) is part of the quantized path and not counted."""
    fq = {op.get_friendly_name() for op in model.get_ops() if _is_quantizer(op)}
    counts: dict[str, int] = {}
    reduced: list[str] = []
    int8 = 0
    for kind, prec, names in runtime_ops(compiled):
        if prec in ("u8", "i8"):
            int8 += 1
            continue
        if fq & set(names) or prec not in ("f32", "bf16", "fp16"):
            continue
        counts[prec] = counts.get(prec, 0) + 1
        if prec != "f32":
            reduced.append(f"{kind} {names[0] if names else '?'}")
    return {"float_ops": counts, "int8_ops": int8, "reduced": reduced}


def plain_client_precisions(xml: Any, device: str = "CPU") -> dict[str, Any]:
    """Compile an IR as a plain client does (no config) and report its float ops'
    precisions and the default hint in force there."""
    ov = require("openvino", extra="openvino")
    core = ov.Core()
    model = core.read_model(str(xml))
    compiled = core.compile_model(model, device)
    out = float_op_precisions(compiled, model)
    out["default_hint"] = policy_name(compiled.get_property("INFERENCE_PRECISION_HINT"))
    return out
