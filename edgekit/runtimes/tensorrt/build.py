"""Build a serialized engine with the installed TensorRT: parse, mark taps, set the
optimization profile, the timing cache and TF32, then hand precision to the major's path
(:mod:`.build10` weakly typed, :mod:`.build11` strongly typed)."""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..._lazy import require
from ...errors import BackendError, IntegrityError, UsageError
from . import build10, build11
from .cuda import gpu_info
from .settings import TrtBuildSettings, major_of

log = logging.getLogger(__name__)


def require_trt() -> Any:
    return require("tensorrt", extra="tensorrt", purpose="TensorRT engines")


def installed_major() -> int:
    return major_of(require_trt().__version__)


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _mark_outputs(network: Any, names: tuple[str, ...]) -> None:
    by_name = {}
    for li in range(network.num_layers):
        layer = network.get_layer(li)
        for oi in range(layer.num_outputs):
            t = layer.get_output(oi)
            by_name[t.name] = t
    for name in names:
        if name not in by_name:
            raise BackendError(f"tap tensor {name} not found in the TensorRT network")
        network.mark_output(by_name[name])


def attach_timing_cache(config: Any, path: Path | None, notes: list[str]) -> Any:
    """Load the cache at ``path`` if this TensorRT accepts it, else start a fresh one.

    A cache from another TensorRT version or GPU is refused by ``set_timing_cache`` (it
    returns False, and ``get_timing_cache`` would then be None): say so and start afresh."""
    blob = path.read_bytes() if path is not None and path.is_file() else b""
    cache = config.create_timing_cache(blob) if blob else None
    if cache is not None and config.set_timing_cache(cache, ignore_mismatch=False):
        return cache
    if blob and path is not None:
        notes.append(f"timing cache {path.name} refused (another TensorRT version or GPU); "
                     "started a fresh one")
    cache = config.create_timing_cache(b"")
    if cache is None or not config.set_timing_cache(cache, ignore_mismatch=False):
        notes.append("TensorRT refused a fresh timing cache; building without one")
        return None
    return cache


def build_engine(onnx_path: Path, engine_path: Path, settings: TrtBuildSettings, *,
                 calibration: np.ndarray | None = None, calib_cache: Path | None = None,
                 calib_readonly: bool = False, timing_cache_path: Path | None = None) -> dict[str, Any]:
    """Parse the ONNX, configure and build a serialized engine (raw plan, no header)."""
    trt = require_trt()
    major = major_of(trt.__version__)
    if major != settings.trt_major:
        raise IntegrityError(f"these build settings are for TensorRT {settings.trt_major}, "
                             f"this is TensorRT {trt.__version__}: rebuild the bundle's "
                             "TensorRT files here with `edgekit export BUNDLE_DIR --profile ...`")
    if major < 10:
        raise UsageError(f"TensorRT {trt.__version__} is too old: edgekit needs 10 or later")
    notes: list[str] = []
    logger = trt.Logger(trt.Logger.WARNING)
    with contextlib.ExitStack() as stack:
        builder = trt.Builder(logger)
        flags = build11.network_flags(trt) if settings.strongly_typed else 0
        network = builder.create_network(flags)
        parser = trt.OnnxParser(network, logger)
        if not parser.parse_from_file(str(onnx_path)):
            errs = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
            raise BackendError(f"TensorRT could not parse {onnx_path.name}: {errs}")
        if settings.mark_outputs:
            _mark_outputs(network, settings.mark_outputs)
        config = builder.create_builder_config()
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, settings.workspace_bytes)
        config.builder_optimization_level = settings.optimization_level
        if hasattr(trt.BuilderFlag, "TF32"):
            config.clear_flag(trt.BuilderFlag.TF32)  # on by default: fp32 would mean TF32
        if settings.strongly_typed:
            pinned = build11.configure(trt, network, config, settings)
        else:
            pinned = build10.configure(trt, network, config, settings, calibration=calibration,
                                       calib_cache=calib_cache, calib_readonly=calib_readonly,
                                       stack=stack)
        inp = network.get_input(0)
        static = [d for d in tuple(inp.shape)[:1] if d > 0]
        if static and not (settings.batch_min == settings.batch_max == static[0]):
            raise UsageError(f"the ONNX has a static batch of {static[0]}; the profile asks for "
                             f"{settings.batch_min}..{settings.batch_max}")
        profile = builder.create_optimization_profile()
        profile.set_shape(inp.name, settings.shape(settings.batch_min),
                          settings.shape(settings.batch_opt), settings.shape(settings.batch_max))
        config.add_optimization_profile(profile)
        if not settings.strongly_typed:
            build10.after_profile(trt, config, profile, settings)
        cache = None
        if settings.timing_cache and timing_cache_path is not None:
            cache = attach_timing_cache(config, timing_cache_path, notes)
        plan = builder.build_serialized_network(network, config)
        if plan is None:
            raise BackendError("TensorRT failed to build the engine (see its log above)")
        _write_atomic(engine_path, bytes(plan))  # raw plan: no header
        if cache is not None and timing_cache_path is not None:
            used = config.get_timing_cache()
            if used is not None:
                _write_atomic(timing_cache_path, bytes(used.serialize()))
    for n in notes:
        log.warning(f"tensorrt: {n}")
    return {**gpu_info(), "fp32_pinned_layers": pinned["layers"],
            "fp32_skipped_layers": pinned["skipped_layers"],
            "fp32_unmatched_nodes": pinned["unmatched_nodes"][:20],
            **({"build_notes": notes} if notes else {})}
