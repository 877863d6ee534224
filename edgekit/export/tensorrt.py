"""TensorRT engine building (TensorRT 10+ Python API), imported lazily.

Pure parts, unit-tested without the library: profile -> :class:`TrtBuildSettings`, the
equivalent ``trtexec`` command line, and the engine compatibility check. The build itself
needs ``tensorrt`` and a GPU; engines are raw plans with no header, so trtexec and
DeepStream can load them, and their metadata lives in the bundle's manifest.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._lazy import require
from ..errors import BackendError, ConfigError, IntegrityError, MissingBackendError

INPUT = "images"


@dataclass(frozen=True)
class TrtBuildSettings:
    precision: str  # fp32 | fp16 | int8
    workspace_bytes: int
    imgsz: int
    batch_min: int
    batch_opt: int
    batch_max: int
    dynamic: bool
    optimization_level: int
    timing_cache: bool
    #: tensor names to mark as extra outputs (parity engines only)
    mark_outputs: tuple[str, ...] = ()
    #: ONNX node names whose TensorRT layers are pinned to fp32 (fp16 and int8 builds)
    fp32_layers: tuple[str, ...] = ()
    #: TensorRT layer types pinned to fp32 (``trt.LayerType`` member names)
    fp32_layer_types: tuple[str, ...] = ()
    #: INT8: "qdq" (explicit quantization from a Q/DQ ONNX) or "calibrator" (implicit)
    int8_mode: str = "qdq"

    def shape(self, batch: int) -> tuple[int, int, int, int]:
        return (batch, 3, self.imgsz, self.imgsz)


#: float-scope items that are precision hotspots, and the TensorRT layer types behind them
HOTSPOT_LAYER_TYPES = {
    "softmax": ("SOFTMAX",),
    "layernorm": ("NORMALIZATION",),
    "gridsample": ("GRID_SAMPLE",),
    "topk": ("TOPK",),
    "score_sigmoid": (),  # pinned by node name: only the final score Sigmoid, not every SiLU
}


def hotspot_items(profile: Any) -> list[str]:
    """The profile's float-scope items that TensorRT keeps in fp32 (the rest of the float
    scope, e.g. whole attention sites in an INT8 build, is left out of INT8 and runs in the
    engine's float precision)."""
    return [i for i in profile.calibration.float_scope if i in HOTSPOT_LAYER_TYPES]


def settings_from_profile(profile: Any, *, mark_outputs: list[str] | None = None,
                          fp32_layers: list[str] | None = None) -> TrtBuildSettings:
    b = profile.batch
    if b.dynamic:
        bmin, bopt, bmax = b.min, (b.opt or b.size), b.max
    else:
        bmin = bopt = bmax = b.size
    return TrtBuildSettings(
        precision=profile.precision.value,
        workspace_bytes=int(profile.runtime.trt_workspace_gb * (1 << 30)),
        imgsz=profile.imgsz,
        batch_min=bmin, batch_opt=bopt, batch_max=bmax,
        dynamic=b.dynamic,
        optimization_level=profile.runtime.trt_builder_optimization_level,
        timing_cache=profile.runtime.trt_timing_cache,
        mark_outputs=tuple(mark_outputs or ()),
        fp32_layers=tuple(fp32_layers or ()),
        fp32_layer_types=tuple(t for i in hotspot_items(profile) for t in HOTSPOT_LAYER_TYPES[i]),
        int8_mode=profile.runtime.trt_int8,
    )


QDQ_ONNX = "tensorrt/model.qdq.onnx"


def source_onnx(settings: TrtBuildSettings) -> str:
    """The ONNX an engine is built from, relative to the bundle."""
    return QDQ_ONNX if settings.precision == "int8" and settings.int8_mode == "qdq" \
        else "model.onnx"


def _shape_arg(s: tuple[int, ...]) -> str:
    return f"{INPUT}:" + "x".join(str(d) for d in s)


