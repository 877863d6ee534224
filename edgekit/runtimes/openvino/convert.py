"""OpenVINO IR, converted from the bundle's ONNX (so tensor names line up for parity),
and INT8 by NNCF post-training quantization with an attention-aware ignored scope."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..._lazy import require


def convert(onnx_path: Path, *, keep_tensors: Sequence[str] = ()) -> Any:
    """ONNX -> ov.Model, keeping the named tap tensors addressable.

    OpenVINO's conversion folds chains such as Reshape->Reshape and drops the names of the
    tensors in between, which would make some taps unreachable by ``add_outputs``. The
    taps are therefore exposed as outputs during conversion, and those extra Results are
    removed afterwards: the IR keeps its original outputs, and every tap by name.
    """
    ov = require("openvino", extra="openvino", purpose="OpenVINO IR conversion")
    onnx = require("onnx")
    model_proto = onnx.load(str(onnx_path))
    have = {o.name for o in model_proto.graph.output}
    extra = [t for t in keep_tensors if t not in have]
    for t in extra:
        model_proto.graph.output.append(onnx.helper.make_empty_tensor_value_info(t))
    import tempfile

    with tempfile.TemporaryDirectory(prefix="edgekit-ov-") as d:
        tmp_onnx = Path(d) / "with_taps.onnx"
        onnx.save(model_proto, str(tmp_onnx))
        model = ov.convert_model(str(tmp_onnx))
    if extra:
        wanted = set(extra)
        for result in list(model.get_results()):
            if result.input(0).get_tensor().get_names() & wanted:
                model.remove_result(result)
        model.validate_nodes_and_infer_types()
    return model


def save(model: Any, xml_path: Path, *, fp16: bool = False,
         policy: str | None = None) -> dict[str, Any] | None:
    """Save the IR; with a float-precision ``policy``, carry it in the IR first
    (:func:`edgekit.precision.mark_ir`; ``model`` is changed) and return what was done.
    An f32 policy keeps the weights uncompressed: marked ops over f16 weights run f16."""
    ov = require("openvino", extra="openvino")
    info = None
    if policy is not None:
        from .precision import mark_ir

        info = mark_ir(model, policy)
        fp16 = fp16 and policy != "f32"
    xml_path.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(model, str(xml_path), compress_to_fp16=fp16)
    return info


def ov_names_for(model: Any, onnx_nodes: list[str], onnx_tensors: list[str]) -> list[str]:
    """OpenVINO op names that implement the given ONNX nodes.

    The ONNX frontend names ops after the ONNX node (``/a/b/MatMul``), or after its output
    tensor, sometimes with a suffix for decomposed ops. Exact names first, then prefix
    matches on ``name/`` or ``name.``.
    """
    keys = set(onnx_nodes) | set(onnx_tensors)
    hits: list[str] = []
    for op in model.get_ops():
        n = op.get_friendly_name()
        if n in keys:
            hits.append(n)
            continue
        base = n.split(":")[0]
        if base in keys:
            hits.append(n)
            continue
        for sep in ("/", "."):
            head = n.rsplit(sep, 1)[0]
            if head != n and head in keys:
                hits.append(n)
                break
    return sorted(set(hits))


def quantize_int8(model: Any, calib: np.ndarray, *, ignored_names: list[str],
                  ignored_types: list[str], preset: str = "mixed", transformer: bool = True,
                  input_name: str = "images", options: dict[str, Any] | None = None) -> Any:
    """NNCF post-training INT8; ``options``: more ``nncf.quantize`` arguments (the INT8
    experiments of benchmarks/attribution.py: ``fast_bias_correction``,
    ``advanced_parameters``)."""
    nncf = require("nncf", extra="openvino", purpose="INT8 quantization")
    data = [{input_name: calib[i : i + 1]} for i in range(len(calib))]
    dataset = nncf.Dataset(data)
    scope = nncf.IgnoredScope(names=ignored_names, types=ignored_types, validate=False)
    kwargs: dict[str, Any] = dict(
        subset_size=len(data),
        preset=nncf.QuantizationPreset.MIXED if preset == "mixed" else nncf.QuantizationPreset.PERFORMANCE,
        ignored_scope=scope,
    )
    if transformer:
        kwargs["model_type"] = nncf.ModelType.TRANSFORMER
    kwargs.update(options or {})
    import logging

    # its INFO lines list every ignored node. Only the logger's level, for this call:
    # nncf.set_log_level would also set the level of every handler on NNCF's logger, for
    # good, and those can be the host application's (a test runner's log capture, say)
    lg = logging.getLogger("nncf")
    level = lg.level
    lg.setLevel(logging.ERROR)
    try:
        return nncf.quantize(model, dataset, **kwargs)
    finally:
        lg.setLevel(level)

