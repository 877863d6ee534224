"""A bundle's TensorRT files: what the build takes (fp32 pins, the Q/DQ or mixed-precision
ONNX, trtexec.sh for the major) and the build itself, recorded in the manifest."""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from ..._lazy import available, require
from .settings import (
    CALIB_CACHE,
    ENGINE,
    FP16_ONNX,
    PATHS,
    QDQ_ONNX,
    TrtBuildSettings,
    float_policy_for,
    settings_from_profile,
    source_onnx,
    timing_cache_name,
)

if TYPE_CHECKING:
    from ..plugin import BuildContext

log = logging.getLogger(__name__)

#: ONNX ops whose outputs trtexec may not type (TopK's second output is its int32 indices)
_UNTYPED_OUTPUT_OPS = {"TopK", "Shape", "Cast", "NonZero", "ArgMax", "ArgMin", "Size"}
_FLOAT = {1, 10, 11, 16}  # onnx.TensorProto FLOAT, FLOAT16, DOUBLE, BFLOAT16


def target_major() -> tuple[int, bool]:
    """The TensorRT major to prepare for: the installed one, else 10 (assumed)."""
    if available("tensorrt"):
        from .build import installed_major

        return installed_major(), False
    return 10, True


def typed_output_nodes(deployed: Any, nodes: list[str]) -> list[str]:
    """Of ``nodes``, those whose single output is a float tensor (trtexec may type those)."""
    onnx = require("onnx")
    try:
        inferred = onnx.shape_inference.infer_shapes(deployed)
    except Exception:  # noqa: BLE001 - without types, fall back to the op type alone
        inferred = deployed
    g = inferred.graph
    types = {v.name: v.type.tensor_type.elem_type for v in [*g.value_info, *g.output, *g.input]}
    want = set(nodes)
    return [n.name for n in g.node if n.name in want and n.op_type not in _UNTYPED_OUTPUT_OPS
            and len(n.output) == 1 and types.get(n.output[0], 1) in _FLOAT]


def prepare_tensorrt(ctx: BuildContext, major: int | None = None) -> tuple[TrtBuildSettings, dict[str, Any]]:
    """Everything of a TensorRT build that needs no TensorRT: the fp32 pins (the hotspots of
    the profile's float scope, edgekit/scope.py, by name), the Q/DQ ONNX for INT8
    (symmetric int8, the float scope left out of it), for TensorRT 11 fp16 the
    mixed-precision ONNX (the pins kept fp32 by Cast nodes), and the trtexec script for the
    major."""
    from ...scope import FloatScope
    from .build11 import write_fp16_onnx
    from .cuda import gpu_info
    from .trtexec import trtexec_command

    assumed = False
    if major is None:
        major, assumed = target_major()
    root, profile = ctx.root, ctx.profile
    scope = FloatScope.of(profile.calibration)
    hot = ctx.select(scope.hotspots())
    pins = list(hot.nodes)
    settings = settings_from_profile(profile, major=major, fp32_layers=pins,
                                     fp32_output_layers=typed_output_nodes(ctx.deployed, pins))
    _, why = float_policy_for(profile, major)
    if why:
        log.warning(f"tensorrt: {why}")
    info: dict[str, Any] = {"major": major, "path": PATHS[min(major, 11)],
                            "source_onnx": source_onnx(settings)}
    if assumed:
        info["major_assumed"] = True
    (root / "tensorrt").mkdir(exist_ok=True)
    if settings.precision == "int8" and settings.int8_mode == "qdq":
        from ..onnxruntime.quant import quantize_static_qdq

        require("onnxruntime", extra="onnxruntime",
                purpose="the Q/DQ ONNX of a TensorRT INT8 build (explicit quantization)")
        nodes = ctx.select(scope).nodes
        calib = ctx.calibration()
        info["qdq"] = quantize_static_qdq(ctx.onnx, root / QDQ_ONNX, calib,
                                          exclude_nodes=list(nodes), tensorrt=True)
        log.info(f"tensorrt int8: Q/DQ ONNX (symmetric int8) on {len(calib)} images, "
                 f"{len(nodes)} nodes left in float ({', '.join(scope.labels())})")
    elif settings.precision == "fp16" and settings.strongly_typed:
        info["fp16_onnx"] = write_fp16_onnx(ctx.onnx, root / FP16_ONNX, pins,
                                            list(hot.onnx_types))
        log.info(f"tensorrt fp16 (strongly typed): mixed-precision ONNX, "
                 f"{info['fp16_onnx']['cast_nodes']} Cast nodes around the fp32 islands")
    info["timing_cache"] = timing_cache_name(gpu_info())
    cmd = trtexec_command(settings, timing_cache=info["timing_cache"])
    (root / "tensorrt" / "trtexec.sh").write_text(
        f"#!/bin/sh\n# equivalent trtexec build for TensorRT {major} "
        f"({'strongly typed' if settings.strongly_typed else 'weakly typed'}); run from the "
        "bundle directory\n" + cmd + "\n")
    info["trtexec"] = cmd
    return settings, info


def build_tensorrt(ctx: BuildContext) -> dict[str, Any]:
    """Prepare and build the engine into ``ctx.root``; the manifest's ``tensorrt`` section."""
    from .build import build_engine

    settings, info = prepare_tensorrt(ctx)
    root = ctx.root
    calib = None
    if settings.precision == "int8" and settings.int8_mode == "calibrator":
        calib = ctx.calibration()
        (root / CALIB_CACHE).unlink(missing_ok=True)  # a fresh build calibrates afresh
        info["calibration_cache"] = CALIB_CACHE
    built = build_engine(root / info["source_onnx"], root / ENGINE, settings,
                         calibration=calib, calib_cache=root / CALIB_CACHE,
                         timing_cache_path=root / info["timing_cache"])
    log.info(f"tensorrt {info['major']}: engine built ({settings.precision}"
             f"{', ' + settings.int8_mode if settings.precision == 'int8' else ''}) on "
             f"{built.get('gpu', '?')}; {built.get('fp32_pinned_layers', 0)} layers pinned to fp32")
    return {"settings": asdict(settings), **info, **built}
