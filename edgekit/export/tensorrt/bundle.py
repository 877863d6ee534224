"""A bundle's TensorRT files: what the build takes (fp32 pins, the Q/DQ or mixed-precision
ONNX, trtexec.sh for the major) and the build itself, recorded in the manifest."""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..._lazy import available, require
from .settings import (
    CALIB_CACHE,
    ENGINE,
    FP16_ONNX,
    PATHS,
    QDQ_ONNX,
    TrtBuildSettings,
    settings_from_profile,
    source_onnx,
    timing_cache_name,
)

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


def prepare_tensorrt(bundle_dir: Path, profile: Any, taps: list[dict[str, Any]],
                     mode: str = "letterbox", major: int | None = None,
                     images: str | list[Path] | None = None) -> tuple[TrtBuildSettings, dict[str, Any]]:
    """Everything of a TensorRT build that needs no TensorRT: the fp32 pins (hotspot nodes of
    the profile's float scope, by name), the Q/DQ ONNX for INT8 (symmetric int8, the float
    scope left out of it), for TensorRT 11 fp16 the mixed-precision ONNX (the pins kept fp32
    by Cast nodes), and the trtexec script for the major."""
    from ..pipeline import calibration_batch, calibration_scope, describe_scope, float_scope
    from .build11 import ONNX_OPS_FOR_LAYER_TYPE, write_fp16_onnx
    from .cuda import gpu_info
    from .trtexec import trtexec_command

    onnx = require("onnx", purpose="TensorRT build preparation")
    assumed = False
    if major is None:
        major, assumed = target_major()
    deployed = onnx.load(str(bundle_dir / "model.onnx"))
    cal = profile.calibration
    from .settings import hotspot_items

    pins, _, _ = float_scope(deployed, taps, hotspot_items(profile))
    settings = settings_from_profile(profile, major=major, fp32_layers=pins,
                                     fp32_output_layers=typed_output_nodes(deployed, pins))
    info: dict[str, Any] = {"major": major, "path": PATHS[min(major, 11)],
                            "source_onnx": source_onnx(settings)}
    if assumed:
        info["major_assumed"] = True
    (bundle_dir / "tensorrt").mkdir(exist_ok=True)
    if settings.precision == "int8" and settings.int8_mode == "qdq":
        from ..ort_quant import quantize_static_qdq

        require("onnxruntime", extra="onnxruntime",
                purpose="the Q/DQ ONNX of a TensorRT INT8 build (explicit quantization)")
        nodes, _, _ = calibration_scope(deployed, taps, cal)
        calib = calibration_batch(profile, mode, images)
        info["qdq"] = quantize_static_qdq(bundle_dir / "model.onnx", bundle_dir / QDQ_ONNX,
                                          calib, exclude_nodes=nodes, tensorrt=True)
        log.info(f"tensorrt int8: Q/DQ ONNX (symmetric int8) on {len(calib)} images, "
            f"{len(nodes)} nodes left in float "
            f"({', '.join(describe_scope(cal.float_scope, cal.float_sites, cal.float_blocks))})")
    elif settings.precision == "fp16" and settings.strongly_typed:
        ops = [ONNX_OPS_FOR_LAYER_TYPE[t] for t in settings.fp32_layer_types
               if t in ONNX_OPS_FOR_LAYER_TYPE]
        info["fp16_onnx"] = write_fp16_onnx(bundle_dir / "model.onnx", bundle_dir / FP16_ONNX,
                                            pins, ops)
        log.info(f"tensorrt fp16 (strongly typed): mixed-precision ONNX, "
            f"{info['fp16_onnx']['cast_nodes']} Cast nodes around the fp32 islands")
    info["timing_cache"] = timing_cache_name(gpu_info())
    cmd = trtexec_command(settings, timing_cache=info["timing_cache"])
    (bundle_dir / "tensorrt" / "trtexec.sh").write_text(
        f"#!/bin/sh\n# equivalent trtexec build for TensorRT {major} "
        f"({'strongly typed' if settings.strongly_typed else 'weakly typed'}); run from the "
        "bundle directory\n" + cmd + "\n")
    info["trtexec"] = cmd
    return settings, info


def build_tensorrt(bundle_dir: Path, profile: Any, taps: list[dict[str, Any]],
                   mode: str = "letterbox", images: str | list[Path] | None = None) -> dict[str, Any]:
    from ..pipeline import calibration_batch
    from .build import build_engine

    settings, info = prepare_tensorrt(bundle_dir, profile, taps, mode, images=images)
    calib = None
    if settings.precision == "int8" and settings.int8_mode == "calibrator":
        calib = calibration_batch(profile, mode, images)
        (bundle_dir / CALIB_CACHE).unlink(missing_ok=True)  # a fresh build calibrates afresh
        info["calibration_cache"] = CALIB_CACHE
    built = build_engine(bundle_dir / info["source_onnx"], bundle_dir / ENGINE, settings,
                         calibration=calib, calib_cache=bundle_dir / CALIB_CACHE,
                         timing_cache_path=bundle_dir / info["timing_cache"])
    log.info(f"tensorrt {info['major']}: engine built ({settings.precision}"
        f"{', ' + settings.int8_mode if settings.precision == 'int8' else ''}) on "
        f"{built.get('gpu', '?')}; {built.get('fp32_pinned_layers', 0)} layers pinned to fp32")
    return {"tensorrt": {"settings": asdict(settings), **info, **built}}


def reconcile_profile(profile: Any, manifest: dict[str, Any]) -> Any:
    """A device profile applied to an existing bundle: the bundle's ONNX fixes the image
    size and, when its batch is static, the batch (a dynamic range cannot build on it)."""
    inp = manifest["input"]
    update: dict[str, Any] = {}
    if profile.imgsz != inp["imgsz"]:
        update["imgsz"] = inp["imgsz"]
    if not inp.get("dynamic_batch"):
        size = int(inp["shape"][0])
        b = profile.batch
        if b.dynamic or b.size != size:
            update["batch"] = b.model_copy(update={"dynamic": False, "size": size, "min": size,
                                                   "opt": None, "max": size})
            log.warning(f"the bundle's ONNX has a static batch of {size}: the "
                f"engine takes batch {size} (profile {profile.name} asked for "
                f"{f'{b.min}..{b.max}' if b.dynamic else b.size}); export with a "
                "dynamic-batch profile for a range")
    return profile.model_copy(update=update) if update else profile
