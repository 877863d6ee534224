"""TensorRT engine building for TensorRT 10 (weakly typed, JetPack 6) and 11 (strongly typed),
chosen by the installed major; TensorRT itself is imported lazily.

Pure parts, unit-tested without the library: profile -> :class:`TrtBuildSettings`, the
equivalent ``trtexec`` command line for each major, and the engine compatibility check. The
build needs ``tensorrt`` and a GPU (or the stand-in in :mod:`edgekit.testing.fake_tensorrt`);
engines are raw plans with no header, so trtexec and DeepStream can load them, and their
metadata lives in the bundle's manifest.
"""

from ..plugin import register
from .build import attach_timing_cache, build_engine, installed_major, require_trt
from .build10 import EntropyCalibrator, keep_layers_fp32, layer_matches
from .build11 import write_fp16_onnx
from .bundle import build_tensorrt, prepare_tensorrt
from .cuda import Device, check, cudart_module, gpu_info
from .plugin import TensorRTPlugin, tap_engine
from .settings import (
    CALIB_CACHE,
    ENGINE,
    FP16_ONNX,
    INPUT,
    PATHS,
    QDQ_ONNX,
    TrtBuildSettings,
    check_engine_compat,
    hotspot_layer_types,
    major_of,
    settings_from_dict,
    settings_from_profile,
    source_onnx,
    timing_cache_name,
)
from .trtexec import trtexec_command

__all__ = [
    "CALIB_CACHE", "ENGINE", "FP16_ONNX", "INPUT",
    "PATHS", "QDQ_ONNX", "Device", "EntropyCalibrator", "TrtBuildSettings", "attach_timing_cache",
    "build_engine", "check", "check_engine_compat", "cudart_module", "gpu_info", "hotspot_layer_types",
    "installed_major", "keep_layers_fp32", "layer_matches", "major_of", "require_trt",
    "settings_from_dict", "settings_from_profile", "source_onnx", "timing_cache_name",
    "trtexec_command", "write_fp16_onnx", "PLUGIN", "TensorRTPlugin", "tap_engine",
    "build_tensorrt", "prepare_tensorrt",
]

PLUGIN = register(TensorRTPlugin())