def trtexec_command(settings: TrtBuildSettings, onnx: str | None = None,
                    engine: str = "tensorrt/model.engine",
                    timing_cache: str = "tensorrt/timing.cache") -> str:
    """The trtexec line that builds the same engine (for users who prefer trtexec).

    trtexec pins precision by layer name only, so the fp32 layers are the hotspot nodes by
    name (the Python build also pins by layer type)."""
    onnx = onnx or source_onnx(settings)
    args = ["trtexec", f"--onnx={onnx}", f"--saveEngine={engine}",
            f"--memPoolSize=workspace:{settings.workspace_bytes // (1 << 20)}M",
            f"--builderOptimizationLevel={settings.optimization_level}"]
    if settings.precision == "fp16":
        args.append("--fp16")
    elif settings.precision == "int8":
        args += ["--int8", "--fp16"]
    if settings.precision != "fp32" and settings.fp32_layers:
        spec = ",".join(f"{n}:fp32" for n in settings.fp32_layers)
        args += ["--precisionConstraints=obey", f"--layerPrecisions={spec}",
                 f"--layerOutputTypes={spec}"]
    if settings.dynamic:
        args += [f"--minShapes={_shape_arg(settings.shape(settings.batch_min))}",
                 f"--optShapes={_shape_arg(settings.shape(settings.batch_opt))}",
                 f"--maxShapes={_shape_arg(settings.shape(settings.batch_max))}"]
    if settings.timing_cache:
        args.append(f"--timingCacheFile={timing_cache}")
    return " ".join(shlex.quote(a) for a in args)


def check_engine_compat(recorded: dict[str, Any], running: dict[str, Any]) -> None:
    """Engines are tied to one TensorRT version and GPU: refuse a mismatch plainly."""
    want_v, have_v = recorded.get("tensorrt"), running.get("tensorrt")
    want_cc, have_cc = recorded.get("compute_capability"), running.get("compute_capability")
    problems = []
    if want_v and have_v and str(want_v) != str(have_v):
        problems.append(f"built with TensorRT {want_v}, running {have_v}")
    if want_cc and have_cc and str(want_cc) != str(have_cc):
        problems.append(f"built for compute capability {want_cc}, this GPU is {have_cc}")
    if problems:
        raise IntegrityError("the TensorRT engine does not match this machine ("
                             + "; ".join(problems) + "): rebuild it here with "
                             "`edgekit export BUNDLE_DIR --profile PROFILE`")


def gpu_info() -> dict[str, Any]:
    """TensorRT version, GPU name and compute capability; JetPack where readable."""
    info: dict[str, Any] = {}
    try:
        import tensorrt as trt  # type: ignore[import-not-found]

        info["tensorrt"] = trt.__version__
    except ImportError:
        pass
    cudart = _cudart()
    if cudart is not None:
        err, prop = cudart.cudaGetDeviceProperties(0)
        if int(err) == 0:
            name = prop.name
            info["gpu"] = name.decode(errors="replace").strip("\x00") if isinstance(name, bytes) else str(name)
            info["compute_capability"] = f"{prop.major}.{prop.minor}"
    jp = jetpack_version()
    if jp:
        info["jetpack"] = jp
    return info


def jetpack_version() -> str | None:
    p = Path("/etc/nv_tegra_release")
    if p.is_file():
        first = p.read_text(errors="replace").splitlines()[0] if p.stat().st_size else ""
        return "L4T " + first.replace("#", "").strip()
    return None


def _cudart() -> Any:
    try:
        from cuda.bindings import runtime as cudart  # type: ignore[import-not-found]

        return cudart
    except ImportError:
        try:
            from cuda import cudart  # type: ignore[import-not-found]

            return cudart
        except ImportError:
            return None


def _require_trt() -> Any:
    return require("tensorrt", extra="tensorrt", purpose="TensorRT engines")


def make_calibrator(trt: Any, batches: np.ndarray, cache_path: Path) -> Any:
    """An entropy calibrator fed by preprocessed images (N, 3, H, W float32)."""
    cudart = _cudart()
    if cudart is None:
        raise MissingBackendError("INT8 calibration needs cuda-python.", extra="tensorrt")

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            self.data = np.ascontiguousarray(batches, dtype=np.float32)
            self.i = 0
            err, self.dptr = cudart.cudaMalloc(self.data[0:1].nbytes)

        def get_batch_size(self) -> int:
            return 1

        def get_batch(self, names):  # noqa: ARG002
            if self.i >= len(self.data):
                return None
            x = self.data[self.i : self.i + 1]
            cudart.cudaMemcpy(self.dptr, x.ctypes.data, x.nbytes,
                              cudart.cudaMemcpyKind.cudaMemcpyHostToDevice)
            self.i += 1
            return [int(self.dptr)]

        def read_calibration_cache(self):
            return cache_path.read_bytes() if cache_path.is_file() else None

        def write_calibration_cache(self, cache) -> None:
            cache_path.write_bytes(bytes(cache))

    return EntropyCalibrator()


