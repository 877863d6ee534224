"""The trtexec line that builds the same engine, for the TensorRT major that built it.

TensorRT 10's trtexec takes precision flags (--fp16, --int8), --calib for a calibration cache,
and per-layer constraints (--precisionConstraints, --layerPrecisions, --layerOutputTypes).
TensorRT 11's trtexec has none of those (strong typing is always on, --stronglyTyped is a
deprecated no-op): precision comes from the ONNX it is given."""

from __future__ import annotations

import shlex

from .settings import CALIB_CACHE, ENGINE, INPUT, TrtBuildSettings, source_onnx


def _shape_arg(s: tuple[int, ...]) -> str:
    return f"{INPUT}:" + "x".join(str(d) for d in s)


def trtexec_command(settings: TrtBuildSettings, onnx: str | None = None, engine: str = ENGINE,
                    timing_cache: str | None = "tensorrt/timing.cache",
                    calib_cache: str = CALIB_CACHE) -> str:
    """trtexec pins precision by layer name only, so the fp32 layers are the hotspot nodes by
    name (the Python build also pins by layer type). TF32 is off (--noTF32) in both majors,
    as in the Python build, so fp32 layers compute in fp32."""
    onnx = onnx or source_onnx(settings)
    args = ["trtexec", f"--onnx={onnx}", f"--saveEngine={engine}",
            f"--memPoolSize=workspace:{settings.workspace_bytes // (1 << 20)}M",
            f"--builderOptimizationLevel={settings.optimization_level}", "--noTF32"]
    if not settings.strongly_typed:
        args += _weak_precision_args(settings, calib_cache)
    if settings.dynamic:
        args += [f"--minShapes={_shape_arg(settings.shape(settings.batch_min))}",
                 f"--optShapes={_shape_arg(settings.shape(settings.batch_opt))}",
                 f"--maxShapes={_shape_arg(settings.shape(settings.batch_max))}"]
    if settings.timing_cache and timing_cache:
        args.append(f"--timingCacheFile={timing_cache}")
    return " ".join(shlex.quote(a) for a in args)


def _weak_precision_args(settings: TrtBuildSettings, calib_cache: str) -> list[str]:
    args: list[str] = []
    if settings.precision == "int8":
        args.append("--int8")
        if settings.int8_mode == "calibrator":
            # without a cache trtexec invents placeholder dynamic ranges
            args.append(f"--calib={calib_cache}")
    if settings.float_fp16:
        args.append("--fp16")
    if settings.precision != "fp32" and settings.fp32_layers:
        args += ["--precisionConstraints=obey",
                 "--layerPrecisions=" + ",".join(f"{n}:fp32" for n in settings.fp32_layers)]
        typed = [n for n in settings.fp32_layers if n in set(settings.fp32_output_layers)]
        if typed:
            args.append("--layerOutputTypes=" + ",".join(f"{n}:fp32" for n in typed))
    return args
