"""TensorRT 10 (JetPack 6, older x86): weakly typed networks. Precision comes from builder
flags, hotspots are pinned to fp32 layer by layer under OBEY_PRECISION_CONSTRAINTS, and INT8
is explicit (Q/DQ in the ONNX) or implicit (an entropy calibrator, deprecated since 10.1)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ...errors import UsageError
from .cuda import Device, require_cudart
from .settings import TrtBuildSettings


def configure(trt: Any, network: Any, config: Any, settings: TrtBuildSettings, *,
              calibration: np.ndarray | None, calib_cache: Path | None,
              calib_readonly: bool, stack: Any) -> dict[str, Any]:
    """Set the precision flags, the fp32 pins and (implicit INT8) the calibrator."""
    if settings.float_fp16:  # fp16 builds, and INT8 builds whose float parts are fp16
        config.set_flag(trt.BuilderFlag.FP16)
    if settings.precision == "int8":
        config.set_flag(trt.BuilderFlag.INT8)  # with Q/DQ in the ONNX: explicit quantization
        if settings.int8_mode == "calibrator":
            cached = calib_cache is not None and calib_cache.is_file() \
                and calib_cache.stat().st_size > 0
            if calibration is None and not cached:
                raise UsageError("an INT8 engine with a calibrator needs calibration images "
                                 "or the calibration cache it was built with")
            if calib_cache is None:
                raise UsageError("an INT8 calibrator needs a calibration cache path")
            config.int8_calibrator = stack.enter_context(
                EntropyCalibrator(trt, calibration, calib_cache, settings.batch_opt,
                                  readonly=calib_readonly))
    pinned: dict[str, Any] = {"layers": 0, "skipped_layers": 0, "unmatched_nodes": []}
    if settings.precision != "fp32" and (settings.fp32_layer_types or settings.fp32_layers):
        pinned = keep_layers_fp32(trt, network, settings)
        if pinned["layers"]:
            config.set_flag(trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
    return pinned


def after_profile(trt: Any, config: Any, profile: Any, settings: TrtBuildSettings) -> None:
    if settings.precision == "int8" and settings.int8_mode == "calibrator":
        config.set_calibration_profile(profile)


def _is_float(trt: Any, t: Any) -> bool:
    return t is not None and t.dtype in (trt.float32, trt.float16) and not t.is_shape_tensor


def layer_matches(layer_name: str, node_names: frozenset[str] | set[str]) -> str | None:
    """The ONNX node a TensorRT layer is, if it is one of ``node_names``: the exact name, as
    trtexec's --layerPrecisions matches (a prefix would also catch ``/x/Sigmoid_1`` and
    ONNX Runtime's ``<tensor>_QuantizeLinear``)."""
    return layer_name if layer_name in node_names else None


def keep_layers_fp32(trt: Any, network: Any, settings: TrtBuildSettings) -> dict[str, Any]:
    """Pin precision hotspots to fp32: layers of the hotspot types (softmax, normalisation,
    GridSample, TopK) and the layers named after the pinned ONNX nodes (the final score
    Sigmoid, and any per-site scope). A layer with an int or shape-tensor input takes no
    precision, nor does one with a shape-tensor or no float output (TensorRT refuses the
    build under OBEY); only float outputs are typed, so
    TopK's int32 index output keeps its type. Returns how many layers were pinned, how many
    named ones were skipped for int I/O, and which named nodes matched no layer."""
    types = {getattr(trt.LayerType, t) for t in settings.fp32_layer_types
             if hasattr(trt.LayerType, t)}
    names = frozenset(settings.fp32_layers)
    seen: set[str] = set()
    n = skipped = 0
    for li in range(network.num_layers):
        layer = network.get_layer(li)
        node = layer_matches(layer.name or "", names) if names else None
        if node is not None:
            seen.add(node)
        if layer.type not in types and node is None:
            continue
        ins = [layer.get_input(i) for i in range(layer.num_inputs)]
        outs = [layer.get_output(i) for i in range(layer.num_outputs)]
        if not all(_is_float(trt, t) for t in ins if t is not None) \
                or any(t.is_shape_tensor for t in outs) or not any(_is_float(trt, t) for t in outs):
            skipped += 1
            continue
        layer.precision = trt.float32
        for oi, t in enumerate(outs):
            if _is_float(trt, t):
                layer.set_output_type(oi, trt.float32)
        n += 1
    return {"layers": n, "skipped_layers": skipped, "unmatched_nodes": sorted(names - seen)}


def EntropyCalibrator(trt: Any, images: np.ndarray | None, cache_path: Path, batch: int, *,
                      readonly: bool = False) -> Any:
    """An entropy calibrator (TensorRT 10 only) fed ``batch`` preprocessed images at a time.

    TensorRT sizes each calibration batch from the calibration profile's OPT shape, so a
    batch is the OPT batch (the last, short one is filled by repeating images). An existing,
    non-empty cache is used instead of the images; ``readonly`` never writes the cache (a
    parity rebuild reuses the deployed engine's). A context manager: leaving it frees the
    device buffer and the stream."""
    cudart = require_cudart("INT8 calibration")

    class _Calibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            data = np.zeros((0, 3, 1, 1), np.float32) if images is None else images
            self.data = np.ascontiguousarray(data, dtype=np.float32)
            self.batch = max(1, int(batch))
            self.i = 0
            self.batches_fed = 0
            self.device = Device(cudart)
            self.ptr = self.device.buffer("calibration", self.data[:1].nbytes * self.batch) \
                if len(self.data) else 0

        def get_batch_size(self) -> int:
            return self.batch

        def get_batch(self, names):  # noqa: ARG002
            if self.i >= len(self.data):
                return None
            idx = [(self.i + j) % len(self.data) for j in range(self.batch)]
            x = np.ascontiguousarray(self.data[idx])
            self.device.to_device(self.ptr, x)
            self.device.sync()
            self.i += self.batch
            self.batches_fed += 1
            return [int(self.ptr)]

        def read_calibration_cache(self):
            if cache_path.is_file() and cache_path.stat().st_size > 0:
                return cache_path.read_bytes()
            return None  # no cache, or an empty file: calibrate

        def write_calibration_cache(self, cache) -> None:
            if readonly:
                return
            tmp = cache_path.with_name(cache_path.name + ".tmp")
            tmp.write_bytes(bytes(cache))
            tmp.replace(cache_path)

        def __enter__(self):
            return self

        def __exit__(self, *exc: Any) -> None:
            self.device.close()

    return _Calibrator()