def build_engine(onnx_path: Path, engine_path: Path, settings: TrtBuildSettings, *,
                 calibration: np.ndarray | None = None, timing_cache_path: Path | None = None,
                 log: Any = None) -> dict[str, Any]:
    """Parse the ONNX, configure and build a serialized engine (raw plan, no header)."""
    trt = _require_trt()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # explicit batch is the only mode in TensorRT 10
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errs = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise BackendError(f"TensorRT could not parse {onnx_path}: {errs}")
    if settings.mark_outputs:
        by_name = {}
        for li in range(network.num_layers):
            layer = network.get_layer(li)
            for oi in range(layer.num_outputs):
                t = layer.get_output(oi)
                by_name[t.name] = t
        for name in settings.mark_outputs:
            if name not in by_name:
                raise BackendError(f"TensorRT's network has no tensor {name} (an attention "
                                   "tap) to mark as an output for parity")
            network.mark_output(by_name[name])
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, settings.workspace_bytes)
    config.builder_optimization_level = settings.optimization_level
    if settings.precision in ("fp16", "int8"):
        config.set_flag(trt.BuilderFlag.FP16)
    implicit_int8 = settings.precision == "int8" and settings.int8_mode == "calibrator"
    if settings.precision == "int8":
        config.set_flag(trt.BuilderFlag.INT8)  # with Q/DQ in the ONNX: explicit quantization
        if implicit_int8:
            if calibration is None:
                raise ConfigError("runtime.trt_int8: calibrator needs calibration images "
                                  "(calibration.images)")
            config.int8_calibrator = make_calibrator(trt, calibration,
                                                     engine_path.with_suffix(".calib"))
    pinned: dict[str, Any] = {"layers": 0, "unmatched_nodes": []}
    if settings.precision != "fp32" and (settings.fp32_layer_types or settings.fp32_layers):
        pinned = keep_layers_fp32(trt, network, settings)
        if pinned["layers"]:
            config.set_flag(trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
    inp = network.get_input(0)
    profile = builder.create_optimization_profile()
    profile.set_shape(inp.name, settings.shape(settings.batch_min),
                      settings.shape(settings.batch_opt), settings.shape(settings.batch_max))
    config.add_optimization_profile(profile)
    if implicit_int8:
        config.set_calibration_profile(profile)
    cache = None
    if settings.timing_cache and timing_cache_path is not None:
        blob = timing_cache_path.read_bytes() if timing_cache_path.is_file() else b""
        cache = config.create_timing_cache(blob)
        config.set_timing_cache(cache, ignore_mismatch=False)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise BackendError("TensorRT failed to build the engine (rerun with --verbose to see "
                           "TensorRT's log)")
    engine_path.parent.mkdir(parents=True, exist_ok=True)
    engine_path.write_bytes(bytes(plan))  # raw plan: no header
    if cache is not None and timing_cache_path is not None:
        timing_cache_path.write_bytes(bytes(config.get_timing_cache().serialize()))
    return {**gpu_info(), "fp32_pinned_layers": pinned["layers"],
            "fp32_unmatched_nodes": pinned["unmatched_nodes"][:20]}


def layer_matches(layer_name: str, node_names: frozenset[str] | set[str]) -> str | None:
    """The ONNX node a TensorRT layer comes from, if it is one of ``node_names``.

    The ONNX parser names a layer after its node; a node that becomes several layers gives
    the extra ones the node name plus a suffix, so a prefix match at a separator counts."""
    name = layer_name
    while name:
        if name in node_names:
            return name
        cut = max(name.rfind(c) for c in "_ :[.")
        if cut <= 0:
            return None
        name = name[:cut]
    return None


def keep_layers_fp32(trt: Any, network: Any, settings: TrtBuildSettings) -> dict[str, Any]:
    """Pin precision hotspots to fp32: layers of the hotspot types (softmax, normalisation,
    GridSample, TopK) and layers built from the named ONNX nodes (the final score Sigmoid,
    and any per-site scope). Returns how many layers were pinned and which named nodes
    matched no layer, so a build can say plainly what the constraint covered."""
    types = {getattr(trt.LayerType, t) for t in settings.fp32_layer_types
             if hasattr(trt.LayerType, t)}
    names = frozenset(settings.fp32_layers)
    seen: set[str] = set()
    n = 0
    for li in range(network.num_layers):
        layer = network.get_layer(li)
        node = layer_matches(layer.name or "", names) if names else None
        if node is not None:
            seen.add(node)
        if layer.type in types or node is not None:
            layer.precision = trt.float32
            for oi in range(layer.num_outputs):
                if layer.get_output(oi).dtype in (trt.float32, trt.float16):
                    layer.set_output_type(oi, trt.float32)
            n += 1
    return {"layers": n, "unmatched_nodes": sorted(names - seen)}
