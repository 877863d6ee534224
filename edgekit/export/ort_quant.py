"""ONNX Runtime INT8: static post-training quantization in QDQ form, with the same per-site
float scope as the OpenVINO path (the excluded nodes keep float inputs and outputs).

QDQ keeps every float tensor of the original graph under its own name (quantization is
inserted as QuantizeLinear/DequantizeLinear pairs between nodes), so parity's taps stay
addressable in the quantized model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .._lazy import require


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
    # shape inference only: ORT's graph optimisation here would rename the nodes that the
    # float scope and the parity taps refer to
    quant_pre_process(str(src), str(pre), skip_optimization=True, skip_symbolic_shape=True)
    quantize_static(str(pre), str(tmp), _Reader(), quant_format=QuantFormat.QDQ,
                    per_channel=per_channel, reduce_range=reduce_range,
                    activation_type=QuantType.QInt8 if tensorrt else QuantType.QUInt8,
                    weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax,
                    nodes_to_exclude=list(exclude_nodes),
                    # TensorRT takes float biases (it folds them into its int8 kernels)
                    extra_options={"ActivationSymmetric": tensorrt, "WeightSymmetric": True,
                                   "QuantizeBias": not tensorrt})
    pre.unlink()
    tmp.replace(dst)
    model = onnx.load(str(dst), load_external_data=False)
    q = sum(1 for n in model.graph.node if n.op_type == "QuantizeLinear")
    return {"format": "QDQ",
            "activations": "int8 symmetric" if tensorrt else "uint8 asymmetric",
            "weights": "int8 symmetric",
            "per_channel": per_channel, "reduce_range": reduce_range,
            "subset_size": len(calib), "quantize_linear_ops": q,
            "excluded_nodes": len(exclude_nodes)}
